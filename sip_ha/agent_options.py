"""A service's ``[service.options]`` checked by its agent's own parameter
parsing before they reach the CIB: a value the agent refuses makes every
action of it exit 6 (not configured) on every node, and Pacemaker stops the
service everywhere, so ``cib render``, ``diff`` and ``apply`` refuse it
first, with the agent's line."""

from __future__ import annotations

import importlib

from cib_templates.params import ClusterParams, ParamError
from ocf_agents.framework.ocf_errors import OCFError

# server -> the module of the agent that runs it
AGENTS = {"asterisk": "ocf_agents.asterisk", "sipserver": "ocf_agents.sipserver"}


def check(params: ClusterParams) -> None:
    """Raise ParamError for the first option an agent would refuse."""
    for service in params.services:
        agent = importlib.import_module(AGENTS[service.server]).AGENT
        for spec in agent.config.params:
            if spec.name not in service.options:
                continue
            try:
                spec.convert(service.options[spec.name])
            except OCFError as err:
                raise ParamError(f"[[service]] {service.name} options: {err.reason} "
                                 f"(ocf:sipha:{agent.name} would refuse it on every node)"
                                 ) from None
