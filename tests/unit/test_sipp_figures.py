"""SIPp's files read back by tests/support/sipp_load (samples from SIPp 3.6.1)."""

from __future__ import annotations

import pytest

from tests.support.sipp_load import answered_calls

HEADER = ("CurrentTime;ElapsedTime;0_INVITE_Sent;0_INVITE_Retrans;0_INVITE_Timeout;"
          "1_100_Recv;1_100_Retrans;1_100_Timeout;1_100_Unexp;2_180_Recv;2_180_Retrans;"
          "2_180_Timeout;2_180_Unexp;3_183_Recv;3_183_Retrans;3_183_Timeout;3_183_Unexp;"
          "4_200_Recv;4_200_Retrans;4_200_Timeout;4_200_Unexp;5_ACK_Sent;5_ACK_Retrans;"
          "6_BYE_Recv;6_BYE_Retrans;6_BYE_Timeout;6_BYE_Unexp;7_200_Sent;7_200_Retrans;")


def line(sent: int, answered: int, byes: int) -> str:
    return ("2026-11-30\t12:58:40.096526\t1796043520.096526;00:00:00:609000;"
            f"{sent};1;0;0;0;0;0;0;0;0;0;0;0;0;0;{answered};0;0;0;{answered};0;"
            f"{byes};0;0;0;{byes};0;")


def test_the_answered_calls_are_the_invites_200s_in_the_last_dump():
    text = "\n".join([HEADER, line(0, 0, 0), line(40, 38, 35), line(40, 39, 36), ""])
    assert answered_calls(text) == 39     # not the BYE's 200 (sent, index 7)


def test_no_dump_is_an_error():
    with pytest.raises(ValueError, match="no message counts"):
        answered_calls(HEADER + "\n")
