"""Man pages generated from what the programs say about themselves, so they
cannot drift: an OCF agent's page from its meta-data (the sections of
resource-agents' ``ocf_heartbeat_*(7)`` pages, which its ``ra2refentry.xsl``
makes from the same XML), a click command's from its options and help, any
other program's from its module docstring.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable

import click
from lxml import etree

SOURCE = "SIP-HA"


def escape(text: str) -> str:
    """Plain text as roff: backslashes and minus signs literal, no line read
    as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def paragraphs(text: str) -> list[str]:
    """Roff lines for TEXT: blank lines separate paragraphs, indented lines
    (literal blocks, lists) are kept as they are."""
    lines: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        rows = block.splitlines()
        literal = (len(rows) > 1 and rows[0].rstrip().endswith(":")
                   and all(r.startswith(" ") for r in rows[1:]))
        if rows[0].startswith(("- ", "* ")):
            for item in re.split(r"\n(?=[-*] )", block.strip()):
                lines += [".IP \\(bu 2", escape(" ".join(r.strip() for r in item[2:].splitlines()))]
        elif literal:
            lines += [".PP", escape(rows[0].strip()), ".nf", ".RS 4",
                      *(escape(r) for r in rows[1:]), ".RE", ".fi"]
        else:
            lines += [".PP", escape(" ".join(r.strip() for r in rows))]
    return lines


def header(name: str, section: str, version: str, title: str) -> list[str]:
    return [f'.TH "{name.upper()}" "{section}" "" "{SOURCE} {version}" "{title}"',
            ".SH NAME"]


def ocf_agent(metadata: str, provider: str, version: str) -> str:
    """ocf_PROVIDER_NAME(7) from an agent's OCF meta-data."""
    root = etree.fromstring(metadata.encode())
    name = root.get("name")
    shortdesc = root.findtext("shortdesc") or ""
    actions = root.find("actions")
    assert name is not None and actions is not None
    verbs = sorted({a.get("name", "") for a in actions})
    lines = [*header(f"ocf_{provider}_{name}", "7", version, "OCF resource agents"),
             escape(f"ocf_{provider}_{name} - {shortdesc}"),
             ".SH SYNOPSIS",
             f"\\fB{escape(name)}\\fR [{' | '.join(escape(v) for v in verbs)}]",
             ".SH DESCRIPTION",
             *paragraphs(root.findtext("longdesc") or ""),
             ".SH SUPPORTED PARAMETERS"]
    for param in root.iterfind("parameters/parameter"):
        content = param.find("content")
        kind = content.get("type", "string") if content is not None else "string"
        default = content.get("default") if content is not None else None
        facts = ["required" if param.get("required") == "1" else "optional", kind,
                 "no default" if default is None else f'default "{default}"']
        if param.get("unique") == "1":
            facts.insert(1, "unique")
        lines += [".TP", f"\\fB{escape(param.get('name', ''))}\\fR",
                  escape(f"{param.findtext('shortdesc') or ''} ({', '.join(facts)})"),
                  ".IP", escape(param.findtext("longdesc") or "")]
    lines.append(".SH SUPPORTED ACTIONS")
    lines.append("This resource agent supports the following actions (operations):")
    for action in actions:
        extra = [f"{key}={action.get(key)}" for key in ("timeout", "interval", "depth", "role")
                 if action.get(key)]
        lines += [".TP", f"\\fB{escape(action.get('name', ''))}\\fR",
                  escape(" ".join(extra)) or "no defaults"]
    required = [p.get("name", "") for p in root.iterfind("parameters/parameter")
                if p.get("required") == "1"]
    example = " ".join([f"pcs resource create EXAMPLE ocf:{provider}:{name}",
                        *(f"{p}=VALUE" for p in required)])
    lines += [".SH EXAMPLE PCS", ".nf", ".RS 4", escape(example), ".RE", ".fi",
              ".SH SEE ALSO", "\\fBpcs\\fR(8), \\fBcrm_resource\\fR(8), \\fBsip-ha\\fR(8),",
              "/usr/share/doc/sip-ha/README.rst.gz"]
    return "\n".join(lines) + "\n"


def click_command(command: click.Command, prog: str, section: str, version: str,
                  see_also: str) -> str:
    """PROG(SECTION) from a click command and, for a group, every subcommand."""
    help_text = _help(command)
    summary = help_text.splitlines()[0].rstrip(".") if help_text else prog
    lines = [*header(prog, section, version, "SIP-HA"), escape(f"{prog} - {summary}"),
             ".SH SYNOPSIS", *_usage(command, prog), ".SH DESCRIPTION", *paragraphs(help_text)]
    ctx = click.Context(command, info_name=prog)
    lines += _options(command, ctx, ".SH OPTIONS")
    if isinstance(command, click.Group):
        lines.append(".SH COMMANDS")
        for path, sub, sub_ctx in _subcommands(command, ctx, prog):
            lines += [".SS " + escape(path), *_usage(sub, path)]
            lines += paragraphs(_help(sub))
            lines += _options(sub, sub_ctx, "")
    lines += [".SH EXIT STATUS",
              escape('See "Exit codes" in /usr/share/doc/sip-ha/README.rst.gz.'),
              ".SH SEE ALSO", see_also]
    return "\n".join(lines) + "\n"


def docstring_page(doc: str, prog: str, section: str, version: str, see_also: str,
                   usage: str = "") -> str:
    """PROG(SECTION) from a module docstring (its first line is the summary)
    and the program's own usage text, if it has one."""
    first, _, rest = doc.strip().partition("\n")
    summary = first.split(":", 1)[-1].strip().rstrip(".") or prog
    lines = [*header(prog, section, version, "SIP-HA"), escape(f"{prog} - {summary}")]
    if usage:
        lines += [".SH SYNOPSIS", ".nf", *(escape(r) for r in usage.rstrip().splitlines()), ".fi"]
    lines += [".SH DESCRIPTION", *paragraphs(rest.replace("``", "")),
             ".SH SEE ALSO", see_also]
    return "\n".join(lines) + "\n"


def _help(command: click.Command) -> str:
    """The help as click shows it: dedented, up to a form feed."""
    return inspect.cleandoc(command.help or "").split("\f")[0].strip()


def _usage(command: click.Command, prog: str) -> list[str]:
    pieces = command.collect_usage_pieces(click.Context(command, info_name=prog))
    return [".nf", f"\\fB{escape(prog)}\\fR {escape(' '.join(pieces))}", ".fi"]


def _options(command: click.Command, ctx: click.Context, title: str) -> list[str]:
    records = [r for p in command.get_params(ctx) if (r := p.get_help_record(ctx))]
    lines = [title] if title and records else []
    for names, text in records:
        lines += [".TP", f"\\fB{escape(names)}\\fR", escape(text or "")]
    return lines


def _subcommands(group: click.Group, ctx: click.Context,
                 prefix: str) -> Iterable[tuple[str, click.Command, click.Context]]:
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = click.Context(sub, info_name=name, parent=ctx)
        path = f"{prefix} {name}"
        yield path, sub, sub_ctx
        if isinstance(sub, click.Group):
            yield from _subcommands(sub, sub_ctx, path)
