"""Check a rendered CIB the way Pacemaker will: its RelaxNG schema (the
``validate-with`` version, from the schemas Pacemaker installs), then
``crm_verify`` with every node online, so the scheduler itself reads it."""

from __future__ import annotations

import copy
import os
import re
import tempfile

from lxml import etree

from sipha_runtime.errors import Failure

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sipha_runtime.run import Runner

SCHEMA_DIR = "/usr/share/pacemaker"
CRM_VERIFY = "/usr/sbin/crm_verify"


class ValidationError(Failure):
    """The CIB is not valid; ``problems`` lists what Pacemaker said."""

    def __init__(self, what: str, problems: list[str]) -> None:
        super().__init__(f"{what}: " + "; ".join(problems))
        self.problems = problems


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.removeprefix("pacemaker-").split("."))


def newest_schema(folder: str = SCHEMA_DIR) -> str:
    """The newest released pacemaker-X.Y schema installed (not "next")."""
    try:
        names = [name[:-4] for name in os.listdir(folder)
                 if re.fullmatch(r"pacemaker-\d+\.\d+\.rng", name)]
    except FileNotFoundError:
        names = []
    if not names:
        raise ValidationError("no Pacemaker schema", [
            f"no pacemaker-X.Y.rng in {folder}; install pacemaker-cli-utils or give "
            "the schema folder"])
    return max(names, key=_version)


def relaxng_problems(cib: etree._Element, folder: str = SCHEMA_DIR) -> list[str]:
    """What the CIB's own ``validate-with`` schema rejects (empty: valid)."""
    schema = cib.get("validate-with", "")
    path = os.path.join(folder, f"{schema}.rng")
    if not re.fullmatch(r"pacemaker-\d+\.\d+", schema) or not os.path.exists(path):
        return [f"schema {schema!r} is not installed in {folder}"]
    relaxng = etree.RelaxNG(etree.parse(path))
    if relaxng.validate(cib):
        return []
    return [f"line {error.line}: {error.message}" for error in relaxng.error_log]


def with_nodes_online(cib: etree._Element) -> etree._Element:
    """A copy whose status says every configured node is up with quorum,
    so crm_verify checks the configuration, not the absence of a cluster."""
    copy_ = copy.deepcopy(cib)
    copy_.set("have-quorum", "1")
    status = copy_.find("status")
    if status is None:
        status = etree.SubElement(copy_, "status")
    for child in list(status):
        status.remove(child)
    for node in copy_.iterfind("configuration/nodes/node"):
        etree.SubElement(status, "node_state", id=node.get("id"), uname=node.get("uname"),
                         in_ccm="true", crmd="online", join="member", expected="member")
    return copy_


def crm_verify_report(cib: etree._Element, runner: Runner,
                      crm_verify: str = CRM_VERIFY) -> tuple[list[str], list[str]]:
    """(errors, warnings) crm_verify reports for CIB with all nodes online.

    crm_verify exits 78 for warnings and errors alike; only errors make a
    configuration unusable (a deprecation warning about an option someone
    else set must not block an install)."""
    with tempfile.NamedTemporaryFile("wb", suffix=".xml", prefix="sip-ha-cib-") as handle:
        handle.write(etree.tostring(with_nodes_online(cib)))
        handle.flush()
        result = runner.run([crm_verify, "--xml-file", handle.name, "-V"], timeout=60)
    lines = list(dict.fromkeys(
        line.strip() for line in (result.stderr + result.stdout).splitlines()
        if line.strip() and "-V may provide more details" not in line))
    summaries = ("Configuration may need attention", "Warnings found during check")
    errors = [line for line in lines if re.search(r"error|not valid|invalid", line, re.I)]
    warnings = [line for line in lines if line not in errors
                and not any(text in line for text in summaries)]
    if not result.ok and not errors and not warnings:
        errors = [f"crm_verify exited {result.returncode}"]
    return errors, warnings


def crm_verify_problems(cib: etree._Element, runner: Runner,
                        crm_verify: str = CRM_VERIFY) -> list[str]:
    """The errors crm_verify reports for CIB (empty: usable)."""
    return crm_verify_report(cib, runner, crm_verify)[0]


def check(cib: etree._Element, runner: Runner, folder: str = SCHEMA_DIR,
          crm_verify: str = CRM_VERIFY) -> list[str]:
    """Raise ValidationError unless the schema and crm_verify both accept
    CIB; return crm_verify's warnings."""
    problems = relaxng_problems(cib, folder)
    if problems:
        raise ValidationError(f"not valid against {cib.get('validate-with')}", problems)
    errors, warnings = crm_verify_report(cib, runner, crm_verify)
    if errors:
        raise ValidationError("crm_verify found errors", errors)
    return warnings
