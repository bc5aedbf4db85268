"""File sync at speed, against a real sshd in a network namespace (root).

1. From a write to the file on the peer, with the watcher running (its
   shipped debounce), many writes: p50, p95, max.
2. One changed file: ``sip-ha-sync push`` of that path (a new process, one
   ssh connection it opens and ends) and the watcher's push (in process, over
   the connection it keeps), against what the replaced product ran every
   60 s, ``rsync -a --delete`` of the whole tree over plain ssh; interleaved,
   at 1,800 files and at 100,000 files (one tree, built once: the 1,800 are
   its configuration and sounds, the rest voicemail).
3. The watcher's cost at idle over the 100,000 files: inotify watches, RSS,
   CPU seconds over ``IDLE_SECONDS``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sipha_runtime.log import Logger
from sipha_runtime.run import Runner
from sync_helper.config import SyncConfig, load_config
from sync_helper.service import SyncService
from sync_helper.syncer import Syncer
from tests.support import sshd

CONFIG_FILES = 1500       # /etc/asterisk-like: many small files
SOUNDS = 300              # custom prompts, 64 KiB each
MAILBOXES = 400           # voicemail: the rest of the 100,000 files
TOTAL = 100_000
WRITES = 60               # writes timed with the watcher running
CLI_CONTROL = "/run/sip-ha/ssh-bench"
IDLE_SECONDS = 30.0


def _tree(root: Path) -> tuple[Path, Path, Path]:
    etc, sounds, voicemail = (root / "etc" / "asterisk", root / "sounds" / "custom",
                              root / "voicemail")
    for folder in (etc, sounds, voicemail):
        folder.mkdir(parents=True)
    for i in range(CONFIG_FILES):
        (etc / f"ext_{i:04d}.conf").write_text(f"[ext-{i}]\nexten => {i},1,Dial(PJSIP/{i})\n")
    blob = bytes(range(256)) * 256
    for i in range(SOUNDS):
        (sounds / f"prompt_{i:03d}.wav").write_bytes(blob)
    rest = TOTAL - CONFIG_FILES - SOUNDS
    per_box = -(-rest // MAILBOXES)
    for i in range(rest):
        box = voicemail / f"{1000 + i // per_box}"
        if i % per_box == 0:
            box.mkdir()
        (box / f"msg{i % per_box:04d}.txt").write_text(f"callerid=<{i}>\nduration={i % 90}\n")
    return etc, sounds, voicemail


def _config(work: Path, daemon: sshd.PrivateSshd, name: str, folders: list[Path],
            state: str, control_dir: str = "/run/sip-ha/ssh") -> Path:
    """The shipped settings (debounce, shared connection), this lab's peer."""
    options = daemon.ssh_options()
    path = work / f"{name}.toml"
    path.write_text(f"""folders = [{", ".join(f'"{f}"' for f in folders)}]
role_file = "{work / 'role'}"
state_dir = "{work / state}"
backup_dir = "{work / 'local-backups'}"
[ssh]
identity_file = "{options['identity_file']}"
known_hosts_file = "{options['known_hosts_file']}"
control_dir = "{control_dir}"
[[peers]]
name = "peer"
host = "{daemon.address}"
port = {options['port']}
root = "{work / 'peer'}"
backup_dir = "{work / 'peer-backups'}"
""")
    return path


def _whole_tree_argv(daemon: sshd.PrivateSshd, work: Path, root: Path,
                     small: bool) -> list[str]:
    options = daemon.ssh_options()
    ssh = (f"ssh -p {options['port']} -i {options['identity_file']} -o BatchMode=yes "
           f"-o UserKnownHostsFile={options['known_hosts_file']}")
    only = ["--exclude=/voicemail"] if small else []
    return ["rsync", "-a", "--delete", *only, "-e", ssh, f"{root}/",
            f"root@{daemon.address}:{work / ('cron-small' if small else 'cron-all')}/"]


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=600)


def _syncer(config: SyncConfig, role: Callable[[], str]) -> Syncer:
    log = Logger("sip-ha-sync", "bench", {})
    return Syncer(config, lambda: Runner(time.monotonic() + 120, log), log, role)


def run(runs: int) -> dict[str, float]:
    why = sshd.available()
    if why:
        return {"skipped": 1.0}
    with tempfile.TemporaryDirectory(prefix="sipha-bench-sync-") as tmp:
        work = Path(tmp)
        daemon = sshd.PrivateSshd(work / "sshd")
        (work / "sshd").mkdir()
        made = _plain_root_home(daemon, work / "peer-home")
        try:
            daemon.up()
            return _measure(work, daemon, runs)
        finally:
            daemon.down()
            if made:
                with contextlib.suppress(OSError):
                    daemon.etc.parent.rmdir()


def _plain_root_home(daemon: sshd.PrivateSshd, home: Path) -> bool:
    """The peer's root gets an empty home, as a node's root has a plain
    ``.bashrc``: sshd runs every session through root's shell, and bash run
    by sshd reads ``~/.bashrc``; this host's (pyenv) costs 87 ms a session.
    ``ip netns exec`` mounts the namespace's ``passwd`` for the daemon alone;
    ``down`` removes it.  True when /etc/netns was made here."""
    home.mkdir()
    made = not daemon.etc.parent.exists()
    daemon.etc.mkdir(parents=True)
    lines = Path("/etc/passwd").read_text().splitlines()
    (daemon.etc / "passwd").write_text("".join(
        (f"root:x:0:0:root:{home}:/bin/bash" if line.startswith("root:") else line) + "\n"
        for line in lines))
    return made


def _measure(work: Path, daemon: sshd.PrivateSshd, runs: int) -> dict[str, float]:
    root = work / "pbx"
    started = time.monotonic()
    etc, sounds, voicemail = _tree(root)
    # the peers start complete, times kept: a push then has one file to send
    seed = work / "peer" / str(root).lstrip("/")
    seed.parent.mkdir(parents=True)
    _run(["rsync", "-a", f"{root}/", f"{seed}/"])
    for subset in (True, False):
        _run(_whole_tree_argv(daemon, work, root, subset))
    result: dict[str, float] = {"files_small": CONFIG_FILES + SOUNDS, "files_all": TOTAL,
                                "setup_s": time.monotonic() - started}
    (work / "role").write_text("active\n")
    small = _config(work, daemon, "small", [etc, sounds], "state-small")
    result.update(_write_to_peer(work, small, etc))
    whole = _config(work, daemon, "all", [etc, sounds, voicemail], "state-all")
    # the CLI's own connections, not the watcher's (which a push there would ride on)
    alone = _config(work, daemon, "cli-small", [etc, sounds], "state-small", CLI_CONTROL)
    alone_all = _config(work, daemon, "cli-all", [etc, sounds, voicemail], "state-all",
                        CLI_CONTROL)
    cases: tuple[tuple[str, Path, Path, bool], ...] = (("small", small, alone, True),
                                                        ("all", whole, alone_all, False))
    try:
        for label, config, cli, is_small in cases:
            result.update({f"{k}_{label}": v for k, v in _one_file(
                work, daemon, root, (config, cli), etc, is_small, runs).items()})
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(CLI_CONTROL)
    result["compare_all_s"] = _compare(whole)
    (work / "role").write_text("standby\n")
    result.update(_idle(whole, root))
    return result


def _one_file(work: Path, daemon: sshd.PrivateSshd, root: Path, configs: tuple[Path, Path],
              etc: Path, small: bool, runs: int) -> dict[str, float]:
    """Interleaved: the CLI's push, the watcher's push, the whole-tree rsync."""
    config_path, alone = configs
    cli = [str(Path(sys.executable).with_name("sip-ha-sync")), "-c", str(alone)]
    whole = _whole_tree_argv(daemon, work, root, small)
    changed = etc / "ext_0042.conf"
    watcher = _syncer(load_config(config_path), lambda: "active")
    watcher.push_paths([str(changed)])     # the ledger learns the file; the connection opens
    ours_cli: list[float] = []
    ours_watch: list[float] = []
    cron: list[float] = []
    edits = 0
    try:
        for _ in range(runs):
            for kind, times in (("c", ours_cli), ("w", ours_watch), ("r", cron)):
                edits += 1  # a new size each time: the same second and size read as unchanged
                changed.write_text(f"[ext-42]\nexten => 42,1,Dial(PJSIP/42)  ;{'#' * edits}\n")
                if kind == "c":
                    times.append(_timed(lambda: _run([*cli, "push", str(changed)])))
                elif kind == "w":
                    begun = time.perf_counter()
                    report = watcher.push_paths([str(changed)])
                    times.append(time.perf_counter() - begun)
                    if not report.peers[0].replaced:
                        raise RuntimeError(f"the watcher's push sent nothing: {report.text()}")
                else:
                    times.append(_timed(lambda: _run(whole)))
    finally:
        watcher.close()
    cli_s, watch_s, cron_s = (statistics.median(t) for t in (ours_cli, ours_watch, cron))
    return {"push_cli_ms": cli_s * 1000, "push_watch_ms": watch_s * 1000,
            "whole_ms": cron_s * 1000, "ratio_cli": cli_s / cron_s,
            "ratio_watch": watch_s / cron_s}


def _compare(config_path: Path) -> float:
    """One full comparison (what the active node runs every 60 s), nothing to send."""
    syncer = _syncer(load_config(config_path), lambda: "active")
    try:
        return _timed(lambda: syncer.resync("push", dry_run=True))
    finally:
        syncer.close()


def _write_to_peer(work: Path, config_path: Path, etc: Path) -> dict[str, float]:
    """From the write to its content on the peer, the watcher running."""
    config = load_config(config_path)
    log = Logger("sip-ha-sync", "bench", {})
    syncer = _syncer(config, lambda: "active")
    service = SyncService(config, syncer, log)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    service.ready.wait(30)
    written, target = etc / "new.conf", work / "peer" / str(etc / "new.conf").lstrip("/")
    times = []
    try:
        for i in range(-1, WRITES):  # the first arrives after the start's reconcile
            text = "; written\n" + "#" * (i + 2)   # a new size each time
            started = time.perf_counter()
            written.write_text(text)
            while _read(target) != text:
                if time.perf_counter() - started > 30:
                    raise RuntimeError("the file did not reach the peer within 30 s")
                time.sleep(0.002)
            if i >= 0:
                times.append(time.perf_counter() - started)
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(30)
    times.sort()
    return {"debounce_s": config.debounce, "writes": len(times),
            "lag_p50_ms": statistics.median(times) * 1000,
            "lag_p95_ms": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))] * 1000,
            "lag_max_ms": times[-1] * 1000}


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _idle(config_path: Path, root: Path) -> dict[str, float]:
    """``sip-ha-sync watch`` over the whole tree, as its own process (standby:
    no push, no reconcile), once its watches are placed."""
    folders = sum(1 for _ in root.rglob("*") if _.is_dir()) - 2  # etc, sounds: parents
    argv = [str(Path(sys.executable).with_name("sip-ha-sync")), "-c", str(config_path), "watch"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while _watches(proc.pid) < folders:
            if time.monotonic() - started > 120 or proc.poll() is not None:
                raise RuntimeError("the watcher did not watch the tree")
            time.sleep(0.05)
        placed = time.monotonic() - started
        cpu_before = _cpu_seconds(proc.pid)
        time.sleep(IDLE_SECONDS)
        cpu = _cpu_seconds(proc.pid) - cpu_before
        return {"idle_watches": _watches(proc.pid), "idle_rss_mib": _rss_kib(proc.pid) / 1024,
                "idle_cpu_s": cpu, "idle_seconds": IDLE_SECONDS, "watch_start_s": placed}
    finally:
        proc.terminate()
        proc.wait(30)


def _watches(pid: int) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as handle:
                count += sum(1 for line in handle if line.startswith("inotify wd:"))
        except OSError:
            continue
    return count


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return int(next(line for line in handle if line.startswith("VmRSS:")).split()[1])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(result: dict[str, float]) -> list[str]:
    if "skipped" in result:
        return ["file sync: skipped (needs root, sshd and rsync)"]
    lines = [f"file sync over ssh (setup {result['setup_s']:.0f} s):",
             f"  write -> on the peer, watcher running (debounce {result['debounce_s']:g} s), "
             f"{int(result['writes'])} writes: p50 {result['lag_p50_ms']:.0f} ms, "
             f"p95 {result['lag_p95_ms']:.0f} ms, max {result['lag_max_ms']:.0f} ms"]
    for label in ("small", "all"):
        lines += [
            f"  one changed file in a tree of {int(result[f'files_{label}']):,} files:",
            f"    sip-ha-sync push (new process)   {result[f'push_cli_ms_{label}']:7.1f} ms"
            f"  ratio {result[f'ratio_cli_{label}']:.2f}",
            f"    the watcher's push               {result[f'push_watch_ms_{label}']:7.1f} ms"
            f"  ratio {result[f'ratio_watch_{label}']:.2f}",
            f"    rsync -a --delete, whole tree    {result[f'whole_ms_{label}']:7.1f} ms"]
    lines.append(
        f"  watcher idle over {int(result['files_all']):,} files: "
        f"{int(result['idle_watches'])} inotify watches (one a folder), "
        f"RSS {result['idle_rss_mib']:.1f} MiB, CPU {result['idle_cpu_s']:.2f} s in "
        f"{result['idle_seconds']:.0f} s (watches placed in {result['watch_start_s']:.1f} s)")
    lines.append(f"  one full comparison of the {int(result['files_all']):,} files (the active "
                 f"node's, every 60 s): {result['compare_all_s']:.1f} s")
    return lines


if __name__ == "__main__":
    import json

    measured = run(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
    print("\n".join(report(measured)))
    print(json.dumps(measured))
