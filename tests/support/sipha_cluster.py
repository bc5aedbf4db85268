"""Drive a SIP-HA Vagrant/LXC test cluster from the host.

One `Cluster` is one `vagrant up` of vagrant/Vagrantfile with its own name
prefix. It runs commands in the nodes (lxc-attach), reads
`crm_mon --output-as xml`, injects faults from the host (hard node loss,
freeze, network partition, process kill) and tears everything down again.
Names and addresses follow vagrant/lib/settings.rb.
"""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from sip_ha.alert import repeats
from tests.support import lxc_attach

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VAGRANT_DIR = os.path.join(REPO, "vagrant")
CACHE = os.environ.get("SIPHA_CACHE", "/var/cache/sip-ha")
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NET = "198.51.100"
SERVICE_IP = NET + ".100"
PHONE_IP = NET + ".200"
TRUNK_IP = NET + ".201"
QNETD_IP = NET + ".202"
HOST_IP = NET + ".1"


class ClusterError(Exception):
    pass


@dataclass
class NodeStatus:
    name: str
    online: bool
    standby: bool
    unclean: bool
    is_dc: bool


def _run(argv, env=None, timeout=600, check=True, input=None):
    res = subprocess.run(argv, env=env, timeout=timeout, input=input, check=False,
                         capture_output=True, text=True,
                         stdin=None if input is not None else subprocess.DEVNULL)
    if check and res.returncode != 0:
        raise ClusterError("%s exited %d\n%s%s" % (shlex.join(argv), res.returncode,
                                                   res.stdout[-3000:], res.stderr[-3000:]))
    return res


def wait_until(predicate, timeout, interval=0.5, what="condition"):
    """Poll PREDICATE until it returns a true value; return that value."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (ClusterError, subprocess.SubprocessError, ET.ParseError) as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            raise ClusterError("timeout after %ss waiting for %s%s"
                               % (timeout, what, " (%s)" % last_exc if last_exc else ""))
        time.sleep(interval)


class Cluster:
    def __init__(self, dist="bookworm", nodes=2, prefix="siphat", qdevice=False):
        self.dist = dist
        self.size = nodes
        # A quorum device (host-side.sh qdevice): corosync-qnetd on the host
        # side at QNETD_IP, the third vote of a two-node cluster.
        self.qdevice = qdevice
        self.prefix = prefix
        self.state_dir = os.path.join(CACHE, "run", prefix)
        self.nodes = ["node%d" % n for n in range(1, nodes + 1)]
        self.baseline_config = None
        self.timings = {}

    # ---- names and environment ----------------------------------------
    def env(self):
        env = dict(os.environ)
        env.update({
            "VAGRANT_HOME": os.path.join(CACHE, "vagrant.d"),
            "VAGRANT_DOTFILE_PATH": os.path.join(self.state_dir, "vagrant"),
            "VAGRANT_CWD": VAGRANT_DIR,
            "VAGRANT_DEFAULT_PROVIDER": "lxc",
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            "SIPHA_NODES": str(self.size),
            "SIPHA_DIST": self.dist,
            "SIPHA_PREFIX": self.prefix,
            "SIPHA_CACHE": CACHE,
            "LC_ALL": "C.UTF-8",
        })
        return env

    def fence_secret(self):
        """The host-side fence daemon's secret (host-side.sh up makes it)."""
        with open(os.path.join(self.state_dir, "fence.secret")) as fh:
            return fh.read().strip()

    def container(self, node):
        return "%s-%s" % (self.prefix, node)

    def veth(self, node):
        return "%s-%s" % (self.prefix, node.replace("node", "n"))

    def ip(self, node):
        return "%s.%d" % (NET, 10 + int(node[4:]))

    def script(self, name, *args, timeout=600, check=True):
        return _run([os.path.join(VAGRANT_DIR, name), *args], env=self.env(),
                    timeout=timeout, check=check)

    def vagrant(self, *args, timeout=600, check=True):
        return _run(["vagrant", *args], env=self.env(), timeout=timeout, check=check)

    # ---- life cycle ------------------------------------------------------
    def leftovers(self):
        """What of this prefix still exists on the host (empty: nothing)."""
        res = self.script("host-side.sh", "leftovers", check=False)
        found = [line for line in res.stdout.splitlines() if line.strip()]
        if os.path.isdir(os.path.join(self.state_dir, "vagrant", "machines")):
            found.append("vagrant state %s/vagrant" % self.state_dir)
        return found

    def clean(self):
        """Remove every trace of this prefix (containers, links, namespaces,
        our processes, vagrant state)."""
        self.script("host-side.sh", "clean", check=False)
        shutil.rmtree(os.path.join(self.state_dir, "vagrant"), ignore_errors=True)

    def up(self):
        t0 = time.monotonic()
        self.script("build-box.sh", self.dist, timeout=1800)
        self.timings["box"] = time.monotonic() - t0
        # The package the nodes install (vagrant/provision/node.sh): rebuilt
        # here if the checkout changed since `make deb`.
        t0 = time.monotonic()
        _run(["/usr/bin/python3", os.path.join(REPO, "scripts", "build_deb.py")], timeout=600)
        self.timings["deb"] = time.monotonic() - t0
        stale = self.leftovers()
        if stale:
            print("leftovers of an earlier run, cleaning: %s" % ", ".join(stale))
            self.clean()
            stale = self.leftovers()
            if stale:
                raise ClusterError("cannot clean leftovers: %s" % stale)
        t0 = time.monotonic()
        # Another cluster (another prefix) may hold the test network for a
        # while: wait for it rather than fail.
        wait_until(self._network_free, float(os.environ.get("SIPHA_NET_WAIT", "900")),
                   interval=10, what="the test network to be free")
        self.script("host-side.sh", "up")
        self.vagrant("up", "--provider=lxc", timeout=1200)
        self.script("host-side.sh", "root-ssh")
        self.timings["vagrant_up"] = time.monotonic() - t0
        if self.qdevice:
            started = time.monotonic()
            self.script("host-side.sh", "qdevice")
            self.timings["qdevice"] = time.monotonic() - started
        self.wait_all_online(timeout=180)
        self.wait_idle()
        self.timings["up_to_quorate"] = time.monotonic() - t0
        self.baseline_config = self.run(self.nodes[0], "cibadmin", "--query",
                                        "--scope", "configuration").stdout

    def _network_free(self):
        """True once this cluster may take the test network. `make demo`'s
        cluster (marked by vagrant/demo_pbx.py) is torn down at once, saying so:
        `make test` right after `make demo` must not wait for it."""
        res = self.script("host-side.sh", "up", check=False)
        if res.returncode != 2:
            return True
        for holder in set(re.findall(r"\b([a-z0-9]{1,8})-br0\b", res.stderr)):
            if holder != self.prefix and os.path.exists(
                    os.path.join(CACHE, "run", holder, "demo")):
                print("tearing down the demo cluster '%s': it holds the test network" % holder)
                env = dict(self.env(), SIPHA_PREFIX=holder,
                           VAGRANT_DOTFILE_PATH=os.path.join(CACHE, "run", holder, "vagrant"))
                _run([os.path.join(VAGRANT_DIR, "teardown.sh")], env=env, timeout=600)
                return False
        return False

    def destroy(self):
        """Tear down; return the leftovers found afterwards (should be [])."""
        t0 = time.monotonic()
        for node in self.nodes:
            # A frozen container cannot be destroyed; a downed link is moot.
            _run(["lxc-unfreeze", "-n", self.container(node)], check=False)
            # Nothing in a test node needs a clean shutdown, which took up to
            # 80 s (Pacemaker stopping every resource, drains included).
            _run(["lxc-stop", "-k", "-n", self.container(node)], check=False)
        self.vagrant("destroy", "-f", timeout=300, check=False)
        self.clean()
        self.timings["destroy"] = time.monotonic() - t0
        return self.leftovers()

    # ---- commands in the nodes -----------------------------------------
    def run(self, node, *argv, check=True, timeout=120, input=None):
        cmd = ["lxc-attach", "-n", self.container(node), "--clear-env",
               "--set-var", "PATH=" + NODE_PATH, "--set-var", "LC_ALL=C",
               "--set-var", "HOME=/root", "--", *argv]
        res = lxc_attach.retrying(
            lambda: _run(cmd, timeout=timeout, check=False, input=input))
        if check and res.returncode != 0:
            raise ClusterError("%s exited %d\n%s%s" % (shlex.join(cmd), res.returncode,
                                                       res.stdout[-3000:], res.stderr[-3000:]))
        return res

    def sh(self, node, script, check=True, timeout=120):
        return self.run(node, "/bin/sh", "-c", script, check=check, timeout=timeout)

    def state(self, node):
        res = _run(["lxc-info", "-H", "-s", "-n", self.container(node)], check=False)
        return res.stdout.strip() or "ABSENT"

    def init_pid(self, node):
        return int(_run(["lxc-info", "-H", "-p", "-n", self.container(node)]).stdout)

    def running_nodes(self):
        return [n for n in self.nodes if self.state(n) == "RUNNING"]

    # ---- Pacemaker's view ------------------------------------------------
    def crm_mon(self, node=None):
        """`crm_mon --output-as xml` from NODE (default: any running node)."""
        candidates = [node] if node else self.running_nodes()
        last = None
        for cand in candidates:
            res = self.run(cand, "crm_mon", "--output-as", "xml", check=False, timeout=30)
            if res.returncode == 0 and res.stdout.strip():
                return ET.fromstring(res.stdout)
            last = res
        raise ClusterError("crm_mon failed: %s" % (last.stderr if last else "no running node"))

    def node_status(self, node=None):
        mon = self.crm_mon(node)
        dc = mon.find("summary/current_dc")
        dc_name = dc.get("name") if dc is not None else None
        return {n.get("name"): NodeStatus(n.get("name"), n.get("online") == "true",
                                          n.get("standby") == "true",
                                          n.get("unclean") == "true",
                                          n.get("name") == dc_name)
                for n in mon.findall("nodes/node")}

    def quorate(self, node=None):
        dc = self.crm_mon(node).find("summary/current_dc")
        return dc is not None and dc.get("with_quorum") == "true"

    def online_nodes(self, node=None):
        return sorted(n for n, s in self.node_status(node).items() if s.online)

    def resources(self, node=None):
        """{resource id: (agent, role, [nodes])} from crm_mon."""
        out = {}
        for res in self.crm_mon(node).iter("resource"):
            out[res.get("id")] = (res.get("resource_agent"), res.get("role"),
                                  [n.get("name") for n in res.findall("node")])
        return out

    def wait_all_online(self, timeout=180):
        def check():
            status = self.node_status()
            return (all(status.get(n) and status[n].online and not status[n].unclean
                        for n in self.nodes) and self.quorate())
        try:
            return wait_until(check, timeout, what="all nodes online with quorum")
        except ClusterError as exc:
            raise ClusterError("%s\n%s" % (exc, self.describe())) from None

    def describe(self):
        """Container states and each running node's crm_mon, for errors."""
        out = []
        for node in self.nodes:
            out.append("%s: %s" % (self.container(node), self.state(node)))
        for node in self.running_nodes():
            res = self.run(node, "crm_mon", "-1", "--include=all", check=False, timeout=30)
            out.append("crm_mon on %s:\n%s%s" % (node, res.stdout, res.stderr))
            # What the scheduler still wants to do, and why it may not.
            res = self.run(node, "sh", "-c", "crm_simulate --live-check --simulate 2>&1 | "
                           "sed -n '/Transition Summary/,/Executing/p'; journalctl "
                           "--no-pager -n 60 -g 'error|Result of|Initiating|blocked|"
                           "unrunnable|Timed out|timeout|sipha|mysql-mm|asterisk\\('",
                           check=False, timeout=30)
            out.append("scheduler and log on %s:\n%s" % (node, res.stdout))
        out.append("fence log:\n" + "\n".join(self.fence_log()[-8:]))
        return "\n".join(out)

    def wait_idle(self, node=None, timeout=120):
        node = node or self.running_nodes()[0]
        self.run(node, "crm_resource", "--wait", "--timeout=%ds" % timeout,
                 timeout=timeout + 10)

    def fence_log(self):
        try:
            with open(os.path.join(self.state_dir, "fenced.log")) as fh:
                return fh.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_fenced(self, node, since_lines, timeout=90, verb=None):
        """Wait for the fence daemon to log a successful action on NODE after
        line number SINCE_LINES; return that line."""
        def check():
            for line in self.fence_log()[since_lines:]:
                words = line.split()
                if (len(words) > 2 and words[2] == node and "->" in line
                        and (verb is None or words[1] == verb.upper())):
                    return line
            return None
        return wait_until(check, timeout, what="fencing of %s" % node)

    # ---- faults, injected from the host ----------------------------------
    def kill_node(self, node):
        """Hard node loss, silent like a power cut: the link goes down first, so
        the dying node cannot close its TCP connections (lxc-stop alone lets
        the kernel send FIN/RST, and TCP phones would learn at once)."""
        _run(["ip", "link", "set", self.veth(node), "down"])
        _run(["lxc-stop", "-k", "-n", self.container(node)])

    def start_node(self, node):
        if self.state(node) == "STOPPED":
            _run(["lxc-start", "-n", self.container(node)])

    def freeze(self, node):
        _run(["lxc-freeze", "-n", self.container(node)])

    def thaw(self, node):
        if self.state(node) == "FROZEN":
            _run(["lxc-unfreeze", "-n", self.container(node)])

    def partition(self, node):
        """Cut NODE off the bridge (host-side veth down)."""
        _run(["ip", "link", "set", self.veth(node), "down"])

    def heal(self, node):
        _run(["ip", "link", "set", self.veth(node), "up"], check=False)
        self.isolate(node, False)

    def isolate(self, node, on=True):
        """Isolate NODE's bridge port: isolated ports cannot reach each other
        but still reach every other port (host, phone, trunk, qnetd), so
        isolating every node cuts the cluster's own link alone, silently, as
        a failed switch between the nodes would.  (An `ip rule prohibit`
        inside the nodes is no such cut: Corosync's sends fail there and its
        main loop stalled for 11 s.)"""
        _run(["bridge", "link", "set", "dev", self.veth(node), "isolated",
              "on" if on else "off"], check=on)

    def kill_process(self, node, name, sig=signal.SIGKILL, user=None):
        """Signal NODE's processes named NAME (run as USER when given: the
        agent's own processes carry the name of its shim, "asterisk" too)."""
        owner = ["-u", user] if user else []
        return self.run(node, "pkill", "--signal", str(int(sig)), "-x", *owner, name,
                        check=False)

    def stop_service(self, node, unit):
        return self.run(node, "systemctl", "stop", unit, check=False)

    # ---- between tests -----------------------------------------------------
    def reset(self, timeout=240):
        """Every node running and online, the CIB configuration as after
        `vagrant up`, failures and fence history cleared, cluster idle."""
        for node in self.nodes:
            self.thaw(node)
            self.heal(node)
            self.start_node(node)
        self.wait_all_online(timeout=timeout)
        first = self.nodes[0]
        # Stop what the test added while it is still configured: removed from
        # the CIB first, a promotable clone's instances became orphans that
        # Pacemaker demoted without their parameters, the agent could not
        # find its server, and the demote failed ~1000 times in 2 minutes
        # until the controller gave up and took Pacemaker down.
        self.run(first, "crm_attribute", "--type", "crm_config", "--name",
                 "stop-all-resources", "--update", "true")
        self.wait_idle(first, timeout=180)
        self.run(first, "cibadmin", "--replace", "--scope", "configuration",
                 "--xml-pipe", input=self.baseline_config)
        # Anything still left is an orphan now: let Pacemaker stop it before
        # the cleanup, which would erase the history it stops it by (a
        # service address was left on a node that way).
        self.wait_idle(first)
        self.run(first, "crm_resource", "--cleanup", check=False)
        self.run(first, "stonith_admin", "--cleanup", "--history", "*", check=False)
        # The alert agent's repeat hold-back: each test's first alert is news.
        for node in self.nodes:
            self.run(node, "find", repeats.STATE_DIR, "-mindepth", "1", "-delete", check=False)
        self.wait_idle(first)

    # ---- phone and trunk provider -----------------------------------------
    def sipsim(self, host, *args, timeout=60):
        """Run vagrant/sip/sipsim.py in the phone or trunk namespace."""
        return _run(["ip", "netns", "exec", "%s-%s" % (self.prefix, host), "python3",
                     os.path.join(VAGRANT_DIR, "sip", "sipsim.py"), *args],
                    timeout=timeout, check=False)

    def phone_options(self, target=SERVICE_IP, tcp=False):
        args = ["options", "--to", target] + (["--tcp"] if tcp else [])
        res = self.sipsim("phone", *args)
        return res.stdout.strip() if res.returncode == 0 else None

    def received(self, host):
        """SIP requests the phone or trunk host received: list of dicts with
        time, proto, src, sport, line."""
        try:
            with open(os.path.join(self.state_dir, host + ".log")) as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []
