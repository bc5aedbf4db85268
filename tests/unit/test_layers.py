"""Imports go one way: each layer imports only the layers beneath it.

Like pcs's test_lint.py, this reads the source (ast) rather than running
it, so a lazy import inside a function counts as much as one at the top.
Imports under ``if TYPE_CHECKING:`` are for the type checker only and are
left out.  CONTRIBUTING.rst draws the same picture in words.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("sipha_runtime", "ocf_agents", "sync_helper", "cib_templates", "sip_ha", "bench",
            "tests", "vagrant")

# Inside ocf_agents the folder is the layer: framework/ (the OCF contract),
# clients/ (protocol clients, usable without OCF), shared/ (parts a few agents
# share); the agents Pacemaker runs are the modules directly in ocf_agents/
# (installed shims import ocf_agents.<agent>).
OCF_SUBPACKAGES = {"framework": "ocf-framework", "clients": "ocf-clients",
                   "shared": "ocf-shared"}

PRODUCT = {"runtime", "ocf-framework", "ocf-clients", "ocf-shared", "ocf-agents", "sync",
           "alert", "cib", "cli"}
# layer -> the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "runtime": set(),
    "ocf-framework": {"runtime"},
    "ocf-clients": {"runtime"},
    "ocf-shared": {"runtime", "ocf-framework", "ocf-clients"},
    "sync": {"runtime"},
    "ocf-agents": {"runtime", "ocf-framework", "ocf-clients", "ocf-shared", "sync"},
    "alert": {"runtime"},
    "cib": {"runtime"},
    "cli": PRODUCT - {"cli"},
    "bench": PRODUCT | {"tests-support"},
    "demo": PRODUCT | {"tests-support"},  # vagrant/demo_pbx.py: the cluster harness
    "tests-support": set(PRODUCT),
    "tests-unit": PRODUCT | {"tests-support"},
    "tests-integration": PRODUCT | {"tests-support"},
    "tests-cluster": PRODUCT | {"tests-support"},
    "tests": set(),
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    top = parts[0]
    if top == "sipha_runtime":
        return "runtime"
    if top == "ocf_agents":
        if len(parts) == 1:
            return "ocf-framework"  # the package itself, empty
        if (REPO / "ocf_agents" / parts[1]).is_dir():
            assert parts[1] in OCF_SUBPACKAGES, f"{module}: add its folder to OCF_SUBPACKAGES"
            return OCF_SUBPACKAGES[parts[1]]
        return "ocf-agents"
    if top == "sync_helper":
        return "sync"
    if top == "cib_templates":
        return "cib"
    if top == "sip_ha":
        # The alert agent is beside the OCF agents (both check recipients
        # with sipha_runtime.recipients); it stays in sip_ha/alert because
        # installed alert shims import sip_ha.alert.agent.  sip_ha/__init__.py
        # imports nothing.
        return "alert" if parts[1:2] == ["alert"] else "cli"
    if top == "bench":
        return "bench"
    if top == "vagrant":
        return "demo"
    if top == "tests":
        return f"tests-{parts[1]}" if len(parts) > 2 else "tests"
    raise AssertionError(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> list[Path]:
    found = []
    for package in PACKAGES:
        found += sorted((REPO / package).rglob("*.py"))
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of what PATH imports of ours, outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = module_name(path)
    # tests/cluster puts itself on sys.path: a bare "import cluster_checks"
    # anywhere is a tests/cluster import (vagrant/demo_pbx.py once did that).
    local = {p.stem for p in (REPO / "tests" / "cluster").glob("*.py")}
    found: list[tuple[int, str]] = []

    def ours(name: str) -> bool:
        return name.split(".", maxsplit=1)[0] in PACKAGES

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            for child in node.orelse:  # type: ignore[attr-defined]
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    found.append((node.lineno, alias.name))
                elif alias.name in local:
                    found.append((node.lineno, f"tests.cluster.{alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = here.split(".")[: -node.level or None]
                base = ".".join([*package, *([base] if base else [])])
            if base in local:
                found.append((node.lineno, f"tests.cluster.{base}"))
            elif ours(base):
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    is_module = (REPO / Path(*candidate.split("."))).with_suffix(".py").exists() \
                        or (REPO / Path(*candidate.split("."))).is_dir()
                    found.append((node.lineno, candidate if is_module else base))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def test_every_import_points_down() -> None:
    wrong = []
    for path in sources():
        source = layer_of(module_name(path))
        for line, target in imports(path):
            layer = layer_of(target)
            if layer != source and layer not in ALLOWED[source]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {source} imports {target} "
                             f"({layer})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles_between_modules() -> None:
    graph = {module_name(p): {t for _, t in imports(p)} for p in sources()}
    cycles = []
    for start in graph:
        # depth-first search from START, looking for a way back to it
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*trail, nxt]))
    assert not cycles, "\n".join(sorted(cycles))


def test_the_modules_directly_in_ocf_agents_are_the_agents_pacemaker_runs() -> None:
    """A helper belongs in framework/, clients/ or shared/, where its layer is."""
    from sip_ha.install import AGENTS

    found = {f"ocf_agents.{path.stem}" for path in (REPO / "ocf_agents").glob("*.py")
             if path.stem != "__init__"}
    assert found == set(AGENTS.values())


def test_sip_ha_package_itself_imports_nothing() -> None:
    """Importing the alert agent (sip_ha.alert) must not load the CLI."""
    assert imports(REPO / "sip_ha" / "__init__.py") == []


@pytest.mark.parametrize("module", ["sipha_runtime.run", "sync_helper.syncer",
                                    "ocf_agents.framework.ocf_cli", "bench.asterisk_bench",
                                    "vagrant.demo_pbx"])
def test_the_checker_sees_imports(module: str) -> None:
    """The imports the layering was built to remove are seen when present."""
    path = REPO / Path(*module.split(".")).with_suffix(".py")
    assert imports(path), f"{module} imports nothing of ours?"


# written so that this file does not match itself
WAYS_TO_SKIP = ("pytest." + "skip(", "mark." + "skipif", "import" + "orskip")


def test_skips_go_through_the_one_policy() -> None:
    """A missing component fails unless the run opts in (tests/support/missing.py)."""
    policy = REPO / "tests" / "support" / "missing.py"
    offenders = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if path == policy:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(word in line for word in WAYS_TO_SKIP):
                offenders.append(f"{path.relative_to(REPO)}:{number}")
    assert not offenders, "\n".join(offenders)
