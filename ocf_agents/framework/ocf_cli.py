"""The interactive surface of an agent: ``--help`` and ``--param value``.

Only a person runs an agent this way (Pacemaker passes the action alone),
so this is the one place that imports click.  Each declared parameter
becomes an option that also reads ``OCF_RESKEY_<name>``; whatever click
rejects maps to OCF's "invalid arguments" code.
"""

from __future__ import annotations

import click

from ocf_agents.framework.ocf_errors import NotConfiguredError, OCFCode
from sipha_runtime.version import click_option

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ocf_agents.framework.ocf import Agent


def build_command(agent: Agent, environ: Mapping[str, str]) -> click.Command:
    def callback(action: str, **options: str | None) -> int:
        values: dict[str, object] = {}
        for spec in agent.config.params:
            text = options.get(spec.name)
            if text:
                values[spec.name] = spec.convert(text)
        return agent.dispatch(action, {**environ}, values)

    params: list[click.Parameter] = [
        click.Argument(["action"], metavar=f"{{{'|'.join(agent.actions)}}}")]
    for spec in agent.config.params:
        hint = " (required)" if spec.required else f" [default: {spec.default_text()}]"
        params.append(click.Option(
            [f"--{spec.name.replace('_', '-')}", spec.name],
            envvar=f"OCF_RESKEY_{spec.name}", show_envvar=True,
            help=spec.shortdesc + hint, metavar=spec.content_type.upper()))
    command = click.Command(agent.name, params=params, callback=callback,
                            help=f"{agent.shortdesc}\n\n{agent.longdesc}",
                            context_settings={"max_content_width": 100})
    return click_option()(command)


def run_interactive(agent: Agent, argv: Sequence[str], environ: Mapping[str, str]) -> int:
    command = build_command(agent, environ)
    try:
        result = command.main(list(argv), prog_name=agent.name,
                              standalone_mode=False, auto_envvar_prefix=None)
    except NotConfiguredError as err:
        click.echo(f"ocf-exit-reason:{err.reason}", err=True)
        return int(err.exit_code)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.ClickException as err:
        err.show()
        return int(OCFCode.ERR_ARGS)
    except click.exceptions.Abort:
        return int(OCFCode.ERR_GENERIC)
    return int(result) if isinstance(result, int) else int(OCFCode.SUCCESS)
