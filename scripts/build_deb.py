"""Build the Debian package from this checkout (``make deb``).

    build_deb.py [--version VERSION] [OUTDIR]       default build/deb

Copies the files git knows (tracked and new ones, not ignored, as they are
on disk) into a scratch folder, so the checkout gets no build litter, builds
the binary package there with dpkg-buildpackage (dh-python, pybuild), runs
lintian on it, and leaves the .deb and lintian's report in OUTDIR.  Fails
when debian/changelog and setup.cfg disagree on the version, or when lintian
reports a tag that debian/sip-ha.lintian-overrides does not explain.

``--version`` builds the checkout as another version (the copy's setup.cfg
and a changelog entry; the checkout is not changed): version N+1 of the
same code, for an upgrade test.

A .deb already in OUTDIR that was built from the same files (a digest of
their names, modes and contents, kept beside it) is kept as it is: the
cluster harness asks for the package before every cluster it brings up,
and gets the one the checkout's current files make.
"""

from __future__ import annotations

import argparse
import configparser
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "sip-ha"
# Debian's tools and Python only: a python3 earlier on PATH (pyenv, a venv)
# would build the package against modules Debian does not ship.
# lintian's errors, warnings, info, pedantic and experimental tags (O: is
# overridden, M: masked by lintian's own screens, N: a note).
TAGGED = ("E:", "W:", "I:", "P:", "X:")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent"}


class BuildError(Exception):
    """The package could not be built, or lintian found something."""


def upstream_version(repo: Path = REPO) -> str:
    cfg = configparser.ConfigParser()
    cfg.read(repo / "setup.cfg")
    return cfg["metadata"]["version"]


def changelog_version(repo: Path = REPO) -> str:
    return subprocess.run(["dpkg-parsechangelog", "-l", str(repo / "debian/changelog"),
                           "-S", "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def build(out: Path = REPO / "build" / "deb", version: str | None = None) -> Path:
    """Build the package (as VERSION if given) unless OUTDIR holds it built
    from the same files already; return the .deb's path."""
    missing = [tool for tool in ("dpkg-buildpackage", "dpkg-parsechangelog", "lintian")
               if shutil.which(tool, path=ENV["PATH"]) is None]
    if missing:
        raise BuildError(f"{', '.join(missing)} not installed: run 'make deb-deps'")
    ours = changelog_version()
    if ours != upstream_version():
        raise BuildError(f"debian/changelog says {ours}, setup.cfg {upstream_version()}: "
                         "add a changelog entry (dch -v VERSION)")
    version = version or ours
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{PACKAGE}_{version}_all.deb"
    stamp = deb.with_name(deb.name + ".inputs")
    # Two clusters coming up at once build into the same folder one by one.
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        files = _checkout_files()
        digest = _digest(files, version)
        if deb.is_file() and stamp.is_file() and stamp.read_text() == digest:
            return deb
        # A failed build leaves no older package behind to be installed instead.
        stamp.unlink(missing_ok=True)
        deb.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory(prefix="sipha-deb-") as scratch:
            tree = Path(scratch) / f"{PACKAGE}-{version}"
            for name in files:
                target = tree / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, target)
            if version != ours:
                _set_version(tree, ours, version)
            log = out / "build.log"
            with log.open("w") as handle:
                done = subprocess.run(["dpkg-buildpackage", "-b", "-us", "-uc", "--no-sign"],
                                      cwd=tree, env=ENV, stdout=handle,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      check=False)
            if done.returncode != 0:
                raise BuildError(f"dpkg-buildpackage failed ({done.returncode}); see {log}")
            # Only a package lintian passed lands in OUTDIR.
            lintian(Path(scratch) / deb.name, out / "lintian.txt")
            shutil.copy2(Path(scratch) / deb.name, f"{deb}.new")
            os.replace(f"{deb}.new", deb)
        stamp.write_text(digest)
    return deb


def _set_version(tree: Path, old: str, new: str) -> None:
    cfg = tree / "setup.cfg"
    text = cfg.read_text()
    if f"\nversion = {old}\n" not in text:
        raise BuildError(f"setup.cfg has no line 'version = {old}'")
    cfg.write_text(text.replace(f"\nversion = {old}\n", f"\nversion = {new}\n", 1))
    changelog = tree / "debian" / "changelog"
    stamp = subprocess.run(["date", "-R"], capture_output=True, text=True, check=True).stdout
    entry = (f"{PACKAGE} ({new}) unstable; urgency=medium\n\n"
             f"  * Built by build_deb.py --version {new} from {old}.\n\n"
             f" -- SIP-HA developers <sip-ha@lists.example.org>  {stamp.strip()}\n\n")
    changelog.write_text(entry + changelog.read_text())


def lintian(deb: Path, report: Path) -> None:
    """Every tag lintian shows, info, pedantic and experimental included, must
    be overridden, with a reason, in debian/sip-ha.lintian-overrides."""
    done = subprocess.run(["lintian", "--display-info", "--pedantic", "--display-experimental",
                           "--fail-on", "error,warning", str(deb)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, env=ENV,
                          check=False)
    report.write_text(done.stdout + done.stderr)
    unexplained = [line for line in done.stdout.splitlines() if line[:2] in TAGGED]
    if done.returncode != 0 or unexplained:
        raise BuildError("lintian: " + "; ".join(unexplained or [done.stderr.strip()]))


def _checkout_files() -> list[str]:
    """The files git knows (tracked and new, not ignored) that are on disk."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    # A tracked file deleted but not yet committed is left out.
    return sorted(name for name in listed if name and (REPO / name).is_file())


def _digest(files: list[str], version: str) -> str:
    digest = hashlib.sha256(f"{PACKAGE} {version}\n".encode())
    for name in files:
        path = REPO / name
        digest.update(f"{name}\0{path.stat().st_mode & 0o111:o}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Debian package from this checkout.")
    parser.add_argument("--version", help="build as this version (an upgrade test's N+1)")
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "build" / "deb")
    args = parser.parse_args()
    try:
        deb = build(args.out, args.version)
    except BuildError as err:
        print(f"make deb: {err}", file=sys.stderr)
        return 1
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
