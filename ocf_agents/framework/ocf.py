"""The OCF 1.1 resource-agent contract, and nothing else.

An agent module declares its parameters once (a ``Config`` subclass), its
actions (handlers returning an ``OCFCode``) and hands both to ``Agent``.
Everything else comes from that declaration: meta-data, validation, the
interactive ``--help``/options surface and the typed, frozen values the
handlers receive.

Pacemaker calls an agent with the action as the only argument and the
parameters in ``OCF_RESKEY_*``.  That path (``Agent.main``) imports neither
click nor lxml: they cost more than a whole shell-agent monitor.  Only
``meta-data`` loads lxml and only a person typing options or ``--help``
loads click.
"""

from __future__ import annotations

import os
import sys
import time

from ocf_agents.framework.ocf_errors import (  # noqa: F401 - agents import all of them from here
    ArgsError,
    GenericError,
    NotConfiguredError,
    NotInstalledError,
    OCFCode,
    OCFError,
    PermError,
    UnimplementedError,
)
from sipha_runtime.duration import Duration
from sipha_runtime.errors import Failure
from sipha_runtime.log import Logger, one_line
from sipha_runtime.run import CommandError, Completed, Runner, tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any


# --------------------------------------------------------------------------
# Parameter declarations


_CONTENT_TYPES = {"str": "string", "int": "integer", "bool": "boolean",
                  "Duration": "time", "tuple[str, ...]": "string"}
_TRUE = frozenset({"1", "yes", "true", "on", "y"})
_FALSE = frozenset({"0", "no", "false", "off", "n"})


class Param:
    """One OCF parameter; created with ``param()`` inside a ``Config`` body."""

    __slots__ = ("name", "kind", "default", "shortdesc", "longdesc", "unique",
                 "choices", "check")

    def __init__(self, default: object, shortdesc: str, longdesc: str,
                 unique: bool, choices: tuple[str, ...],
                 check: Callable[[Any], None] | None = None) -> None:
        self.name = ""
        self.kind = "str"
        self.default = default
        self.shortdesc = shortdesc
        self.longdesc = longdesc or shortdesc
        self.unique = unique
        self.choices = choices
        self.check = check

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.kind]

    def default_text(self) -> str | None:
        if self.required:
            return None
        return self.format(self.default)

    def format(self, value: object) -> str:
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "tuple[str, ...]":
            return " ".join(value)  # type: ignore[arg-type]
        if self.kind == "Duration":
            return f"{float(value):g}s"  # type: ignore[arg-type]
        return str(value)

    def convert(self, text: str) -> object:
        """Turn the text Pacemaker passes into this parameter's value."""
        kind = self.kind
        try:
            if kind == "int":
                value: object = int(text.strip(), 10)
            elif kind == "bool":
                lowered = text.strip().lower()
                if lowered not in _TRUE | _FALSE:
                    raise ValueError(text)
                value = lowered in _TRUE
            elif kind == "Duration":
                value = Duration.parse(text)
            elif kind == "tuple[str, ...]":
                value = tuple(text.split())
            else:
                value = text
        except ValueError:
            expected = {"int": "a whole number", "bool": "yes or no",
                        "Duration": "a duration such as 2s or 500ms"}[kind]
            raise NotConfiguredError(
                f"parameter {self.name}={text!r} is not {expected}") from None
        if self.choices and value not in self.choices:
            raise NotConfiguredError(
                f"parameter {self.name}={text!r} is not one of "
                f"{', '.join(self.choices)}")
        if self.check is not None:
            try:
                self.check(value)
            except ValueError as err:
                raise NotConfiguredError(f"parameter {self.name}: {err}") from None
        return value


class _Required:
    def __repr__(self) -> str:
        return "<required>"


_REQUIRED: Any = _Required()


def param(default: Any = _REQUIRED, *, shortdesc: str, longdesc: str = "",
          unique: bool = False, choices: Sequence[str] = (),
          check: Callable[[Any], None] | None = None) -> Any:
    """Declare a parameter; the annotation of the attribute gives its type.
    CHECK, given the converted value, raises ValueError saying what is wrong
    with it: every action then fails with ERR_CONFIGURED and that line (stop
    takes the default instead), as for a value of the wrong type."""
    return Param(default, shortdesc, longdesc, unique, tuple(choices), check)


class Config:
    """Base for an agent's parameter table; instances are frozen values.

    Subclass it with annotated attributes (``str``, ``int``, ``bool``,
    ``Duration``, ``tuple[str, ...]``) whose values come from ``param()``.
    """

    params: tuple[Param, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        declared = []
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            spec = cls.__dict__.get(name)
            if not isinstance(spec, Param):
                continue
            kind = annotation if isinstance(annotation, str) else annotation.__name__
            if kind not in _CONTENT_TYPES:
                raise TypeError(f"{cls.__name__}.{name}: unsupported type {kind}")
            spec.name, spec.kind = name, kind
            declared.append(spec)
        # Own parameters first: agent-specific ones read before shared ones in meta-data.
        cls.params = (*declared, *cls.params)

    def __init__(self, **values: object) -> None:
        for spec in self.params:
            value = values.pop(spec.name, spec.default)
            if value is _REQUIRED:
                raise NotConfiguredError(f"parameter {spec.name} is required")
            object.__setattr__(self, spec.name, value)
        if values:
            raise TypeError(f"unknown parameters: {', '.join(values)}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.params)
        return f"{type(self).__name__}({inner})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, lenient: bool = False,
                 log: Logger | None = None) -> Config:
        """Read ``OCF_RESKEY_<name>``; unset or empty means the default.

        ``lenient`` (for stop) replaces a bad value by its default with a
        warning: a resource must always be stoppable.
        """
        values: dict[str, object] = {}
        for spec in cls.params:
            text = environ.get(f"OCF_RESKEY_{spec.name}", "")
            if not text:
                continue
            try:
                values[spec.name] = spec.convert(text)
            except NotConfiguredError as err:
                if not lenient or spec.required:
                    raise
                if log:
                    log.warning(f"{err.reason}; using the default for this action")
        return cls(**values)


# --------------------------------------------------------------------------
# Node attributes and promotion scores


# Pacemaker's name for the node an action runs on, in the agent's environment.
NODE_VARIABLE = "OCF_RESKEY_CRM_meta_on_node"
# attrd_updater -Q -A: one line per node holding the attribute.
QUERY_LINE = r'host="(?P<node>[^"]*)" value="(?P<value>[^"]*)"'


class NodeAttributes:
    """Transient node attributes (``attrd_updater``) and this resource's
    promotion score (``crm_attribute --promotion``)."""

    def __init__(self, runner: Runner, resource: str) -> None:
        self.runner = runner
        self.resource = resource

    def set(self, name: str, value: str, delay: float | None = None,
            private: bool = False) -> None:
        argv = [tool("attrd_updater"), "-n", name, "-U", value]
        if delay is not None:
            argv = [tool("attrd_updater"), "-n", name, "-B", value, "-d", str(round(delay))]
        if private:
            argv.append("-p")
        self._check(self.runner.run(argv, timeout=5), f"set node attribute {name}")

    def get(self, name: str) -> str | None:
        result = self.runner.run([tool("attrd_updater"), "-Q", "-n", name], timeout=5)
        if not result.ok:
            return None
        marker = 'value="'
        start = result.stdout.find(marker)
        if start < 0:
            return None
        value = result.stdout[start + len(marker): result.stdout.find('"', start + len(marker))]
        return value or None

    def delete(self, name: str) -> None:
        self._check(self.runner.run([tool("attrd_updater"), "-D", "-n", name], timeout=5),
                    f"delete node attribute {name}")

    def everywhere(self, name: str) -> dict[str, str]:
        """Every node's value of NAME, by node (empty when attrd cannot say).
        Without the agent's OCF_RESKEY_CRM_meta_on_node: with it,
        attrd_updater -Q -A answers for that node alone (Pacemaker 2.1.5)."""
        result = self.runner.run([tool("attrd_updater"), "-Q", "-A", "-n", name], timeout=5,
                                 env={NODE_VARIABLE: None})
        if not result.ok:
            return {}
        import re

        return {m["node"]: m["value"] for m in re.finditer(QUERY_LINE, result.stdout)
                if m["value"]}

    def delete_on(self, name: str, node: str) -> None:
        """Remove NAME on NODE; a failure is left to the next try."""
        self.runner.run([tool("attrd_updater"), "-D", "-n", name, "-N", node], timeout=5,
                        env={NODE_VARIABLE: None})

    def set_promotion_score(self, score: int) -> None:
        argv = [tool("crm_attribute"), f"--promotion={self.resource}", "-v", str(score)]
        self._check(self.runner.run(argv, timeout=5), "set the promotion score")

    def clear_promotion_score(self) -> None:
        argv = [tool("crm_attribute"), f"--promotion={self.resource}", "-D"]
        self._check(self.runner.run(argv, timeout=5), "clear the promotion score")

    @staticmethod
    def _check(result: Completed, what: str) -> None:
        if not result.ok:
            raise GenericError(f"could not {what}: {result.summary()}")


# --------------------------------------------------------------------------
# Actions and dispatch


class Context:
    """What a handler knows about the call besides its parameters."""

    def __init__(self, agent: Agent, action: str, environ: Mapping[str, str],
                 log: Logger, timeout: float, runner: Runner | None = None) -> None:
        meta = "OCF_RESKEY_CRM_meta_"
        self.agent = agent.name
        self.action = action
        self.environ = environ
        self.log = log
        self.instance = environ.get("OCF_RESOURCE_INSTANCE", agent.name)
        # The resource whatever clone instance number Pacemaker or
        # crm_resource --force-* appends ("db" for "db:1"): state files and
        # node attributes are named after it.
        self.resource = self.instance.split(":", 1)[0]
        self.interval_ms = _int(environ.get(meta + "interval"), 0)
        self.check_level = _int(environ.get("OCF_CHECK_LEVEL"), 0)
        self.node = environ.get(meta + "on_node", "") or os.uname().nodename
        self.promotable = environ.get(meta + "promotable", "false").lower() in _TRUE
        self.state_dir = environ.get("HA_RSCTMP", "") or "/run/resource-agents"
        self.timeout = timeout
        # Leave a margin so our own cleanup and exit reason beat Pacemaker's kill.
        self.deadline = time.monotonic() + timeout - max(0.5, min(5.0, timeout * 0.1))
        # RUNNER: a test's fake, which then also answers the node attribute calls
        self.run = runner if runner is not None else Runner(self.deadline, log)
        self.attrs = NodeAttributes(self.run, self.resource)

    @property
    def is_probe(self) -> bool:
        return self.action == "monitor" and self.interval_ms == 0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def pacemaker_tool(self, name: str) -> str:
        """Pacemaker's tool NAME as the agent's PATH finds it (a test's stand-in
        first there), else where sipha_runtime.run.tool looks."""
        import shutil

        return shutil.which(name, path=self.environ.get("PATH")) or tool(name)

    def state_file(self, suffix: str) -> str:
        """One file per resource and node, found whether Pacemaker says "db"
        or crm_resource --force-* "db:0" (clone instance numbers dropped)."""
        safe = self.resource.replace("/", "_")
        return os.path.join(self.state_dir, f"sipha-{self.agent}-{safe}.{suffix}")


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


class Operation:
    """An action as advertised in meta-data (defaults pcs copies into the CIB)."""

    __slots__ = ("name", "timeout", "interval", "depth", "role")

    def __init__(self, name: str, timeout: int, interval: int | None = None,
                 depth: int | None = None, role: str | None = None) -> None:
        self.name, self.timeout, self.interval = name, timeout, interval
        self.depth, self.role = depth, role


_BUILTIN = ("meta-data", "usage", "validate-all")
# Actions whose parameters must be valid on every node before anything runs.
_STRICT = ("start", "promote", "reload", "migrate_to", "migrate_from")


class Agent:
    """An agent: its parameter table, its handlers and advertised operations."""

    def __init__(self, name: str, *, version: str, shortdesc: str, longdesc: str,
                 config: type[Config], handlers: Mapping[str, Callable[..., OCFCode]],
                 operations: Iterable[Operation],
                 validate: Callable[..., None] | None = None) -> None:
        self.name = name
        self.version = version
        self.shortdesc = shortdesc
        self.longdesc = longdesc
        self.config = config
        self.handlers = dict(handlers)
        self.operations = tuple(operations)
        self.validate = validate

    @property
    def actions(self) -> tuple[str, ...]:
        return (*self.handlers, *(a for a in _BUILTIN if a not in self.handlers))

    def declared_timeout(self, action: str) -> float:
        for op in self.operations:
            if op.name == action:
                return float(op.timeout)
        return 20.0

    # -- meta-data ---------------------------------------------------------

    def metadata(self) -> str:
        from lxml import etree

        root = etree.Element("resource-agent", name=self.name, version=self.version)
        etree.SubElement(root, "version").text = "1.1"
        etree.SubElement(root, "longdesc", lang="en").text = self.longdesc
        etree.SubElement(root, "shortdesc", lang="en").text = self.shortdesc
        params = etree.SubElement(root, "parameters")
        for spec in self.config.params:
            node = etree.SubElement(params, "parameter", name=spec.name,
                                    unique="1" if spec.unique else "0",
                                    required="1" if spec.required else "0")
            longdesc = spec.longdesc
            if spec.choices:
                longdesc += f" One of: {', '.join(spec.choices)}."
            etree.SubElement(node, "longdesc", lang="en").text = longdesc
            etree.SubElement(node, "shortdesc", lang="en").text = spec.shortdesc
            content = etree.SubElement(node, "content", type=spec.content_type)
            default = spec.default_text()
            if default is not None:
                content.set("default", default)
        actions = etree.SubElement(root, "actions")
        for op in self.operations:
            node = etree.SubElement(actions, "action", name=op.name,
                                    timeout=f"{op.timeout}s")
            if op.interval is not None:
                node.set("interval", f"{op.interval}s")
            if op.depth is not None:
                node.set("depth", str(op.depth))
            if op.role:
                node.set("role", op.role)
        for name in ("validate-all", "meta-data"):
            if not any(op.name == name for op in self.operations):
                timeout = "5s" if name == "meta-data" else "20s"
                etree.SubElement(actions, "action", name=name, timeout=timeout)
        doctype = '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">'
        text: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                     doctype=doctype, pretty_print=True)
        return text.decode()

    def usage(self) -> str:
        return f"usage: {self.name} {{{'|'.join(self.actions)}}}\n"

    # -- dispatch ----------------------------------------------------------

    def main(self, argv: Sequence[str] | None = None,
             environ: Mapping[str, str] | None = None) -> None:
        """Entry point for the installed agent: never returns."""
        sys.exit(self.run(sys.argv[1:] if argv is None else argv,
                          os.environ if environ is None else environ))

    def run(self, argv: Sequence[str], environ: Mapping[str, str]) -> int:
        """Map every outcome of one call to an OCF exit code."""
        if len(argv) == 1 and not argv[0].startswith("-"):
            return self.dispatch(argv[0], environ)
        from ocf_agents.framework.ocf_cli import run_interactive

        return run_interactive(self, argv, environ)

    def dispatch(self, action: str, environ: Mapping[str, str],
                 values: Mapping[str, object] | None = None) -> int:
        if action == "meta-data":
            sys.stdout.write(self.metadata())
            return OCFCode.SUCCESS
        if action in ("usage", "help"):
            sys.stdout.write(self.usage())
            return OCFCode.SUCCESS
        log = Logger(self.name, environ.get("OCF_RESOURCE_INSTANCE", self.name), environ)
        if action not in self.actions:
            return _fail(log, UnimplementedError(f"action {action!r} is not implemented"))
        timeout_ms = _int(environ.get("OCF_RESKEY_CRM_meta_timeout"), 0)
        timeout = timeout_ms / 1000 if timeout_ms > 0 else self.declared_timeout(action)
        ctx = Context(self, action, environ, log, timeout)
        try:
            config = (self.config(**values) if values is not None else
                      self.config.from_env(environ, lenient=action == "stop", log=log))
            return int(self._call(action, config, ctx))
        except (OCFError, CommandError) as err:
            return _fail(log, err)
        except Exception as err:  # noqa: BLE001 - every outcome must map to a code
            log.error(f"unexpected error in {action}: {err!r}")
            import traceback

            for line in traceback.format_exc().splitlines():
                log.debug(line)
            return _fail(log, GenericError(f"internal error in {action}: {err}"))

    def _call(self, action: str, config: Config, ctx: Context) -> OCFCode:
        if action == "validate-all":
            if self.validate:
                self.validate(config, ctx)
            handler = self.handlers.get(action)
            return handler(config, ctx) if handler else OCFCode.SUCCESS
        if action in _STRICT and self.validate:
            self.validate(config, ctx)
        return self.handlers[action](config, ctx)


def _fail(log: Logger, err: Failure) -> int:
    reason = one_line(err.reason)
    log.error(reason)
    # Pacemaker shows this line as the failed operation's exit reason.
    sys.stderr.write(f"ocf-exit-reason:{reason}\n")
    sys.stderr.flush()
    return int(err.exit_code)
