"""The shared storage area ([service.storage]): its checks, and Pacemaker's
own scheduler (crm_simulate) on the rendered CIB: mounted only where the
service is SIP-ACTIVE, before the promote, unmounted after the demote, and
a node that cannot mount it gives the role to one that can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from cib_templates import params, render
from tests.support.missing import require_pacemaker_tools
from tests.support.scheduler import Simulation

STORAGE = Path(__file__).parent / "data" / "storage.toml"
BASE: dict[str, Any] = {
    "cluster": {"nodes": ["a", "b"]},
    "fencing": [{"id": "f", "agent": "fence_sipha"}],
}


def service(storage: object) -> dict[str, Any]:
    return {**BASE, "service": [{"name": "pbx", "ip": ["198.51.100.100/24"],
                                 "storage": storage}]}


GOOD = {"device": "198.51.100.20:/export/pbx", "directory": "/var/spool/asterisk/shared",
        "fstype": "nfs4"}


def test_the_storage_is_read_with_its_options() -> None:
    parsed = params.parse(service({**GOOD, "options": "vers=4.2,hard"}))
    assert parsed.services[0].storage == params.Storage(**GOOD, options="vers=4.2,hard")
    assert render.storage_resource(parsed.services[0]) == "pbx-storage"


@pytest.mark.parametrize(("change", "message"), [
    ({"device": ""}, "storage device: give it, e.g. nas.example.org:/export/pbx"),
    ({"directory": "var/spool"}, "storage directory: 'var/spool' must be an absolute path"),
    ({"directory": "/"}, "storage directory: '/' must be an absolute path other than /"),
    ({"directory": "/srv/../etc"}, "written without '..'"),
    ({"directory": "/srv/pbx/"}, "or a trailing '/'"),
    ({"fstype": "NFS"}, "storage fstype: 'NFS' is not a file system type such as nfs4"),
    ({"device": "-oremount"}, "storage device: '-oremount' must not start with '-'"),
    ({"device": "nas:/a b"}, "storage device: 'nas:/a b' must be one word, without spaces"),
    ({"options": "username=pbx,password=x"}, "storage options: a password here would be in "
                                             "the CIB"),
    ({"owner": "asterisk"}, "storage: unknown key(s) owner"),
    ({"fstype": 4}, "storage fstype: write it as a quoted string"),
])
def test_bad_storage_gets_one_clear_line(change: dict[str, object], message: str) -> None:
    with pytest.raises(params.ParamError) as caught:
        params.parse(service({**GOOD, **change}))
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(params.ParamError, match=r"storage\] must be a table"):
        params.parse(service("nas:/export"))


@pytest.fixture
def sim(tmp_path: Path) -> Simulation:
    require_pacemaker_tools()
    sim = Simulation(render.render(params.load(str(STORAGE))).getroot(), tmp_path)
    for node in ("node1", "node2"):
        sim.set_attrs(node, **{"master-pbx-asterisk": "100", "sipha-gw-pbx": "1",
                               "sipha-gw-proxy": "1"})
    return sim


def test_mounted_only_where_active_and_before_the_promote(sim: Simulation) -> None:
    first = sim.graph()
    assert "pbx-storage_start_0 node1" in first["pbx-asterisk:0_promote_0 node1"]
    assert "proxy-storage_start_0 node2" in first["proxy-ip_start_0 node2"]
    sim.settle()
    assert sim.promoted("pbx-asterisk-clone") == ["node1"]
    assert sim.roles("pbx-storage") == {"node1": "Started"}
    assert sim.roles("proxy-ip") == {"node2": "Started"}
    assert sim.roles("proxy-storage") == {"node2": "Started"}


def test_a_move_unmounts_after_the_demote_and_mounts_before_the_promote(
        sim: Simulation) -> None:
    sim.settle()
    sim.move("pbx-asterisk-clone", "node2", "Promoted")
    sim.move("proxy-ip", "node1")
    graph = sim.graph()
    assert "pbx-asterisk_demote_0 node1" in graph["pbx-storage_stop_0 node1"]
    assert "pbx-storage_stop_0 node1" in graph["pbx-storage_start_0 node2"]
    assert "pbx-storage_start_0 node2" in graph["pbx-asterisk_promote_0 node2"]
    assert "proxy-ip_stop_0 node2" in graph["proxy-storage_stop_0 node2"]
    assert "proxy-storage_start_0 node1" in graph["proxy-ip_start_0 node1"]
    sim.settle()
    assert sim.roles("pbx-storage") == {"node2": "Started"}
    assert sim.roles("proxy-storage") == {"node1": "Started"}


def test_a_node_that_cannot_mount_it_gives_the_role_up(sim: Simulation) -> None:
    """A failed start or monitor bans the storage from that node (the
    migration-threshold); the ban itself here, as ``pcs resource ban`` adds
    it: the promoted role follows the storage, not the other way round."""
    sim.settle()
    tree = etree.parse(str(sim.path))
    etree.SubElement(tree.getroot().find("configuration/constraints"), "rsc_location",
                     id="cli-ban-pbx-storage-on-node1", rsc="pbx-storage", node="node1",
                     score="-INFINITY")
    tree.write(str(sim.path))
    sim.settle()
    assert sim.promoted("pbx-asterisk-clone") == ["node2"]
    assert sim.roles("pbx-storage") == {"node2": "Started"}
    assert sim.roles("pbx-ip") == {"node2": "Started"}


def test_sync_targets_that_are_not_nodes_are_alerted_and_not_agent_parameters() -> None:
    parsed = params.load(str(STORAGE))
    pbx = parsed.services[0]
    assert pbx.sync_targets == ("nas",) and "targets" not in (pbx.sync or {})
    names = render.alerted_attributes(parsed)
    assert "sipha-pbx-filesync-nas-sync" in names
    assert "sipha-pbx-filesync-nas-reminder" in names
    with pytest.raises(params.ParamError, match="sync targets: a is a node of the service"):
        params.parse({**service(GOOD), "service": [{
            "name": "pbx", "ip": ["198.51.100.100/24"], "sync": {"targets": ["a"]}}]})
