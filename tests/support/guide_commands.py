"""The commands of docs/deployment-guide.rst that a test runs, read from the
guide itself so that the guide cannot drift from what works.

A tested block is an rst comment the reader does not see, then a
``code-block``::

    .. tested-on: sid
       expect: * Promoted: [ pbx1 ]
       retry: 120

    .. code-block:: console

       [root@pbx1 ~]# crm_mon -1
       ...

The comment names the test clusters that run the block (``sid``,
``bookworm``).  Its options, one a line: ``expect:`` a line (or part of one)
the command's output must show, checked against the output the guide shows
too; ``exit:`` the exit codes allowed (default 0); ``retry:`` seconds during
which a command whose expectation is not met yet is run again (for a state
that takes a while to settle; only read-only commands); ``file:
NODE:PATH`` for a block whose text is written to that file on NODE instead
of run.  In a console block every command starts with the prompt
``[root@NODE DIR]#``, a line ending in a backslash continues it, and the
lines after it are its output.  Anything the extractor cannot read is a
``GuideError`` naming the line: nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "deployment-guide.rst"
MARKER = re.compile(r"^\.\. tested-on:(?P<targets>.*)$")
DIRECTIVE = re.compile(r"^\.\. code-block::\s*(?P<language>\S+)\s*$")
PROMPT = re.compile(r"^\[root@(?P<node>[a-z][a-z0-9-]*) (?:~|/\S*)\]# (?P<command>.*)$")
# Prompts of other shells and users: a command the extractor would miss.
OTHER_PROMPT = re.compile(r"^(?:\S*[$#%] |\[\S+@\S+ [^\]]*\][$#] ?|\S+@\S+:\S*[$#] ?)")
OPTIONS = ("expect", "exit", "retry", "file")


class GuideError(Exception):
    """The guide's tested blocks cannot be read as they are written."""


@dataclass(frozen=True)
class Command:
    """A command to run on NODE, with what the guide shows after it."""
    node: str
    command: str
    output: tuple[str, ...]
    expect: tuple[str, ...]
    exits: frozenset[int]
    retry: float
    line: int


@dataclass(frozen=True)
class File:
    """Text the guide has the reader write to PATH on NODE."""
    node: str
    path: str
    text: str
    line: int


Step = Command | File


def normalized(text: str) -> str:
    """TEXT with each run of white space one space: expectations are loose
    about alignment."""
    return " ".join(text.split())


def load(target: str, path: Path = GUIDE) -> list[Step]:
    return extract(path.read_text(encoding="utf-8"), target, str(path))


def extract(text: str, target: str, source: str = "guide") -> list[Step]:
    """The steps of every block tested on TARGET, in the guide's order.
    GuideError if a tested block cannot be read, or if none is tested on
    TARGET."""
    lines = text.splitlines()
    steps: list[Step] = []
    seen_any = False
    index = 0
    while index < len(lines):
        match = MARKER.match(lines[index])
        if not match:
            index += 1
            continue
        seen_any = True
        where = f"{source}:{index + 1}"
        targets = match["targets"].replace(",", " ").split()
        if not targets:
            raise GuideError(f"{where}: 'tested-on:' names no test cluster")
        options, index = _options(lines, index + 1, where)
        language, body, first, index = _block(lines, index, where)
        block_steps = _steps(language, body, first, options, where, source)
        if target in targets:
            steps += block_steps
    if not steps:
        raise GuideError(f"{source}: no block is marked '.. tested-on: {target}'"
                         + ("" if seen_any else " (no tested block at all)"))
    return steps


def _options(lines: list[str], index: int, where: str) -> tuple[dict[str, list[str]], int]:
    """The marker comment's indented option lines, and the index after them."""
    options: dict[str, list[str]] = {}
    while index < len(lines) and lines[index].startswith((" ", "\t")) and lines[index].strip():
        key, sep, value = lines[index].strip().partition(":")
        if not sep or key not in OPTIONS:
            raise GuideError(f"{where}: cannot read the option {lines[index].strip()!r} "
                             f"(known: {', '.join(OPTIONS)})")
        if not value.strip():
            raise GuideError(f"{where}: option {key!r} has no value")
        options.setdefault(key, []).append(value.strip())
        index += 1
    return options, index


def _block(lines: list[str], index: int, where: str) -> tuple[str, list[str], int, int]:
    """The code block after a marker: (language, dedented lines, number of
    its first line, the index after it)."""
    while index < len(lines) and not lines[index].strip():
        index += 1
    directive = DIRECTIVE.match(lines[index]) if index < len(lines) else None
    if not directive:
        raise GuideError(f"{where}: a tested-on marker must be followed by a "
                         "'.. code-block::' directive")
    index += 1
    while index < len(lines) and lines[index].strip().startswith(":"):
        index += 1                                  # the directive's options
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index >= len(lines) or not lines[index].startswith((" ", "\t")):
        raise GuideError(f"{where}: the code block after the marker is empty")
    indent = len(lines[index]) - len(lines[index].lstrip())
    first = index + 1
    body: list[str] = []
    while index < len(lines) and (not lines[index].strip()
                                  or len(lines[index]) - len(lines[index].lstrip()) >= indent):
        body.append(lines[index][indent:])
        index += 1
    while body and not body[-1].strip():
        body.pop()
    return directive["language"], body, first, index


def _steps(language: str, body: list[str], first: int, options: dict[str, list[str]],
           where: str, source: str) -> list[Step]:
    if "file" in options:
        if language == "console":
            raise GuideError(f"{where}: 'file:' needs the file's text, not a console block")
        if set(options) - {"file"}:
            raise GuideError(f"{where}: 'file:' takes no other option")
        node, sep, path = options["file"][0].partition(":")
        if not sep or not node or not path.startswith("/") or len(options["file"]) > 1:
            raise GuideError(f"{where}: 'file:' is one NODE:/absolute/path")
        return [File(node, path, "\n".join(body) + "\n", first)]
    if language != "console":
        raise GuideError(f"{where}: a tested block is a console block (or has 'file:'), "
                         f"not {language!r}")
    exits = _exits(options.get("exit", ["0"]), where)
    retry = _retry(options.get("retry", ["0"]), where)
    commands = _commands(body, first, source)
    expect = options.get("expect", [])
    placed: dict[int, list[str]] = {}
    for wanted in expect:
        owner = next((n for n, c in enumerate(commands)
                      if any(normalized(wanted) in normalized(out) for out in c[3])), None)
        if owner is None:
            raise GuideError(f"{where}: expected {wanted!r} is not in the output the guide "
                             "shows")
        placed.setdefault(owner, []).append(wanted)
    return [Command(node, command, tuple(output), tuple(placed.get(n, ())), exits, retry, line)
            for n, (node, command, line, output) in enumerate(commands)]


def _commands(body: list[str], first: int,
              source: str) -> list[tuple[str, str, int, list[str]]]:
    """(node, command, line number, output lines) per prompt in BODY."""
    commands: list[tuple[str, str, int, list[str]]] = []
    index = 0
    while index < len(body):
        number = first + index
        prompt = PROMPT.match(body[index])
        if prompt:
            parts = [prompt["command"]]
            while parts[-1].endswith("\\"):
                index += 1
                if index >= len(body) or not body[index].strip():
                    raise GuideError(f"{source}:{number}: the command continues past its block")
                parts[-1] = parts[-1][:-1].rstrip()
                parts.append(body[index].strip())
            command = " ".join(parts).strip()
            if not command:
                raise GuideError(f"{source}:{number}: a prompt without a command")
            if "<<" in command:
                raise GuideError(f"{source}:{number}: a here-document cannot be run from the "
                                 "guide; show the file in a 'file:' block instead")
            commands.append((prompt["node"], command, number, []))
        elif OTHER_PROMPT.match(body[index]):
            raise GuideError(f"{source}:{number}: cannot read this prompt; a tested "
                             f"command starts with '[root@NODE ~]# ': {body[index]!r}")
        elif not commands:
            raise GuideError(f"{source}:{number}: output before any command: {body[index]!r}")
        else:
            commands[-1][3].append(body[index])
        index += 1
    return commands


def _exits(values: list[str], where: str) -> frozenset[int]:
    try:
        return frozenset(int(word) for value in values for word in value.split())
    except ValueError:
        raise GuideError(f"{where}: 'exit:' takes exit codes, not {values!r}") from None


def _retry(values: list[str], where: str) -> float:
    try:
        seconds = float(values[-1])
    except ValueError:
        raise GuideError(f"{where}: 'retry:' takes seconds, not {values[-1]!r}") from None
    if len(values) > 1 or seconds < 0:
        raise GuideError(f"{where}: one 'retry:' of zero or more seconds")
    return seconds
