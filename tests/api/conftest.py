"""Fixtures: the Flask app over a real embedded bus and store in a temp dir; no Docker, no
processors running, so tests see exactly what the API itself records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask
import flask.testing
import pytest

from higgins import api, events, folding, publishing
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.store.sqlite import SqliteStore

V140 = {"OpenStack-API-Version": "container 1.40"}


class NoAgents:
    """The API tests never reach a host: any attempt is a failure of the test's premise."""

    def logs(self, host: str, uuid: str, **options: Any) -> str:
        raise AssertionError("no agent in API tests")

    def execute(self, host: str, uuid: str, command: list[str], run: bool) -> dict[str, Any]:
        raise AssertionError("no agent in API tests")

    def top(self, host: str, uuid: str, ps_args: str | None) -> dict[str, Any]:
        raise AssertionError("no agent in API tests")

    def stats(self, host: str, uuid: str, name: str) -> dict[str, Any]:
        raise AssertionError("no agent in API tests")

    def call(self, host: str, uuid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("no agent in API tests")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[EmbeddedBus]:
    bus = EmbeddedBus(tmp_path / "events.db")
    yield bus
    bus.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "views.db")
    yield store
    store.close()


@pytest.fixture
def app(bus: EmbeddedBus, store: SqliteStore) -> flask.Flask:
    return api.create_app(bus, store, NoAgents())


@pytest.fixture
def client(app: flask.Flask) -> flask.testing.FlaskClient:
    return app.test_client()


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"errors"}, body
    (error,) = body["errors"]
    assert set(error) == {"request_id", "code", "status", "title", "detail", "links"}
    assert error["status"] == response.status_code
    return dict(error)


MEMBER_OF_P1 = {**V140, "X-Roles": "member", "X-Project-Id": "p1", "X-User-Id": "u1"}


def running(client: Any, bus: EmbeddedBus, store: SqliteStore,
            headers: dict[str, str] | None = None, **body: Any) -> str:
    """A container the API created, then placed and started as the processors and the agent
    would record it (no agent runs in these tests)."""
    response = client.post("/v1/containers", json={"image": "busybox:local", **body},
                           headers=headers or MEMBER_OF_P1)
    assert response.status_code == 202, response.get_json()
    uuid = str(response.get_json()["uuid"])
    cause = bus.history(uuid)[0]
    for kind, data in ((EventType.SCHEDULED, {"host": "node-1"}),
                       (EventType.CREATED, {"container_id": "abc", "host": "node-1"}),
                       (EventType.STARTED, {})):
        bus.publish([events.seal(events.Draft(kind, uuid, data), event_id=publishing.new_id(),
                                 time=publishing.utc_now(), cause=cause)])
    folding.current_container(bus, store, uuid)
    return uuid

