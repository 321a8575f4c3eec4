"""EDGE: how the API reaches the agent on a container's host for synchronous calls: in the
same process (embedded), or over the agent's HTTP API at the URL its host report carries,
each call signed with the key the API and the agents share ([agent] auth_key)."""

from __future__ import annotations

import json
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import requests

from higgins.api import errors
from higgins.faults import DriverError
from higgins.processors import signing
from higgins.store.base import Store

T = TypeVar("T")
LOG = logging.getLogger(__name__)
_TIMEOUT_SECONDS = 60.0


def _unreachable(host: str) -> errors.ApiError:
    return errors.ApiError(503, "container.host_unavailable",
                           f"The agent of host {host} is not reachable.")


class Agent(Protocol):
    """What the API asks of an agent in its own process (agents.agent.Agent)."""

    def logs(self, uuid: str, **options: Any) -> str: ...

    def execute(self, uuid: str, command: list[str], run: bool) -> dict[str, Any]: ...

    def top(self, uuid: str, ps_args: str | None) -> dict[str, Any]: ...

    def stats(self, uuid: str, name: str) -> dict[str, Any]: ...

    def answer(self, call: str, uuid: str, body: dict[str, Any]) -> dict[str, Any]: ...


class LocalAgents:
    """Agents running in this process (the embedded all-in-one)."""

    def __init__(self, agents: dict[str, Agent]) -> None:
        self._agents = agents

    def _call(self, host: str, call: Callable[[Agent], T]) -> T:
        agent = self._agents.get(host)
        if agent is None:
            raise _unreachable(host)
        try:
            return call(agent)
        except DriverError as error:
            raise errors.conflict(str(error), code="container.runtime_error") from error

    def logs(self, host: str, uuid: str, **options: Any) -> str:
        return self._call(host, lambda agent: agent.logs(uuid, **options))

    def execute(self, host: str, uuid: str, command: list[str], run: bool) -> dict[str, Any]:
        return self._call(host, lambda agent: agent.execute(uuid, command, run))

    def top(self, host: str, uuid: str, ps_args: str | None) -> dict[str, Any]:
        return self._call(host, lambda agent: agent.top(uuid, ps_args))

    def stats(self, host: str, uuid: str, name: str) -> dict[str, Any]:
        return self._call(host, lambda agent: agent.stats(uuid, name))

    def call(self, host: str, uuid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(host, lambda agent: agent.answer(name, uuid, body))


class RemoteAgents:
    """Agents in other processes: each host's report names its agent's URL."""

    def __init__(self, store: Store, auth_key: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._key = auth_key
        self._clock = clock
        self._http = requests.Session()

    def _call(self, host: str, uuid: str, call: str, body: dict[str, Any]) -> Any:
        state = self._store.load_host(host)
        if state is None or not state.agent_url:
            raise _unreachable(host)
        url = f"{state.agent_url}/containers/{uuid}/{call}"
        payload = json.dumps(body).encode()
        signed = signing.Call("POST", host, urllib.parse.urlsplit(url).path, payload)
        headers = {"Content-Type": "application/json",
                   **signing.headers(self._key, signed, self._clock(), secrets.token_hex(16))}
        try:
            response = self._http.post(url, data=payload, headers=headers,
                                       timeout=_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            raise _unreachable(host) from error
        if response.status_code == 409:
            raise errors.conflict(response.json()["error"], code="container.runtime_error")
        if response.status_code == 401:
            LOG.error("the agent of host %s refused the API's signed call (%s): give the API "
                      "and the agents the same [agent] auth_key, and keep their clocks within "
                      "%d s", host, response.text[:200].strip(), signing.WINDOW_SECONDS,
                      extra={"host": host, "uuid": uuid})
        if response.status_code != 200:
            raise _unreachable(host)
        return response.json()

    def logs(self, host: str, uuid: str, **options: Any) -> str:
        return str(self._call(host, uuid, "logs", options)["logs"])

    def execute(self, host: str, uuid: str, command: list[str], run: bool) -> dict[str, Any]:
        found: dict[str, Any] = self._call(host, uuid, "execute",
                                           {"command": command, "run": run})
        return found

    def top(self, host: str, uuid: str, ps_args: str | None) -> dict[str, Any]:
        found: dict[str, Any] = self._call(host, uuid, "top", {"ps_args": ps_args})
        return found

    def stats(self, host: str, uuid: str, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call(host, uuid, "stats", {"name": name})
        return found

    def call(self, host: str, uuid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self._call(host, uuid, name, body)
        return found
