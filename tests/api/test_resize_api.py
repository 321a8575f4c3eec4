"""The TTY resizes (resize, execute_resize) reach the container's host with the size asked
for; resize_container (1.19) changes cpu and memory as PATCH does."""

from __future__ import annotations

from typing import Any

import flask
import pytest

from higgins import api
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import MEMBER_OF_P1, NoAgents, error_of, running


class RecordingAgents(NoAgents):
    """The agent seam, recording the synchronous calls the API makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict[str, Any]]] = []

    def call(self, host: str, uuid: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((host, uuid, name, body))
        return {}


@pytest.fixture
def agents() -> RecordingAgents:
    return RecordingAgents()


@pytest.fixture
def app(bus: EmbeddedBus, store: SqliteStore, agents: RecordingAgents) -> flask.Flask:
    return api.create_app(bus, store, agents)


def test_resize_sets_the_tty_size_on_the_containers_host(
        client: Any, bus: EmbeddedBus, store: SqliteStore, agents: RecordingAgents) -> None:
    uuid = running(client, bus, store, tty=True)
    response = client.post(f"/v1/containers/{uuid}/resize?h=40&w=120", headers=MEMBER_OF_P1)
    assert response.status_code == 200
    assert agents.calls == [("node-1", uuid, "resize", {"h": 40, "w": 120})]


def test_execute_resize_names_the_exec(client: Any, bus: EmbeddedBus, store: SqliteStore,
                                       agents: RecordingAgents) -> None:
    uuid = running(client, bus, store)
    response = client.post(f"/v1/containers/{uuid}/execute_resize?exec_id=e1&h=5&w=6",
                           headers=MEMBER_OF_P1)
    assert response.status_code == 200
    assert agents.calls == [("node-1", uuid, "resize", {"h": 5, "w": 6, "exec_id": "e1"})]


@pytest.mark.parametrize(
    "query",
    [pytest.param("?h=40", id="no-width"), pytest.param("?h=0&w=3", id="zero"),
     pytest.param("?h=a&w=3", id="not-a-number"), pytest.param("?h=1&w=1&x=2", id="unknown")],
)
def test_a_bad_tty_size_is_400(client: Any, bus: EmbeddedBus, store: SqliteStore,
                               agents: RecordingAgents, query: str) -> None:
    uuid = running(client, bus, store)
    response = client.post(f"/v1/containers/{uuid}/resize{query}", headers=MEMBER_OF_P1)
    assert response.status_code == 400
    error_of(response)
    assert agents.calls == []


def test_resize_of_a_container_not_running_is_409(client: Any) -> None:
    uuid = client.post("/v1/containers", json={"image": "busybox:local"},
                       headers=MEMBER_OF_P1).get_json()["uuid"]
    response = client.post(f"/v1/containers/{uuid}/resize?h=1&w=1", headers=MEMBER_OF_P1)
    assert response.status_code == 409
    assert "Cannot resize container" in error_of(response)["detail"]


def test_resize_container_records_an_update(client: Any, bus: EmbeddedBus,
                                            store: SqliteStore) -> None:
    uuid = running(client, bus, store)
    response = client.post(f"/v1/containers/{uuid}/resize_container", json={"memory": 128},
                           headers=MEMBER_OF_P1)
    assert response.status_code == 202
    update = bus.history(uuid)[-1]
    assert (update["type"], update["data"]) == (EventType.UPDATE_REQUESTED, {"memory": 128})


@pytest.mark.parametrize(
    ("version", "body", "status"),
    [pytest.param("1.18", {"memory": 128}, 404, id="before-1.19"),
     pytest.param("1.40", {}, 400, id="nothing-to-change"),
     pytest.param("1.40", {"name": "x1"}, 400, id="rename")],
)
def test_resize_container_refusals(client: Any, bus: EmbeddedBus, store: SqliteStore,
                                   version: str, body: dict[str, Any], status: int) -> None:
    uuid = running(client, bus, store)
    headers = {**MEMBER_OF_P1, "OpenStack-API-Version": f"container {version}"}
    response = client.post(f"/v1/containers/{uuid}/resize_container", json=body,
                           headers=headers)
    assert response.status_code == status
    error_of(response)
