"""Zun's /v1/images and the commit action as the API records them (no agent runs here: the
pull stays Pulling, the commit's image appears only when an agent reports it)."""

from __future__ import annotations

from typing import Any

import pytest

from higgins import events
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import error_of, running
from tests.api.test_containers_api import create
from tests.api.test_policy import ADMIN, MEMBER
from tests.api.test_services_api import report

REPO = "127.0.0.1:5050/busybox"


def pull(client: Any, body: dict[str, Any], headers: dict[str, str] = ADMIN) -> Any:
    return client.post("/v1/images", json=body, headers=headers)


def test_a_pull_answers_202_with_the_image_on_its_way(client: Any, bus: EmbeddedBus,
                                                      store: SqliteStore) -> None:
    report(bus, store)
    response = pull(client, {"repo": f"{REPO}:v1", "host": "node-1"})
    assert response.status_code == 202
    image = response.get_json()
    assert (image["repo"], image["tag"], image["host"]) == (REPO, "v1", "node-1")
    assert image["image_id"] is None and image["size"] is None
    assert response.headers["Location"].endswith(f"/v1/images/{image['uuid']}")
    assert set(image) == {"uuid", "links", "image_id", "repo", "tag", "size", "project_id",
                          "image_pull_policy", "host"}
    (request,) = bus.history(events.image_subject(image["uuid"]))
    assert request["type"] == EventType.IMAGE_PULL_REQUESTED


def test_a_pulled_image_is_listed_and_shown(client: Any, bus: EmbeddedBus,
                                            store: SqliteStore) -> None:
    report(bus, store)
    uuid = pull(client, {"repo": "busybox", "host": "node-1"}).get_json()["uuid"]
    shown = client.get(f"/v1/images/{uuid}", headers=ADMIN).get_json()
    assert (shown["repo"], shown["tag"]) == ("busybox", "latest")
    listed = client.get("/v1/images", headers=ADMIN).get_json()
    assert [i["uuid"] for i in listed["images"]] == [uuid] and listed["next"] is None


def test_images_page_with_limit_and_marker(client: Any, bus: EmbeddedBus,
                                           store: SqliteStore) -> None:
    report(bus, store)
    uuids = [pull(client, {"repo": f"busybox:v{i}", "host": "node-1"}).get_json()["uuid"]
             for i in range(3)]
    first = client.get("/v1/images?limit=2&sort_key=tag", headers=ADMIN).get_json()
    assert [i["uuid"] for i in first["images"]] == uuids[:2]
    marker = first["next"].split("marker=")[1]
    rest = client.get(f"/v1/images?limit=2&sort_key=tag&marker={marker}",
                      headers=ADMIN).get_json()
    assert [i["uuid"] for i in rest["images"]] == uuids[2:] and rest["next"] is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"repo": "busybox", "host": "nowhere"}, "The host nowhere does not exist",
                     id="unknown-host"),
        pytest.param({"repo": "busybox"}, "host", id="no-host"),
        pytest.param({"host": "node-1"}, "repo", id="no-repo"),
        pytest.param({"repo": "busybox", "host": "node-1", "colour": "red"}, "colour",
                     id="unknown-field"),
        pytest.param({"repo": "busybox", "host": "node-1", "image_pull_policy": "sometimes"},
                     "sometimes", id="bad-policy"),
    ],
)
def test_a_bad_pull_is_400_saying_why(client: Any, bus: EmbeddedBus, store: SqliteStore,
                                      body: dict[str, Any], expected: str) -> None:
    report(bus, store)
    response = pull(client, body)
    assert response.status_code == 400
    assert expected in error_of(response)["detail"]


def test_images_are_for_admins_as_in_zun(client: Any, bus: EmbeddedBus,
                                         store: SqliteStore) -> None:
    report(bus, store)
    assert pull(client, {"repo": "busybox", "host": "node-1"}, MEMBER).status_code == 403
    assert client.get("/v1/images", headers=MEMBER).status_code == 403


def test_an_unknown_image_is_404(client: Any) -> None:
    for ident in ("0b7a3f4e-52d5-4a55-9c39-05d4e62ff2b1", "busybox"):
        response = client.get(f"/v1/images/{ident}", headers=ADMIN)
        assert response.status_code == 404
        assert "could not be found" in error_of(response)["detail"]


def test_delete_records_the_request_once(client: Any, bus: EmbeddedBus,
                                         store: SqliteStore) -> None:
    report(bus, store)
    uuid = pull(client, {"repo": "busybox", "host": "node-1"}).get_json()["uuid"]
    assert client.delete(f"/v1/images/{uuid}", headers=ADMIN).status_code == 204
    assert client.delete(f"/v1/images/{uuid}", headers=ADMIN).status_code == 204
    kinds = [e["type"] for e in bus.history(events.image_subject(uuid))]
    assert kinds == [EventType.IMAGE_PULL_REQUESTED, EventType.IMAGE_DELETE_REQUESTED]


def test_commit_answers_202_with_the_new_images_uuid(client: Any, bus: EmbeddedBus,
                                                     store: SqliteStore) -> None:
    uuid = running(client, bus, store)
    response = client.post(f"/v1/containers/{uuid}/commit?repository=snap&tag=v2",
                           headers=MEMBER)
    assert response.status_code == 202
    image_uuid = response.get_json()["uuid"]
    request = bus.history(uuid)[-1]
    assert request["type"] == EventType.COMMIT_REQUESTED
    assert request["data"] == {"image_uuid": image_uuid, "repository": "snap", "tag": "v2"}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        pytest.param("", 400, id="no-repository"),
        pytest.param("?repository=snap&colour=red", 400, id="unknown-parameter"),
        pytest.param("?repository=" + "x" * 300, 400, id="repository-too-long"),
    ],
)
def test_a_bad_commit_is_400(client: Any, bus: EmbeddedBus, store: SqliteStore, query: str,
                             status: int) -> None:
    uuid = running(client, bus, store)
    response = client.post(f"/v1/containers/{uuid}/commit{query}", headers=MEMBER)
    assert response.status_code == status
    error_of(response)


def test_commit_of_a_container_not_yet_created_is_409(client: Any) -> None:
    uuid = create(client, headers=MEMBER).get_json()["uuid"]
    response = client.post(f"/v1/containers/{uuid}/commit?repository=snap", headers=MEMBER)
    assert response.status_code == 409
    assert "Cannot commit container" in error_of(response)["detail"]


@pytest.mark.parametrize(("method", "path", "body"), [
    pytest.param("POST", "/v1/containers", {"image": "busybox", "image_driver": "glance"},
                 id="create"),
    pytest.param("GET", "/v1/images/busybox/search?image_driver=glance", None, id="search"),
])
def test_the_glance_image_driver_without_glance_is_400_saying_so(
        client: Any, method: str, path: str, body: dict[str, Any] | None) -> None:
    response = client.open(path, method=method, json=body, headers=MEMBER)
    assert response.status_code == 400
    assert "needs Glance" in error_of(response)["detail"]


def test_an_unknown_image_driver_is_400(client: Any) -> None:
    response = client.post("/v1/containers", json={"image": "busybox", "image_driver": "x"},
                           headers=MEMBER)
    assert response.status_code == 400
    assert "image_driver" in error_of(response)["detail"]


@pytest.mark.parametrize("query", ["", "?image_driver=", "?image_driver=None"])
def test_a_search_without_a_driver_is_glances(client: Any, query: str) -> None:
    response = client.get(f"/v1/images/busybox/search{query}", headers=MEMBER)
    assert response.status_code == 400 and "needs Glance" in error_of(response)["detail"]


def test_a_docker_registry_search_is_501(client: Any) -> None:
    response = client.get("/v1/images/busybox/search?image_driver=docker", headers=MEMBER)
    assert response.status_code == 501
