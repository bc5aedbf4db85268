"""Pacemaker's own scheduler on a rendered CIB, without a cluster.

``crm_simulate`` runs the real scheduler on a CIB file and "executes" the
transition (every action succeeds); ``crm_mon`` with ``CIB_file`` prints
the result as it would on a cluster.  Node attributes stand in for what
the agents publish: promotion scores and gateway reachability.
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from lxml import etree

CRM_SIMULATE = "/usr/sbin/crm_simulate"
CRM_MON = "/usr/sbin/crm_mon"


class Simulation:
    def __init__(self, cib: etree._Element, folder: Path) -> None:
        from cib_templates.validate import with_nodes_online

        self.folder = folder
        self.step = 0
        self.path = folder / "cib-0.xml"
        self.path.write_bytes(etree.tostring(with_nodes_online(cib)))
        self.log: list[str] = []

    def _next(self, *args: str) -> list[str]:
        """One scheduler run: the transition summary lines it executed."""
        self.step += 1
        out = self.folder / f"cib-{self.step}.xml"
        res = subprocess.run([CRM_SIMULATE, "--xml-file", str(self.path), "--simulate",
                              "--save-output", str(out), *args],
                             capture_output=True, text=True, check=True,
                             env={**os.environ, "LC_ALL": "C"})
        self.path = out
        summary = res.stdout.split("Transition Summary:", 1)[-1]
        summary = summary.split("Executing Cluster Transition:", 1)[0]
        actions = [line.strip(" *") for line in summary.splitlines() if line.strip()]
        self.log += actions
        return actions

    def settle(self, *args: str, rounds: int = 8) -> list[str]:
        """Run transitions until the scheduler has nothing left to do."""
        done = self._next(*args)
        for _ in range(rounds):
            step = self._next()
            if not step:
                return done
            done += step
        raise AssertionError(f"no stable state after {rounds} transitions: {self.log[-20:]}")

    def set_attrs(self, node: str, **attrs: str) -> None:
        tree = etree.parse(str(self.path))
        state = tree.getroot().find(f"status/node_state[@uname='{node}']")
        transient = state.find("transient_attributes")
        if transient is None:
            transient = etree.SubElement(state, "transient_attributes", id=state.get("id"))
            etree.SubElement(transient, "instance_attributes", id=f"status-{state.get('id')}")
        nvset = transient.find("instance_attributes")
        for key, value in attrs.items():
            name = key.replace("_", "-")
            for old in nvset.findall(f"nvpair[@name='{name}']"):
                nvset.remove(old)
            etree.SubElement(nvset, "nvpair", id=f"{nvset.get('id')}-{name}", name=name,
                             value=value)
        tree.write(str(self.path))

    def delete_attr(self, node: str, name: str) -> None:
        """What ``attrd_updater -D -n NAME`` leaves: no such attribute on NODE."""
        tree = etree.parse(str(self.path))
        for nvpair in tree.getroot().findall(
                f"status/node_state[@uname='{node}']/transient_attributes/"
                f"instance_attributes/nvpair[@name='{name}']"):
            nvpair.getparent().remove(nvpair)
        tree.write(str(self.path))

    def move(self, rsc: str, node: str | None, role: str | None = None) -> None:
        """What 'pcs resource move RSC NODE [--promoted]' adds; None: 'clear' removes it."""
        tree = etree.parse(str(self.path))
        constraints = tree.getroot().find("configuration/constraints")
        for old in constraints.findall(f"rsc_location[@id='cli-prefer-{rsc}']"):
            constraints.remove(old)
        if node is not None:
            move = etree.SubElement(constraints, "rsc_location", id=f"cli-prefer-{rsc}",
                                    rsc=rsc, node=node, score="INFINITY")
            if role:
                move.set("role", role)
        tree.write(str(self.path))

    def graph(self) -> dict[str, set[str]]:
        """The next transition's actions ("rsc_op node", pseudo actions by key)
        with every action that must complete before each, transitively; the
        CIB is not advanced."""
        out = self.folder / f"graph-{self.step}.xml"
        subprocess.run([CRM_SIMULATE, "--xml-file", str(self.path), "--save-graph", str(out)],
                       capture_output=True, text=True, check=True,
                       env={**os.environ, "LC_ALL": "C"})

        def name(action: ET.Element) -> str:
            node = action.get("on_node")
            return f"{action.get('operation_key')} {node}" if node else action.get(
                "operation_key", "")

        direct: dict[str, set[str]] = {}
        for synapse in ET.parse(out).getroot().iterfind("synapse"):
            action = synapse.find("action_set/*")
            inputs = {name(trigger) for trigger in synapse.iterfind("inputs/trigger/*")}
            direct.setdefault(name(action), set()).update(inputs)
        before: dict[str, set[str]] = {}

        def closure(key: str) -> set[str]:
            if key not in before:
                before[key] = set()
                for first in direct.get(key, ()):
                    before[key] |= {first} | closure(first)
            return before[key]

        return {key: closure(key) for key in direct}

    def crm_mon(self) -> str:
        return subprocess.run([CRM_MON, "--output-as", "xml", "--include=all"],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "LC_ALL": "C",
                                   "CIB_file": str(self.path)}).stdout

    def roles(self, rsc: str) -> dict[str, str]:
        """{node: role} of a clone's instances or a primitive, per crm_mon."""
        root = ET.fromstring(self.crm_mon())
        found = {}
        for element in root.iterfind("resources/*"):
            if element.get("id") != rsc:
                continue
            for resource in (element.iterfind("resource") if element.tag == "clone"
                             else [element]):
                for node in resource.iterfind("node"):
                    found[node.get("name")] = resource.get("role")
        return found

    def promoted(self, rsc: str) -> list[str]:
        return sorted(n for n, role in self.roles(rsc).items() if role == "Promoted")
