"""click help that never breaks a word at a hyphen: paths
(/etc/sip-ha/cluster.toml) and options (--output-as) stay whole on one
line, however narrow the terminal.  click wraps with textwrap, which breaks
at hyphens; its wrapper takes no option, so hyphens are swapped for a
non-breaking one while the text is wrapped, and back."""

from __future__ import annotations

import click

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

_HOLD = "\u2011"  # NON-BREAKING HYPHEN: one column, like "-"


class Formatter(click.HelpFormatter):
    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(text.replace("-", _HOLD))
        self._release(start)

    def write_dl(self, rows: Iterable[tuple[str, str]], *args: Any, **kwargs: Any) -> None:
        start = len(self.buffer)
        super().write_dl([(term, text.replace("-", _HOLD)) for term, text in rows],
                         *args, **kwargs)
        self._release(start)

    def _release(self, start: int) -> None:
        self.buffer[start:] = [part.replace(_HOLD, "-") for part in self.buffer[start:]]


class Context(click.Context):
    formatter_class = Formatter


class Command(click.Command):
    context_class = Context


class Group(click.Group):
    """Use as ``@click.group(cls=Group)``: its commands and groups get it too."""

    context_class = Context
    command_class = Command
    group_class = type
