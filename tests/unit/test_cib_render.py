"""Rendered CIBs: stable (golden files), valid against Pacemaker's RelaxNG
schema and clean under crm_verify on this host (Pacemaker 2.1), and valid
against Pacemaker 3.0's schema and crm_verify when the sid box's root file
system is at hand; the pcs commands read back from the same XML."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree

from cib_templates import params, pcs_commands, render, validate
from sipha_runtime.run import Runner
from tests.support.missing import missing, require_root

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
EXAMPLE = Path(params.__file__).parent / "example.toml"
THREE = HERE / "data" / "three-nodes.toml"
STORAGE = HERE / "data" / "storage.toml"
CASES = {"example": EXAMPLE, "three-nodes": THREE, "storage": STORAGE}
# Pacemaker 3.0 from the Debian sid box the cluster tests build.
SID_ROOT = next(iter(sorted(Path("/var/cache/sip-ha/rootfs").glob("sipha-sid-*"))), None) \
    if Path("/var/cache/sip-ha/rootfs").is_dir() else None


def rendered(name: str, schema: str = "pacemaker-3.9") -> etree._Element:
    return render.render(params.load(str(CASES[name])), schema).getroot()


def runner() -> Runner:
    return Runner(time.monotonic() + 60)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str):
    """Regenerate with SIPHA_REGOLD=1 after an intended change, then review the diff."""
    text = render.to_text(rendered(name))
    golden = GOLDEN / f"cib-{name}.xml"
    pcs_golden = GOLDEN / f"cib-{name}.pcs"
    pcs_text = pcs_commands.script(rendered(name),
                                   timings=params.load(str(CASES[name])).timings)
    if os.environ.get("SIPHA_REGOLD"):
        golden.write_text(text)
        pcs_golden.write_text(pcs_text)
    assert text == golden.read_text()
    assert pcs_text == pcs_golden.read_text()


@pytest.mark.pacemaker_tools
@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_for_pacemaker_2_1_schema_and_crm_verify(name: str):
    cib = rendered(name, validate.newest_schema())
    assert validate.relaxng_problems(cib) == []
    assert validate.crm_verify_problems(cib, runner()) == []
    validate.check(cib, runner())


@pytest.mark.pacemaker_tools
def test_schema_and_crm_verify_catch_mistakes():
    cib = rendered("example")
    broken = etree.fromstring(etree.tostring(cib))
    op = broken.find(".//op[@id='pbx-asterisk-monitor-unpromoted']")
    op.set("interval", "2s")
    op.set("role", "Promoted")
    assert validate.relaxng_problems(broken) == []  # the schema allows it...
    problems = validate.crm_verify_problems(broken, runner())  # ...Pacemaker does not
    assert any("is duplicate of pbx-asterisk-monitor-promoted" in p for p in problems)
    assert len(problems) == len(set(problems))
    broken = etree.fromstring(etree.tostring(cib))
    etree.SubElement(broken.find("configuration/resources"), "primitive", id="x")
    assert validate.relaxng_problems(broken)
    with pytest.raises(validate.ValidationError, match=r"not valid against pacemaker-3\.9"):
        validate.check(broken, runner())
    broken.set("validate-with", "pacemaker-9.9")
    assert "is not installed" in validate.relaxng_problems(broken)[0]


def test_newest_schema(tmp_path: Path):
    for name in ("pacemaker-2.10.rng", "pacemaker-3.9.rng", "pacemaker-3.10.rng",
                 "pacemaker-next.rng", "pacemaker.rng"):
        (tmp_path / name).write_text("")
    assert validate.newest_schema(str(tmp_path)) == "pacemaker-3.10"
    with pytest.raises(validate.ValidationError, match="install pacemaker-cli-utils"):
        validate.newest_schema(str(tmp_path / "none"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_for_pacemaker_3_0(name: str, tmp_path: Path):
    if SID_ROOT is None:
        missing("no sid box root file system on this host (make boxes builds it)")
    schemas = str(SID_ROOT / "usr/share/pacemaker")
    schema = validate.newest_schema(schemas)
    assert schema.startswith("pacemaker-4.")
    cib = rendered(name, schema)
    assert validate.relaxng_problems(cib, schemas) == []
    require_root("crm_verify inside the sid root (chroot)")
    # The XML goes through a pipe: the root file system is shared (other
    # tests mount it as an overlay's lower layer) and must not be written.
    res = subprocess.run(["chroot", str(SID_ROOT), "/usr/sbin/crm_verify", "--xml-pipe", "-V"],
                         input=etree.tostring(validate.with_nodes_online(cib)).decode(),
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def test_shape_of_the_three_node_cib():
    cib = rendered("three-nodes")
    config = cib.find("configuration")
    ids = [e.get("id") for e in config.find("resources")]
    assert ids == ["pbx-asterisk-clone", "pbx-ip", "pbx-ping-clone", "pbx-web",
                   "pbx-provisioning", "proxy-sipserver-clone", "proxy-ip", "proxy-ping-clone",
                   "fence-lab"]
    constraints = {c.get("id"): c for c in config.find("constraints")}
    # Each service has its own preferred node; stickiness is above it.
    assert constraints["pbx-prefers-node1"].get("role") == "Promoted"
    assert constraints["pbx-prefers-node1"].get("rsc") == "pbx-asterisk-clone"
    assert constraints["proxy-prefers-node3"].get("rsc") == "proxy-ip"
    assert constraints["proxy-prefers-node3"].get("role") is None
    # Services stay on their own nodes.
    assert constraints["pbx-asterisk-clone-avoids-node3"].get("score") == "-INFINITY"
    assert constraints["proxy-sipserver-clone-avoids-node1"].get("score") == "-INFINITY"
    assert "pbx-asterisk-clone-avoids-node1" not in constraints
    # Gateway rules count each service's own gateways.
    expr = ".//expression[@operation='gte']"
    assert constraints["pbx-active-prefers-gateway"].find(expr).get("value") == "2"
    assert constraints["proxy-active-prefers-gateway"].find(expr).get("value") == "1"
    assert constraints["pbx-ip-with-promoted"].get("with-rsc-role") == "Promoted"
    assert constraints["pbx-promote-then-ip"].get("first-action") == "promote"
    # Extras follow the address and never drag the service.
    assert constraints["pbx-web-with-ip"].get("with-rsc") == "pbx-ip"
    web = config.find("resources/primitive[@id='pbx-web']")
    assert web.find("meta_attributes/nvpair[@name='critical']").get("value") == "false"
    provisioning = config.find("resources/primitive[@id='pbx-provisioning']")
    assert (provisioning.get("class"), provisioning.get("provider"),
            provisioning.get("type")) == ("ocf", "heartbeat", "apache")
    # Characters XML would choke on pass through as values.
    notify = config.find(".//nvpair[@name='resync_notify']")
    assert notify.get("value") == "sipha-resync & <more>"
    # Secrets kept by cibsecret stay its marker.
    assert config.find(".//nvpair[@name='ami_secret']").get("value") == "lrm://"
    stickiness = config.find("rsc_defaults//nvpair[@name='resource-stickiness']")
    assert int(stickiness.get("value")) > int(constraints["pbx-prefers-node1"].get("score"))


def test_pcs_commands_quote_and_order():
    lines = pcs_commands.script(rendered("three-nodes")).splitlines()
    assert lines[0] == "pcs cluster cib sip-ha-cib.xml"
    assert lines[-1] == "pcs cluster cib-push sip-ha-cib.xml --config"
    assert "'resync_notify=sipha-resync & <more>'" in next(line for line in lines
                                                           if "pbx-asterisk " in line)
    creates = [i for i, line in enumerate(lines) if " create " in line]
    constraints = [i for i, line in enumerate(lines) if " constraint " in line]
    assert max(creates) < min(constraints)
    assert ("pcs -f sip-ha-cib.xml constraint location pbx-asterisk-clone rule "
            "constraint-id=pbx-prefers-node1 role=Promoted score=100 '#uname' eq node1"
            in lines)


def test_the_ids_the_library_reads_are_the_rendered_ones():
    """sip_ha reads resources by the names render.py gives; the templates
    must write the same ones."""
    cluster = params.load(str(EXAMPLE))
    root = render.render(cluster).getroot()
    ids = set(root.xpath("//resources//@id"))
    service = cluster.services[0]
    assert service.promotable and service.sync is not None and service.database is not None
    for name in (render.active_resource(service), render.ip_resource(service),
                 render.sync_resource(service), render.database_resource(service)):
        assert name in ids
    primitive = render.promotion_attribute(service).removeprefix("master-")
    assert root.xpath(f"//clone[@id='{render.active_resource(service)}']"
                      f"/primitive[@id='{primitive}']")
