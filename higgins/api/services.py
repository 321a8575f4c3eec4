"""EDGE: what the API is handed by its factory: the bus, the store, and a way to reach agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import flask

from higgins.api import errors, parsing
from higgins.api.identity import Caller, current_caller
from higgins.api.policy import Policy
from higgins.bus.base import Bus
from higgins.processors.quotas import Defaults as QuotaDefaults
from higgins.settings import OpenStackSettings
from higgins.store.base import Store


class AgentDirectory(Protocol):
    """Synchronous calls that must reach the agent on a container's host."""

    def logs(self, host: str, uuid: str, **options: Any) -> str: ...

    def execute(self, host: str, uuid: str, command: list[str], run: bool) -> dict[str, Any]: ...

    def top(self, host: str, uuid: str, ps_args: str | None) -> dict[str, Any]: ...

    def stats(self, host: str, uuid: str, name: str) -> dict[str, Any]: ...

    def call(self, host: str, uuid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Any other synchronous call by name (get_archive, put_archive)."""


@dataclass(frozen=True)
class Services:
    bus: Bus
    store: Store
    agents: AgentDirectory
    policy: Policy
    quota: QuotaDefaults
    service_down_time: float = 60.0  # seconds without a host report before its service is down
    allowed_networks: tuple[str, ...] = ()  # CIDRs webhooks may reach although internal
    openstack: OpenStackSettings = OpenStackSettings()  # Glance, Neutron, Cinder (or none)


def services() -> Services:
    found: Services = flask.current_app.extensions["higgins"]
    return found


def authorize(rule: str, project_id: str | None = None) -> Caller:
    """The caller, if policy lets them do `rule` on something of `project_id`; 403 if not."""
    caller = current_caller()
    services().policy.authorize(rule, caller, project_id)
    return caller


def allowed(rule: str, project_id: str | None = None) -> bool:
    return services().policy.allows(rule, current_caller(), project_id)


def granted_flag(name: str, rule: str, project_id: str | None = None) -> bool:
    """The query flag `name` (?all_projects=True...), if policy grants `rule` on something of
    `project_id`; 403 if not, also for a value that is no boolean: a caller who may not ask
    learns that before how to ask."""
    try:
        wanted = parsing.query_bool(name)
    except errors.ApiError:
        authorize(rule, project_id)
        raise
    if wanted:
        authorize(rule, project_id)
    return wanted
