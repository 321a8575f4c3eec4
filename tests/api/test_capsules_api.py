"""Zun's /v1/capsules as the API records and shows them (no processors run here, so a new
capsule stays Creating with no containers yet)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from higgins import events
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from tests.api.conftest import error_of
from tests.api.test_policy import ADMIN, MEMBER, OTHER_MEMBER, READER

TEMPLATE: dict[str, Any] = {
    "kind": "capsule", "capsuleVersion": "beta",
    "metadata": {"name": "pair", "labels": {"app": "web"}},
    "spec": {"restartPolicy": "OnFailure", "containers": [
        {"name": "server", "image": "busybox:local", "command": ["sh", "-c"], "args": ["x"],
         "resources": {"requests": {"cpu": 0.5, "memory": 64}}, "env": {"A": "b"},
         "workDir": "/tmp", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
        {"image": "busybox:local", "tty": True, "stdin": True}]}}


def create(client: Any, template: Any = None, headers: dict[str, str] = MEMBER) -> Any:
    return client.post("/v1/capsules", json={"template": template or TEMPLATE},
                       headers=headers)


def test_create_answers_202_with_the_capsule_creating(client: Any, bus: EmbeddedBus) -> None:
    response = create(client)
    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["name"], body["labels"], body["cpu"], body["memory"]) == \
        ("Creating", "pair", {"app": "web"}, 0.5, "64")
    assert body["restart_policy"] == {"Name": "on-failure", "MaximumRetryCount": "0"}
    assert "host" not in body and body["containers"] == []
    assert response.headers["Location"].endswith(f"/v1/capsules/{body['uuid']}")
    (request,) = bus.history(events.capsule_subject(body["uuid"]))
    server, other = request["data"]["containers"]
    assert (request["type"], server["name"], server["command"]) == \
        (EventType.CAPSULE_CREATE_REQUESTED, "capsule-pair-server", ["sh", "-c", "x"])
    assert (server["cpu"], server["memory"], server["environment"], server["workdir"]) == \
        (0.5, 64, {"A": "b"}, "/tmp")
    assert (other["name"], other["tty"], other["interactive"]) == ("capsule-pair-1", True, True)


def test_the_template_may_be_a_yaml_or_json_string(client: Any) -> None:
    for text in (json.dumps(TEMPLATE), "kind: capsule\nmetadata: {name: y1}\n"
                 "spec:\n  containers:\n  - image: busybox:local\n"):
        assert create(client, text).status_code == 202


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(lambda t: t["spec"].update(containers=[]), "containers",
                     id="no-containers"),
        pytest.param(lambda t: t.update(kind="pod"), "pod", id="wrong-kind"),
        pytest.param(lambda t: t.pop("metadata"), "metadata", id="no-metadata"),
        pytest.param(lambda t: t["spec"]["containers"][0].update(colour="red"), "colour",
                     id="unknown-container-field"),
        pytest.param(lambda t: t["spec"]["containers"][0].pop("image"), "image",
                     id="no-image"),
        pytest.param(lambda t: t["spec"].update(restartPolicy="Sometimes"), "Sometimes",
                     id="bad-restart-policy"),
    ],
)
def test_a_bad_template_is_400_saying_why(client: Any, change: Any, expected: str) -> None:
    template = json.loads(json.dumps(TEMPLATE))
    change(template)
    response = create(client, template)
    assert response.status_code == 400
    assert expected in error_of(response)["detail"]


def test_init_containers_are_a_clear_501(client: Any) -> None:
    template = json.loads(json.dumps(TEMPLATE))
    template["spec"]["initContainers"] = [{"image": "busybox:local"}]
    response = create(client, template)
    assert response.status_code == 501
    assert "init containers" in error_of(response)["detail"]


def test_show_by_uuid_or_name_and_list_in_the_project(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    assert client.get("/v1/capsules/pair", headers=READER).get_json()["uuid"] == uuid
    assert client.get(f"/v1/capsules/{uuid}", headers=ADMIN).get_json()["host"] is None
    listed = client.get("/v1/capsules", headers=READER).get_json()
    assert [c["uuid"] for c in listed["capsules"]] == [uuid] and listed["next"] is None
    assert client.get(f"/v1/capsules/{uuid}", headers=OTHER_MEMBER).status_code == 404
    assert client.get("/v1/capsules", headers=OTHER_MEMBER).get_json()["capsules"] == []


def test_before_1_32_the_capsule_has_its_legacy_fields(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    legacy = client.get(f"/v1/capsules/{uuid}",
                        headers={**READER, "OpenStack-API-Version": "container 1.31"}).get_json()
    assert (legacy["meta_name"], legacy["restart_policy"]) == ("pair", "on-failure")
    assert "name" not in legacy and len(legacy["containers_uuids"]) == 2


def test_a_reader_cannot_create_or_delete(client: Any) -> None:
    assert create(client, headers=READER).status_code == 403
    uuid = create(client).get_json()["uuid"]
    assert client.delete(f"/v1/capsules/{uuid}", headers=READER).status_code == 403


def test_delete_records_the_request_once(client: Any, bus: EmbeddedBus) -> None:
    uuid = create(client).get_json()["uuid"]
    for _ in range(2):
        assert client.delete(f"/v1/capsules/{uuid}", headers=MEMBER).status_code == 204
    kinds = [e["type"] for e in bus.history(events.capsule_subject(uuid))]
    assert kinds == [EventType.CAPSULE_CREATE_REQUESTED, EventType.CAPSULE_DELETE_REQUESTED]


def test_a_capsule_over_quota_is_refused_whole(client: Any) -> None:
    assert client.put("/v1/quotas/p1", json={"containers": 1}, headers=ADMIN).status_code == 200
    response = create(client)
    assert response.status_code == 403
    assert "containers" in error_of(response)["detail"]
    assert client.get("/v1/capsules", headers=READER).get_json()["capsules"] == []
    single = {**TEMPLATE, "spec": {"containers": [{"image": "busybox:local"}]}}
    assert create(client, single).status_code == 202
