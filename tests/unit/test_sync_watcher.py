from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sync_helper.debounce import Debouncer
from sync_helper.paths import Filters
from sync_helper.watcher import FolderWatcher, event_paths


@dataclass
class Event:
    event_type: str
    src_path: str
    dest_path: str = ""
    is_directory: bool = False


def test_event_paths() -> None:
    assert event_paths(Event("modified", "/a/x")) == ["/a/x"]
    assert event_paths(Event("moved", "/a/.x.tmp", "/a/x")) == ["/a/.x.tmp", "/a/x"]
    assert event_paths(Event("opened", "/a/x")) == []
    assert event_paths(Event("closed_no_write", "/a/x")) == []
    assert event_paths(Event("modified", "/a", is_directory=True)) == []
    assert event_paths(Event("deleted", "/a/d", is_directory=True)) == ["/a/d"]


def test_the_watcher_passes_wanted_paths_inside_the_folders() -> None:
    debouncer = Debouncer(quiet=0, max_delay=0)
    watcher = FolderWatcher((Path("/etc/asterisk"),), Filters(exclude=("*.swp",)), debouncer)
    watcher.handle(Event("modified", "/etc/asterisk/sip.conf"))
    watcher.handle(Event("modified", "/etc/asterisk/.sip.conf.swp"))
    watcher.handle(Event("modified", "/etc/asterisk-old/sip.conf"))
    watcher.handle(Event("modified", "/etc/asterisk"))
    assert debouncer.take() == {"/etc/asterisk/sip.conf"}
