"""Lay out the Debian package from what pybuild installed (debian/rules).

    deb_layout.py DESTDIR LIBDIR

Moves the Python packages from dist-packages into the private folder LIBDIR
(README.Debian says why), then writes from that installed tree: a console
script per entry point in /usr/bin, the agent and alert shims
(``sip_ha.install.package_files``), the man pages (``manpages.py``), bash
completion for the click commands and the example parameter file in
/etc/sip-ha.  Every list comes from the package itself (entry points,
``sip_ha.install.AGENTS``), none is kept here.
"""

from __future__ import annotations

import configparser
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON = "/usr/bin/python3"
# Everything but the SIP probe needs root or the cluster's tools.
SECTION_ONE = {"sip-ha-sip-options"}


def main(dest: Path, libdir: str) -> None:
    private = dest / libdir.lstrip("/")
    _move_packages(sorted((dest / "usr/lib").glob("python3*/dist-packages")), private)
    sys.path.insert(0, str(private))
    import click
    import manpages

    from sip_ha import install

    (dist_info,) = private.glob("*.dist-info")
    version = dist_info.name.split("-")[1].removesuffix(".dist-info")
    (dist_info / "LICENSE").unlink(missing_ok=True)  # debian/copyright has it
    entries = configparser.ConfigParser(delimiters=("=",))
    entries.read(dist_info / "entry_points.txt")
    scripts = dict(entries["console_scripts"])

    files = {f"/usr/bin/{name}": install.script_text(target, PYTHON, libdir,
                                                     install.PACKAGE_MARKER)
             for name, target in scripts.items()}
    files.update(install.package_files(PYTHON, libdir))
    for path, text in files.items():
        _write(dest, path, text, 0o755)

    see_also = ", ".join(f"\\fB{name}\\fR({_section(name)})" for name in scripts)
    for name, target in scripts.items():
        module = importlib.import_module(target.split(":")[0])
        section = _section(name)
        command = next((v for v in vars(module).values()
                        if isinstance(v, click.Command) and _is_top(v, module)), None)
        if command is not None:
            page = manpages.click_command(command, name, section, version, see_also)
            _write(dest, f"/usr/share/bash-completion/completions/{name}",
                   _completion(command, name), 0o644)
        else:
            page = manpages.docstring_page(module.__doc__ or name, name, section, version,
                                           see_also, _usage(private, name, target))
        _write(dest, f"/usr/share/man/man{section}/{name}.{section}", page, 0o644)
    for agent, module_name in install.AGENTS.items():
        agent_module = importlib.import_module(module_name)
        page = manpages.ocf_agent(agent_module.AGENT.metadata(), install.PROVIDER, version)
        _write(dest, f"/usr/share/man/man7/ocf_{install.PROVIDER}_{agent}.7", page, 0o644)
    example = (private / "cib_templates" / "example.toml").read_text(encoding="utf-8")
    _write(dest, "/etc/sip-ha/cluster.toml.example", example, 0o644)


def _move_packages(sites: list[Path], private: Path) -> None:
    """pybuild installs once per supported Python; the code is pure Python,
    so one copy is kept."""
    if not sites:
        raise SystemExit("deb_layout.py: pybuild installed nothing in usr/lib/python3*")
    private.mkdir(parents=True, exist_ok=True)
    for item in sites[0].iterdir():
        shutil.move(str(item), private / item.name)
    for site in sites:
        shutil.rmtree(site.parent)  # usr/lib/python3.X
    lib = sites[0].parent.parent
    if not any(lib.iterdir()):
        lib.rmdir()


def _is_top(command: object, module: object) -> bool:
    """The module's outermost command: no other group there holds it."""
    import click

    return not any(isinstance(g, click.Group) and command in g.commands.values()
                   for g in vars(module).values())


def _completion(command: object, name: str) -> str:
    from click.shell_completion import BashComplete

    var = "_{}_COMPLETE".format(name.replace("-", "_").upper())
    return BashComplete(command, {}, name, var).source()  # type: ignore[arg-type]


def _usage(private: Path, name: str, target: str) -> str:
    """What ``NAME --help`` prints, if it answers with a usage (argparse does);
    empty for a program that takes no options."""
    module, function = target.split(":")
    code = (f"import sys; sys.path.insert(0, {str(private)!r}); sys.argv = [{name!r}, '--help']; "
            f"from {module} import {function}; sys.exit({function}())")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
                          stdin=subprocess.DEVNULL, timeout=30, check=False)
    return done.stdout if done.returncode == 0 and done.stdout.startswith("usage:") else ""


def _section(name: str) -> str:
    return "1" if name in SECTION_ONE else "8"


def _write(dest: Path, path: str, text: str, mode: int) -> None:
    target = dest / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    os.chmod(target, mode)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: deb_layout.py DESTDIR LIBDIR")
    main(Path(sys.argv[1]), sys.argv[2])
