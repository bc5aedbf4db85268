#!/usr/bin/python3
"""Host-side fence daemon of the SIP-HA test clusters.

Listens on the test bridge address only and powers test nodes off/on for
the nodes' fence agent (fence_sipha). One request per connection, one line:

    PASSWD VERB PLUG [SECONDS]   VERB: ping | list | status | on | off | onlater
    -> OK TEXT | ERR TEXT

PASSWD is the secret in --passwd-file (random per test cluster, root's
alone; an empty one is refused), compared in constant time.

`onlater PLUG SECONDS` powers the node on SECONDS (at most 300) from now (a
reboot's second half: like a real server's POST, it lets the cluster record
the fencing before the node rejoins; a node that boots faster would hear of
its own fencing and stop for good).  One timer per plug (a new onlater
replaces it), at most MAX_PENDING at once.

PLUG is a cluster node name; it is only ever mapped to the machine named
PREFIX-PLUG, so nothing but this run's own nodes can be touched.
Backends: lxc (default; `off` kills the container like a power cut, also
when it is frozen), libvirt (virsh destroy/start), virtualbox.
Every action is logged with a timestamp (the tests read this log).
Standard library only; runs in the foreground, the harness owns its PID.
"""

import argparse
import datetime
import hmac
import math
import os
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time

PLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,40}")
MAX_DELAY = 300.0
MAX_PENDING = 16


def read_secret(path):
    """The first line of PATH, a file no one but its owner may read."""
    with open(path, encoding="utf-8") as fh:
        if os.fstat(fh.fileno()).st_mode & 0o077:
            raise ValueError("%s is open to group or others: chmod 600 %s" % (path, path))
        secret = fh.readline().strip()
    if not secret:
        raise ValueError("%s holds no secret" % path)
    return secret


def run(argv, timeout=30):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, check=False,
                          text=True, timeout=timeout, env=dict(os.environ, LC_ALL="C"))


class LxcBackend:
    def machines(self):
        res = run(["lxc-ls", "-1"])
        return res.stdout.split()

    def state(self, name):
        res = run(["lxc-info", "-H", "-s", "-n", name])
        if res.returncode != 0:
            raise LookupError("no container %s" % name)
        return res.stdout.strip()            # RUNNING STOPPED FROZEN ...

    def status(self, name):
        return "off" if self.state(name) == "STOPPED" else "on"

    def off(self, name):
        state = self.state(name)
        if state == "STOPPED":
            return
        # A power cut: SIGKILL the container's init first (its PID namespace
        # dies with it), and only then thaw a frozen container, so that no
        # process inside runs a single instruction more.
        pid = run(["lxc-info", "-H", "-p", "-n", name]).stdout.strip()
        if pid.isdigit():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        if state == "FROZEN":
            run(["lxc-unfreeze", "-n", name])
        if run(["lxc-wait", "-n", name, "-s", "STOPPED", "-t", "10"]).returncode != 0:
            run(["lxc-stop", "-k", "-n", name])

    def on(self, name):
        if self.state(name) != "STOPPED":
            return
        res = run(["lxc-start", "-n", name])
        if res.returncode != 0:
            raise RuntimeError("lxc-start %s: %s" % (name, res.stderr.strip()))


class LibvirtBackend:
    def machines(self):
        return run(["virsh", "list", "--all", "--name"]).stdout.split()

    def status(self, name):
        res = run(["virsh", "domstate", name])
        if res.returncode != 0:
            raise LookupError("no domain %s" % name)
        return "on" if res.stdout.strip() in ("running", "paused", "blocked") else "off"

    def off(self, name):
        if self.status(name) == "on":
            run(["virsh", "destroy", name])

    def on(self, name):
        if self.status(name) == "off":
            run(["virsh", "start", name])


class VirtualBoxBackend:
    def machines(self):
        out = run(["VBoxManage", "list", "vms"]).stdout
        return re.findall(r'^"([^"]+)"', out, re.M)

    def status(self, name):
        res = run(["VBoxManage", "showvminfo", name, "--machinereadable"])
        if res.returncode != 0:
            raise LookupError("no VM %s" % name)
        match = re.search(r'^VMState="([^"]+)"', res.stdout, re.M)
        return "on" if match and match.group(1) in ("running", "paused") else "off"

    def off(self, name):
        if self.status(name) == "on":
            run(["VBoxManage", "controlvm", name, "poweroff"])

    def on(self, name):
        if self.status(name) == "off":
            run(["VBoxManage", "startvm", name, "--type", "headless"])


BACKENDS = {"lxc": LxcBackend, "libvirt": LibvirtBackend, "virtualbox": VirtualBoxBackend}


class Fencer:
    def __init__(self, backend, prefix, passwd, log):
        if not passwd:
            raise ValueError("an empty secret would let anyone on the bridge fence")
        self.backend = backend
        self.prefix = prefix + "-"
        self.passwd = passwd.encode()
        self.log_file = log
        self.lock = threading.Lock()          # one power action at a time
        self.pending = {}                     # plug -> its onlater timer
        self.pending_lock = threading.Lock()

    def log(self, text):
        stamp = datetime.datetime.now().isoformat(timespec="milliseconds")
        with open(self.log_file, "a") as fh:
            fh.write("%s %s\n" % (stamp, text))

    def handle(self, line, peer):
        parts = line.split()
        if len(parts) not in (3, 4):
            return "ERR malformed request"
        passwd, verb, plug = parts[:3]
        if not hmac.compare_digest(passwd.encode(), self.passwd):
            self.log("DENIED %a %a from %s (bad password)" % (verb, plug, peer))
            return "ERR authentication failed"
        if verb == "ping":
            return "OK pong"
        if verb == "list":
            plugs = [m[len(self.prefix):] for m in self.backend.machines()
                     if m.startswith(self.prefix)]
            return "OK " + ",".join(sorted(plugs))
        if verb not in ("status", "on", "off", "onlater") or not PLUG_RE.fullmatch(plug):
            return "ERR bad request"
        if verb == "onlater":
            try:
                delay = float(parts[3])
            except (IndexError, ValueError):
                delay = math.nan
            if not math.isfinite(delay):
                return "ERR onlater needs SECONDS"
            return self.schedule(plug, min(max(delay, 0.0), MAX_DELAY), peer)
        return self.power(verb, plug, peer)

    def schedule(self, plug, delay, peer):
        with self.pending_lock:
            if plug not in self.pending and len(self.pending) >= MAX_PENDING:
                self.log("REFUSED onlater %s from %s (%d pending)"
                         % (plug, peer, len(self.pending)))
                return "ERR too many pending onlater"
            old = self.pending.pop(plug, None)
            if old is not None:
                old.cancel()
            timer = threading.Timer(delay, self._later, (plug, peer))
            timer.daemon = True
            self.pending[plug] = timer
            timer.start()
        self.log("ONLATER %s from %s in %.1f s" % (plug, peer, delay))
        return "OK scheduled"

    def _later(self, plug, peer):
        with self.pending_lock:
            if self.pending.get(plug) is threading.current_thread():
                del self.pending[plug]
        self.power("on", plug, peer)

    def power(self, verb, plug, peer):
        name = self.prefix + plug
        with self.lock:
            t0 = time.monotonic()
            try:
                if verb != "status":
                    getattr(self.backend, verb)(name)
                state = self.backend.status(name)
            except LookupError as exc:
                return "ERR %s" % exc
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                self.log("FAILED %s %s from %s: %s" % (verb, plug, peer, exc))
                return "ERR %s" % exc
        if verb != "status":
            self.log("%s %s from %s -> %s (%.2f s)"
                     % (verb.upper(), plug, peer, state, time.monotonic() - t0))
        return "OK " + state


class Handler(socketserver.StreamRequestHandler):
    timeout = 10

    def handle(self):
        try:
            line = self.rfile.readline(512).decode(errors="replace")
        except OSError:
            return
        reply = self.server.fencer.handle(line, self.client_address[0])
        self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="bridge address to bind")
    ap.add_argument("--port", type=int, default=7410)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--backend", choices=sorted(BACKENDS), default="lxc")
    ap.add_argument("--passwd-file", required=True,
                    help="file whose first line is the shared secret (mode 600)")
    ap.add_argument("--log", required=True)
    ap.add_argument("--sipha-tag", help="marks the process for host-side.sh")
    args = ap.parse_args()
    try:
        fencer = Fencer(BACKENDS[args.backend](), args.prefix,
                        read_secret(args.passwd_file), args.log)
    except (OSError, ValueError) as exc:
        print("sipha-fenced: %s" % exc, file=sys.stderr)
        return 2
    server = Server((args.listen, args.port), Handler)
    server.fencer = fencer
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    fencer.log("listening on %s:%d (backend %s, prefix %s)"
               % (args.listen, args.port, args.backend, args.prefix))
    server.serve_forever()
    server.server_close()
    fencer.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
