from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest

from sync_helper import rsync_argv
from sync_helper.config import config_from_mapping
from sync_helper.paths import Entry

CONFIG = config_from_mapping({
    "folders": ["/etc/asterisk"], "timeout": 60,
    "ssh": {"identity_file": "/etc/sip-ha/key", "known_hosts_file": "/etc/sip-ha/known"},
    "peers": [{"name": "b", "host": "198.51.100.12", "port": 2222, "root": "/srv/b",
               "backup_dir": "/var/backups/sip-ha"}]})
PEER = CONFIG.peer("b")
SSH = ("/usr/bin/ssh -o BatchMode=yes -o ConnectTimeout=10 -o StrictHostKeyChecking=yes "
       "-o IdentitiesOnly=yes -i /etc/sip-ha/key -o UserKnownHostsFile=/etc/sip-ha/known -p 2222 "
       # one shared connection per peer (sync_helper.multiplex)
       "-o ControlMaster=auto -o ControlPath=/run/sip-ha/ssh/b4915d0745947ed6 "
       "-o ControlPersist=120 -o ServerAliveInterval=3 -o ServerAliveCountMax=3")
COMMON = ["/usr/bin/rsync", "--archive", "--relative", "--from0", "--8-bit-output",
          "--timeout=60", "-e", SSH]


def test_push_keeps_what_it_replaces_and_never_deletes_outright() -> None:
    transfer = rsync_argv.Transfer(Path("/etc/asterisk"), Path("/tmp/list"),
                                   Path("/var/backups/sip-ha/T/etc/asterisk"),
                                   stage=Path("/var/lib/sip-ha/sync/.sync-x/send-stage"))
    assert rsync_argv.push_argv(CONFIG, PEER, transfer) == [
        *COMMON, "--mkpath", "--files-from=/tmp/list", "--backup",
        "--backup-dir=/var/backups/sip-ha/T/etc/asterisk", "--suffix=", "--out-format=%i|%n",
        "--ignore-missing-args", "--checksum", "/var/lib/sip-ha/sync/.sync-x/send-stage/",
        "root@198.51.100.12:/srv/b/etc/asterisk/"]
    removal = rsync_argv.Transfer(transfer.folder, transfer.files_from, transfer.backup_dir,
                                  delete=True, stage=transfer.stage)
    argv = rsync_argv.push_argv(CONFIG, PEER, removal)
    assert "--delete-missing-args" in argv and "--backup" in argv
    assert "--delete" not in argv and "--ignore-missing-args" not in argv


def test_a_push_as_another_user_than_root_leaves_modes_and_folder_times_alone() -> None:
    """That user cannot change them on what another user owns there; a pull
    writes here, as root, and keeps them."""
    asterisk = dataclasses.replace(PEER, user="asterisk")
    transfer = rsync_argv.Transfer(Path("/etc/asterisk"), Path("/tmp/l"), Path("/bk"),
                                   stage=Path("/stage"))
    assert rsync_argv.push_argv(CONFIG, asterisk, transfer)[-4:] == [
        "--no-perms", "--omit-dir-times", "/stage/", "asterisk@198.51.100.12:/srv/b/etc/asterisk/"]
    assert "--no-perms" not in rsync_argv.push_argv(CONFIG, PEER, transfer)
    assert "--no-perms" not in rsync_argv.pull_argv(CONFIG, asterisk, transfer)


def test_a_push_never_reads_the_watched_folder_itself() -> None:
    transfer = rsync_argv.Transfer(Path("/etc/asterisk"), Path("/tmp/list"), Path("/bk"))
    with pytest.raises(ValueError, match="stage"):
        rsync_argv.push_argv(CONFIG, PEER, transfer)


def test_pull_swaps_source_and_destination() -> None:
    transfer = rsync_argv.Transfer(Path("/etc/asterisk"), Path("/tmp/l"), Path("/bk"))
    assert rsync_argv.pull_argv(CONFIG, PEER, transfer)[-2:] == [
        "root@198.51.100.12:/srv/b/etc/asterisk/", "/etc/asterisk/"]


def test_listing_is_a_dry_run_into_an_empty_folder() -> None:
    argv = rsync_argv.listing_argv(CONFIG, PEER, Path("/etc/asterisk"), None, Path("/tmp/e"))
    assert argv == [*COMMON, "--dry-run", "--recursive", "--ignore-missing-args",
                    "--out-format=%i|%M|%l|%n", "root@198.51.100.12:/srv/b/etc/asterisk/./",
                    "/tmp/e/"]


def test_parse_listing() -> None:
    listing = rsync_argv.parse_listing(
        "cd+++++++++|2026/01/02-03:04:05|4096|./\n"
        ">f+++++++++|2026/01/02-03:04:05|12|sip.conf\n"
        "cd+++++++++|2026/01/02-03:04:05|4096|sub/\n"
        ">f+++++++++|2026/01/02-03:04:06|3|sub/a | b\\#012c.conf\n"
        "cL+++++++++|2026/01/02-03:04:05|11|link\n"
        "garbage\n")
    assert listing == {"sip.conf": Entry("f", 1767323045, 12), "sub": Entry("d", 1767323045, 0),
                       "sub/a | b\nc.conf": Entry("f", 1767323046, 3),
                       "link": Entry("l", 1767323045, 11)}


def test_parse_changes() -> None:
    changes = rsync_argv.parse_changes(
        "cd+++++++++|sub/\n<f+++++++++|sub/new.conf\n<f.st......|sip.conf\n"
        "*deleting  |old.conf\n.d..t......|./\n")
    assert changes.created == ("sub/new.conf",)
    assert changes.replaced == ("sip.conf",)
    assert changes.removed == ("old.conf",)


def test_backup_folder_is_dated_and_mirrors_the_path() -> None:
    stamp = rsync_argv.backup_stamp(1767323045.25)
    assert stamp == "20260102T030405.250000Z"
    assert str(rsync_argv.backup_dir(Path("/var/backups/sip-ha"), stamp,
                                     Path("/etc/asterisk"))) == \
        "/var/backups/sip-ha/20260102T030405.250000Z/etc/asterisk"


def test_names_that_are_not_utf8_keep_their_bytes(tmp_path: Path) -> None:
    """From rsync's output (through the runner) to the file list and back."""
    from sipha_runtime.run import Runner
    from sync_helper.report import printable

    printed = Runner(time.monotonic() + 10).run(
        ["/usr/bin/printf", r">f+++++++++|2026/01/02-03:04:05|4|accueil-\377.wav\n"
                            r">f+++++++++|2026/01/02-03:04:05|2|a\\#012\303\251\n"]).stdout
    latin1, control = os.fsdecode(b"accueil-\xff.wav"), "a\n\u00e9"
    assert set(rsync_argv.parse_listing(printed)) == {latin1, control}
    rsync_argv.write_file_list(tmp_path / "list", [latin1, control])
    assert (tmp_path / "list").read_bytes() == b"accueil-\xff.wav\0a\n\xc3\xa9\0"
    assert printable(latin1) == "accueil-\\xff.wav"  # what a person and syslog see
