"""The SIP-aware health check that every SIP agent shares: its parameters
(a ``Config`` base to inherit) and the check itself.  The parameters are
checked where they are read (``param(check=...)``), so a URI the probe
cannot use fails every action alike, validate-all and monitor included."""

from __future__ import annotations

from ocf_agents.framework.ocf import (
    Config,
    Context,
    Duration,
    GenericError,
    param,
)

TYPE_CHECKING = False  # typing itself would cost the monitor 2 ms (it imports re)
if TYPE_CHECKING:
    from collections.abc import Callable

    from ocf_agents.clients.sip_options import Answer

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "6xx")


def _check_uris(uris: tuple[str, ...]) -> None:
    """ValueError naming the first URI the probe could not use."""
    from ocf_agents.clients.sip_options import parse_uri

    for uri in uris:
        parse_uri(uri)


def _check_accept(patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        if pattern not in STATUS_CLASSES and not (pattern.isdigit() and 100 <= int(pattern) <= 699):
            raise ValueError(f"{pattern!r} is not a status code or class like 2xx")


class SipCheckConfig(Config):
    sip_uris: tuple[str, ...] = param(
        ("sip:127.0.0.1",), shortdesc="SIP URIs to probe",
        longdesc="Space-separated URIs that each must answer SIP OPTIONS, one per "
                 "transport and address to watch, e.g. 'sip:192.0.2.1;transport=udp "
                 "sip:192.0.2.1;transport=tcp sips:192.0.2.1'. Unset or empty means the "
                 "default, as for every parameter; a value of spaces alone turns the "
                 "SIP check off. A URI that is not sip: or sips:, has no host, a "
                 "port outside 1-65535 or a transport other than udp, tcp or tls is "
                 "a configuration error (exit code 6) in every action but stop.",
        check=_check_uris)
    sip_accept: tuple[str, ...] = param(
        ("2xx", "3xx", "4xx"), shortdesc="Healthy SIP answers",
        longdesc="Status codes or classes (200, 4xx, ...) that count as a healthy "
                 "answer. 4xx is accepted by default because a server that answers "
                 "401 or 404 to OPTIONS has a working SIP stack; 5xx (overload, "
                 "shutdown) is not.",
        check=_check_accept)
    sip_timeout: Duration = param(
        Duration(2), shortdesc="SIP answer deadline",
        longdesc="Each OPTIONS request must be answered within this time (UDP "
                 "requests are retransmitted inside it).")
    sip_tls_verify: bool = param(
        False, shortdesc="Verify TLS certificates",
        longdesc="Check the server certificate on sips:/TLS probes; off by default "
                 "because the probe asks whether SIP answers, not whom to trust.")


def accepts(patterns: tuple[str, ...], status: int) -> bool:
    return any(p == str(status) or (p.endswith("xx") and p[0] == str(status)[0])
               for p in patterns)


def check_sip(cfg: SipCheckConfig, ctx: Context,
              during: Callable[[], object] | None = None) -> list[Answer]:
    """Every URI answers OPTIONS in time with an accepted status (their
    answers), or GenericError for the first that does not.  The URIs are
    asked at once; DURING (an agent's other check) runs meanwhile, and what
    it raises comes first."""
    from ocf_agents.clients.sip_options import SipError, probe_all

    limit = min(cfg.sip_timeout, ctx.remaining())
    results = probe_all(cfg.sip_uris, limit, tls_verify=cfg.sip_tls_verify, during=during)
    answers = []
    for uri, answer in zip(cfg.sip_uris, results, strict=True):
        if isinstance(answer, SipError):
            raise GenericError(f"SIP OPTIONS {uri}: {answer}")
        if not accepts(cfg.sip_accept, answer.status):
            raise GenericError(f"SIP OPTIONS {uri} answered {answer.status} {answer.reason}")
        answers.append(answer)
    return answers
