"""Meta-data: valid against resource-agents' DTD, stable, escaping right."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from lxml import etree

from ocf_agents.framework.ocf import Agent, Config, Operation, param
from sip_ha import install
from sip_ha.install import AGENTS

# resource-agents' /usr/share/resource-agents/ra-api-1.dtd, copied so that the
# unit layer needs no Debian package (the integration layer runs ocf-tester).
DTD_PATH = Path(__file__).parent / "data" / "ra-api-1.dtd"


def dtd() -> etree.DTD:
    return etree.DTD(str(DTD_PATH))


def agent_of(name: str) -> Agent:
    return importlib.import_module(AGENTS[name]).AGENT


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_metadata_validates_against_the_dtd(name: str):
    root = etree.fromstring(agent_of(name).metadata().encode())
    assert dtd().validate(root), dtd().error_log.filter_from_errors()
    assert root.get("name") == name
    assert root.findtext("version") == "1.1"


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_metadata_matches_the_stored_file(name: str):
    """The shims serve the stored copy (sip_ha.install); a change to parameters
    or defaults shows up here and in review.  Regenerate with SIPHA_REGOLD=1."""
    stored = Path(install.metadata_file(name, install.code_root()))
    if os.environ.get("SIPHA_REGOLD"):
        stored.write_text(agent_of(name).metadata())
    assert agent_of(name).metadata() == stored.read_text()


def test_awkward_text_stays_valid_xml():
    text = 'Tom & Jerry <b>bold</b> "quoted" \'single\' ]]> done'

    class Awkward(Config):
        note: str = param(text, shortdesc=text, longdesc=text)

    agent = Agent("awkward", version="1", shortdesc=text, longdesc=text, config=Awkward,
                  handlers={}, operations=(Operation("start", timeout=5),))
    root = etree.fromstring(agent.metadata().encode())
    assert dtd().validate(root), dtd().error_log.filter_from_errors()
    assert root.findtext("shortdesc") == text
    param_node = root.find("parameters/parameter")
    assert param_node.findtext("longdesc") == text
    assert param_node.find("content").get("default") == text
