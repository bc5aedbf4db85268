"""How sip-ha prints for programs: ``--output-as json`` (crm_mon's option
name; pcs's ``--output-format`` is the same idea).  Each document carries
``api_version`` and follows a JSON Schema shipped in ``sip_ha/schemas/``:
``status.json``, ``move.json`` (failover, failback), ``logs.json``,
``cib-diff.json``.  Errors stay one sentence on stderr with the exit code;
stdout then stays empty."""

from __future__ import annotations

import json
import os

import click

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

TEXT, JSON = "text", "json"
API_VERSION = 1
SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def option(schema: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--output-as", "output_as", type=click.Choice([TEXT, JSON]), default=TEXT,
        show_default=True,
        help=f"text for people; json for programs (JSON Schema: sip_ha/schemas/{schema}).")


def schema_path(name: str) -> str:
    return os.path.join(SCHEMA_DIR, name)


def document(fields: dict[str, Any]) -> str:
    return json.dumps({"api_version": API_VERSION, **fields}, indent=2) + "\n"


def emit(fields: dict[str, Any]) -> None:
    click.echo(document(fields), nl=False)
