"""The version of each file that this node and one peer last agreed on.

After a transfer both sides hold the same file (rsync keeps the time), so one
record per peer serves both directions. It is what tells "the peer changed
this file after our last sync" (a conflict) from "the peer still has what we
sent" (safe to replace, with a backup all the same).

A watcher and an operator's push may sync with the same peer at once. Each
update re-reads the record under a lock and changes only the names its sync
decided, so neither loses what the other recorded (sync_helper.filelock).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sync_helper.filelock import locked
from sync_helper.paths import Entry


class Ledger:
    def __init__(self, state_dir: Path, peer: str) -> None:
        self.path = state_dir / f"ledger-{peer}.json"
        self.lock_path = state_dir / f".ledger-{peer}.lock"
        self._records: dict[str, dict[str, Entry]] = {}
        self._load()

    def _load(self) -> None:
        self._records = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            # an unreadable ledger only makes us more careful: without a
            # record, a newer peer file is a conflict
            return
        for folder, files in data.get("folders", {}).items():
            self._records[folder] = {
                name: Entry(str(rec[0]), int(rec[1]), int(rec[2]))
                for name, rec in files.items() if isinstance(rec, list) and len(rec) == 3}

    def folder(self, folder: Path) -> dict[str, Entry]:
        """The records of one folder (a copy)."""
        return dict(self._records.get(str(folder), {}))

    def update(self, folder: Path, agreed: dict[str, Entry], forgotten: set[str]) -> None:
        with locked(self.lock_path):
            self._load()  # what another sync recorded since we read it
            records = self._records.setdefault(str(folder), {})
            records.update(agreed)
            for name in forgotten:
                records.pop(name, None)
            self._save()

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"folders": {folder: {name: [e.kind, e.mtime, e.size]
                                     for name, e in sorted(files.items())}
                            for folder, files in self._records.items()}}
        partial = self.path.with_name(f".{self.path.name}.new")
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(partial, self.path)
