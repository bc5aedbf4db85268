"""``sip-ha``: the operator command line (a thin layer over the library).

Exit codes: 0 done, 1 the action failed (the message says why), 2 wrong usage.
"""

from __future__ import annotations

import click

from sip_ha import install as installer


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Run and inspect a SIP-HA cluster."""


@cli.command("install-agents")
@click.option("--uninstall", is_flag=True, help="Remove the agents this command installed.")
@click.option("--ocf-root", default="/usr/lib/ocf", show_default=True, envvar="OCF_ROOT",
              help="Root of the OCF tree Pacemaker uses.")
def install_agents(uninstall: bool, ocf_root: str) -> None:
    """Install the ocf:sipha:* agents for Pacemaker (or remove them)."""
    try:
        paths = installer.uninstall(ocf_root) if uninstall else installer.install(ocf_root)
    except (installer.InstallError, OSError) as err:
        raise click.ClickException(str(err)) from None
    verb = "removed" if uninstall else "installed"
    for path in paths:
        click.echo(f"{verb} {path}")
    if not paths:
        click.echo(f"nothing to remove in {installer.provider_dir(ocf_root)}")


def main() -> None:
    cli()
