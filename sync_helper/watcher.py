"""inotify through ``watchdog``: file events in the watched folders go to the
debouncer as paths. ``watchdog`` is imported here only, when watching starts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sync_helper.debounce import Debouncer
from sync_helper.paths import Filters

# opening or reading a file changes nothing worth sending
_IGNORED = frozenset({"opened", "closed_no_write"})


def event_paths(event: Any) -> list[str]:
    """The paths an event concerns (both ends of a move), or none."""
    kind = getattr(event, "event_type", "")
    if kind in _IGNORED:
        return []
    if kind == "modified" and getattr(event, "is_directory", False):
        return []  # a folder "modified" is its entries changing: they have their own events
    paths = [event.src_path]
    if kind == "moved" and getattr(event, "dest_path", ""):
        paths.append(event.dest_path)
    return [p.decode("utf-8", "surrogateescape") if isinstance(p, bytes) else str(p)
            for p in paths]


class FolderWatcher:
    """Recursive watches on each folder; start/stop from the service thread."""

    def __init__(self, folders: Iterable[Path], filters: Filters,
                 debouncer: Debouncer) -> None:
        self.folders = tuple(folders)
        self.filters = filters
        self.debouncer = debouncer
        self._observer: Any = None

    def start(self) -> None:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                watcher.handle(event)

        observer = Observer()
        for folder in self.folders:
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer

    def handle(self, event: Any) -> None:
        wanted = []
        for path in event_paths(event):
            for folder in self.folders:
                if path != str(folder) and path.startswith(f"{folder}/"):
                    relative = path[len(str(folder)) + 1:]
                    if self.filters.wanted(relative) or self.filters.wanted_folder(relative):
                        wanted.append(path)
        if wanted:
            self.debouncer.add(wanted)

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None
