"""The deployment guide (docs/deployment-guide.rst) as a test: its tested
blocks, read from the guide by tests.support.guide_commands, run in order
on the sid two-node cluster, so the guide cannot drift from what works.

The guide's servers pbx1 and pbx2 are the cluster's first and second node
(names replaced in commands, files and expected lines).  Its parameter
file is written as the guide shows it, with only what the test cluster
must have instead: the test fence device for the IPMI boards, the trunk
provider's host as gateway and ITSP, the Asterisk tree under
pbx_parts.ROOT with the harness's deadlines, and alerts to the local
syslog (the nodes have no MTA).  The AMI secret is the test Asterisk's.

Imported by the sid cluster module (test_sipha_asterisk.py); uses its
`asterisk_files` fixture (asterisk_checks)."""

from __future__ import annotations

import os
import re
import time
import tomllib

from tests.support import guide_commands
from tests.support.asterisk import AMI_SECRET
from tests.support.guide_commands import Command, File, normalized
from tests.support.pbx_parts import AMI_SECRET_FILE, ROOT
from tests.support.sipha_cluster import HOST_IP, SERVICE_IP, TRUNK_IP
from tests.support.sipha_service import FENCE_SECRET, PARAMS, toml_text

STEP_TIMEOUT = 300   # a failover with its drain and the probe


def node_names(cluster) -> dict[str, str]:
    return {f"pbx{number}": node for number, node in enumerate(cluster.nodes, start=1)}


def mapped(text: str, names: dict[str, str]) -> str:
    return re.sub(r"\b(pbx\d+)\b", lambda m: names.get(m[1], m[1]), text)


def params_for_the_test_cluster(text: str, cluster) -> str:
    """The guide's parameter file as the test cluster needs it."""
    params = tomllib.loads(mapped(text, node_names(cluster)))
    assert params["cluster"]["nodes"] == cluster.nodes
    params["cluster"]["gateways"] = [TRUNK_IP]
    (pbx,) = params["service"]
    assert pbx["ip"] == [f"{SERVICE_IP}/24"], "the guide's service address is the test's"
    pbx["trunk_networks"] = [TRUNK_IP]
    assert pbx["options"]["ami_secret_file"] == AMI_SECRET_FILE
    pbx["options"].update(config=f"{ROOT}/asterisk.conf", sip_timeout="1s",
                          control_timeout="2s")
    assert {f["agent"] for f in params["fencing"]} == {"fence_ipmilan"}
    params["fencing"] = [{"id": "sipha-fence", "agent": "fence_sipha", "targets": cluster.nodes,
                          "options": {"ipaddr": HOST_IP,
                                      "ipport": os.environ.get("SIPHA_FENCE_PORT", "7410"),
                                      "passwd": FENCE_SECRET}}]
    params["alerts"]["recipients"] = ["syslog:local"]
    return toml_text(params).replace(FENCE_SECRET, cluster.fence_secret())


def write(cluster, step: File) -> None:
    names = node_names(cluster)
    path = mapped(step.path, names)
    text = (params_for_the_test_cluster(step.text, cluster) if path == PARAMS
            else mapped(step.text, names))
    node = names[step.node]
    cluster.run(node, "mkdir", "-p", os.path.dirname(path))
    cluster.run(node, "sh", "-c", f"umask 077; cat >{path}", input=text)


def run(cluster, step: Command) -> str:
    """Run STEP until its exit code is allowed and its expected lines are
    in its output (once, or until its retry seconds are over)."""
    names = node_names(cluster)
    node = names[step.node]
    command = mapped(step.command, names)
    wanted = [normalized(mapped(line, names)) for line in step.expect]
    deadline = time.monotonic() + step.retry
    while True:
        res = cluster.run(node, "bash", "-o", "pipefail", "-c", command, check=False,
                          timeout=STEP_TIMEOUT)
        seen = [normalized(line) for line in (res.stdout + res.stderr).splitlines()]
        missing = [w for w in wanted if not any(w in line for line in seen)]
        if res.returncode in step.exits and not missing:
            return res.stdout
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"guide line {step.line}, on {node}: {command!r} exited {res.returncode} "
                f"(allowed {sorted(step.exits)}), missing {missing}\n"
                f"stdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}")
        time.sleep(2)


def corosync_timing(cluster) -> dict[str, str]:
    """Corosync's running token and consensus ({} when they cannot be read)."""
    out = cluster.run(cluster.nodes[0], "corosync-cmapctl", "runtime.config.totem.",
                      check=False).stdout
    found = re.findall(r"^runtime\.config\.totem\.(token|consensus) \(u32\) = (\d+)$", out, re.M)
    return dict(found)


def test_the_deployment_guide_runs_as_written(cluster, asterisk_files):
    steps = guide_commands.load("sid")
    timing = corosync_timing(cluster)
    for node in cluster.nodes:
        cluster.run(node, "install", "-d", "-m", "700", os.path.dirname(AMI_SECRET_FILE))
        cluster.run(node, "sh", "-c", f"umask 077; cat >{AMI_SECRET_FILE}",
                    input=AMI_SECRET + "\n")
    started = time.monotonic()
    try:
        for step in steps:
            if isinstance(step, File):
                write(cluster, step)
            else:
                print(f"guide line {step.line}: {step.command}\n{run(cluster, step)}")
    finally:
        # The next test resets the CIB; what the guide changed beside it goes too.
        for node in cluster.nodes:
            cluster.run(node, "sh", "-c", f"rm -f {PARAMS} {AMI_SECRET_FILE} "
                        f"{os.path.dirname(PARAMS)}/*.sip-ha-*~", check=False)
        if timing and corosync_timing(cluster) != timing:
            cluster.run(cluster.nodes[0], "pcs", "cluster", "config", "update", "totem",
                        *(f"{key}={value}" for key, value in sorted(timing.items())),
                        check=False, timeout=120)
    print(f"the guide's {len(steps)} steps ran in {time.monotonic() - started:.0f}s")
