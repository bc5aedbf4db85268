"""File sync: one changed file in a PBX-sized tree, sent by ``sip-ha-sync``
(event-driven, only the changed path) against what the replaced product did
every 60 s (``rsync -a --delete`` of the whole tree), both over ssh to the
same real sshd, interleaved.  Reported as ratios of one run, plus the time
from a write to the file on the peer with the watcher running."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sipha_runtime.log import Logger
from sipha_runtime.run import Runner
from sync_helper.config import load_config
from sync_helper.service import SyncService
from sync_helper.syncer import Syncer
from tests.support import sshd

CONFIG_FILES = 1500       # /etc/asterisk-like: many small files
SOUNDS = 300              # custom prompts, 64 KiB each


def _tree(root: Path) -> tuple[Path, Path]:
    etc, sounds = root / "etc" / "asterisk", root / "sounds" / "custom"
    for folder in (etc, sounds):
        folder.mkdir(parents=True)
    for i in range(CONFIG_FILES):
        (etc / f"ext_{i:04d}.conf").write_text(f"[ext-{i}]\nexten => {i},1,Dial(PJSIP/{i})\n")
    blob = bytes(range(256)) * 256
    for i in range(SOUNDS):
        (sounds / f"prompt_{i:03d}.wav").write_bytes(blob)
    return etc, sounds


def _config(work: Path, daemon: sshd.PrivateSshd, etc: Path, sounds: Path) -> Path:
    options = daemon.ssh_options()
    path = work / "sync.toml"
    path.write_text(f"""folders = ["{etc}", "{sounds}"]
role_file = "{work / 'role'}"
state_dir = "{work / 'state'}"
backup_dir = "{work / 'local-backups'}"
debounce = 0.2
max_delay = 2
[ssh]
identity_file = "{options['identity_file']}"
known_hosts_file = "{options['known_hosts_file']}"
[[peers]]
name = "peer"
host = "{daemon.address}"
port = {options['port']}
root = "{work / 'peer'}"
backup_dir = "{work / 'peer-backups'}"
""")
    (work / "role").write_text("active\n")
    return path


def _whole_tree_argv(daemon: sshd.PrivateSshd, work: Path, root: Path) -> list[str]:
    options = daemon.ssh_options()
    ssh = (f"ssh -p {options['port']} -i {options['identity_file']} -o BatchMode=yes "
           f"-o UserKnownHostsFile={options['known_hosts_file']}")
    return ["rsync", "-a", "--delete", "-e", ssh, f"{root}/",
            f"root@{daemon.address}:{work / 'cron-peer'}/"]


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def run(runs: int) -> dict[str, float]:
    why = sshd.available()
    if why:
        return {"skipped": 1.0}
    with tempfile.TemporaryDirectory(prefix="sipha-bench-sync-") as tmp:
        work = Path(tmp)
        daemon = sshd.PrivateSshd(work / "sshd")
        (work / "sshd").mkdir()
        daemon.up()
        try:
            return _measure(work, daemon, runs)
        finally:
            daemon.down()


def _measure(work: Path, daemon: sshd.PrivateSshd, runs: int) -> dict[str, float]:
    root = work / "pbx"
    etc, sounds = _tree(root)
    config = _config(work, daemon, etc, sounds)
    cli = [str(Path(sys.executable).with_name("sip-ha-sync")), "-c", str(config)]
    whole = _whole_tree_argv(daemon, work, root)
    _timed([*cli, "resync"])                 # both peers start complete
    _timed(whole)
    ours, cron = [], []
    changed = etc / "ext_0042.conf"
    for i in range(runs):
        changed.write_text(f"[ext-42]\nexten => 42,1,Dial(PJSIP/42)  ; edit {i}\n")
        ours.append(_timed([*cli, "push", str(changed)]))
        changed.write_text(f"[ext-42]\nexten => 42,1,Dial(PJSIP/42)  ; edit {i}b\n")
        cron.append(_timed(whole))
    visible = _write_to_peer_latency(work, config, etc, runs)
    return {"files": CONFIG_FILES + SOUNDS, "push_one_ms": statistics.median(ours) * 1000,
            "whole_tree_rsync_ms": statistics.median(cron) * 1000,
            "ratio": statistics.median(ours) / statistics.median(cron),
            "write_to_peer_ms": statistics.median(visible) * 1000}


def _write_to_peer_latency(work: Path, config_path: Path, etc: Path, runs: int) -> list[float]:
    config = load_config(config_path)
    log = Logger("sip-ha-sync", "bench", {})
    syncer = Syncer(config, lambda: Runner(time.monotonic() + 60, log), log,
                    lambda: "active")
    service = SyncService(config, syncer, log)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    service.ready.wait(30)
    times = []
    try:
        for i in range(runs):
            text = f"; written {i}\n"
            target = work / "peer" / str(etc / "new.conf").lstrip("/")
            started = time.perf_counter()
            (etc / "new.conf").write_text(text)
            while not (target.exists() and target.read_text() == text):
                if time.perf_counter() - started > 30:
                    raise RuntimeError("the file did not reach the peer within 30 s")
                time.sleep(0.01)
            times.append(time.perf_counter() - started)
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join(30)
    return times


def report(result: dict[str, float]) -> list[str]:
    if "skipped" in result:
        return ["file sync: skipped (needs root, sshd and rsync)"]
    return [f"file sync, one changed file in a tree of {int(result['files'])} files over ssh:",
            f"  sip-ha-sync push of the changed path  {result['push_one_ms']:7.1f} ms",
            f"  rsync -a --delete of the whole tree   {result['whole_tree_rsync_ms']:7.1f} ms "
            "(what the replaced product ran every 60 s)",
            f"  ratio ours/whole tree: {result['ratio']:.2f}",
            f"  write -> on the peer with the watcher running: "
            f"{result['write_to_peer_ms']:.0f} ms median (the replaced product: up to 60 s)"]
