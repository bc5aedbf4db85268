"""The one version of SIP-HA: the installed package's metadata (setup.cfg)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    F = TypeVar("F", bound=Callable[..., Any])

DISTRIBUTION = "sip-ha"


def version() -> str:
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a checkout never installed
        return "unknown (not installed)"


def banner(program: str) -> str:
    """What every program prints for --version."""
    return f"{program} (SIP-HA) {version()}"


def click_option() -> Callable[[F], F]:
    """``--version`` for a click command: BANNER, then exit 0."""
    import click

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            click.echo(banner(ctx.find_root().info_name or DISTRIBUTION))
            ctx.exit()

    return click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                        callback=show, help="Print the version and exit.")
