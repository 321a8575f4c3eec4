"""EDGE: what the API is handed by its factory: the bus, the store, and a way to reach agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import flask

from higgins.bus.base import Bus
from higgins.store.base import Store


class AgentDirectory(Protocol):
    """Synchronous calls that must reach the agent on a container's host (logs, later exec)."""

    def logs(self, host: str, uuid: str, **options: Any) -> str: ...


@dataclass(frozen=True)
class Services:
    bus: Bus
    store: Store
    agents: AgentDirectory


def services() -> Services:
    found: Services = flask.current_app.extensions["higgins"]
    return found
