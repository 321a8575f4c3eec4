"""The API's own behaviour: validation, Zun's error format, microversions, read-your-writes."""

from __future__ import annotations

from typing import Any

import pytest

from higgins.bus.embedded import EmbeddedBus
from higgins.processors.model import Status
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import V140, error_of

BUSYBOX = {"image": "busybox:local", "command": ["sleep", "60"]}


def create(client: Any, body: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None) -> Any:
    return client.post("/v1/containers", json=body or BUSYBOX, headers=headers or V140)


def test_create_answers_202_with_the_container_creating(client: Any) -> None:
    response = create(client, {**BUSYBOX, "name": "web-1"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "Creating"
    assert body["task_state"] == "container_creating"
    assert body["name"] == "web-1"
    assert body["command"] == ["sleep", "60"]
    assert response.headers["Location"].endswith(body["uuid"])


def test_create_is_on_the_log_before_the_answer(client: Any, bus: EmbeddedBus) -> None:
    uuid = create(client).get_json()["uuid"]
    (event,) = bus.history(uuid)
    assert event["type"] == "container.create.requested"
    assert event["data"]["image"] == "busybox:local"


def test_the_creator_reads_its_container_at_once(client: Any) -> None:
    uuid = create(client, {**BUSYBOX, "name": "mine"}).get_json()["uuid"]
    assert client.get(f"/v1/containers/{uuid}", headers=V140).get_json()["name"] == "mine"
    assert client.get("/v1/containers/mine", headers=V140).get_json()["uuid"] == uuid
    listed = client.get("/v1/containers", headers=V140).get_json()
    assert [c["uuid"] for c in listed["containers"]] == [uuid] and listed["next"] is None


def test_another_project_does_not_see_the_container(client: Any) -> None:
    uuid = create(client, headers={**V140, "X-Project-Id": "p1"}).get_json()["uuid"]
    other = {**V140, "X-Project-Id": "p2", "X-Roles": "member"}
    assert client.get(f"/v1/containers/{uuid}", headers=other).status_code == 404
    assert client.get("/v1/containers", headers=other).get_json()["containers"] == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        pytest.param({"command": ["ls"]}, "'image' is a required property", id="no-image"),
        pytest.param({**BUSYBOX, "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({**BUSYBOX, "memory": "lots"}, "is not a size", id="memory-word"),
        pytest.param({**BUSYBOX, "memory": "12x"}, "is not a size", id="memory-bad-unit"),
        pytest.param({**BUSYBOX, "memory": "1k"}, "between 4 and", id="memory-too-small"),
        pytest.param({**BUSYBOX, "memory": -5}, "is not a size", id="memory-negative"),
        pytest.param({**BUSYBOX, "cpu": "fast"}, "'cpu'", id="cpu-word"),
        pytest.param({**BUSYBOX, "cpu": 0}, "'cpu'", id="cpu-zero"),
        pytest.param({**BUSYBOX, "name": "-bad"}, "does not match", id="name-leading-dash"),
        pytest.param({**BUSYBOX, "name": "a b"}, "does not match", id="name-space"),
        pytest.param({**BUSYBOX, "name": "x"}, "too short", id="name-one-char"),
        pytest.param({**BUSYBOX, "command": "ls -l"}, "list of strings", id="command-string"),
        pytest.param({**BUSYBOX, "environment": {"A": 1}}, "is not of type", id="env-int"),
        pytest.param({**BUSYBOX, "workdir": "tmp"}, "absolute path", id="workdir-relative"),
        pytest.param({**BUSYBOX, "restart_policy": {"Name": "sometimes"}}, "is not one of",
                     id="restart-policy-name"),
        pytest.param({**BUSYBOX, "restart_policy": {"Name": "always", "MaximumRetryCount": 3}},
                     "only valid with 'on-failure'", id="restart-count-with-always"),
        pytest.param({**BUSYBOX, "image_pull_policy": "sometimes"}, "is not one of",
                     id="pull-policy"),
        pytest.param({**BUSYBOX, "nets": [{"network": "private"}]}, "needs Neutron",
                     id="nets-not-yet"),
        pytest.param({**BUSYBOX, "hostname": "bad_host"}, "does not match", id="hostname"),
    ],
)
def test_bad_create_bodies_are_400_in_zun_format(client: Any, body: dict[str, Any],
                                                  needle: str) -> None:
    response = create(client, body)
    assert response.status_code == 400, response.get_json()
    error = error_of(response)
    assert needle in error["detail"]
    assert error["request_id"] == response.headers["x-openstack-request-id"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        pytest.param(b"{not json", "not valid JSON", id="malformed"),
        pytest.param(b"[1, 2]", "must be a JSON object", id="array"),
        pytest.param(b"", "empty", id="empty"),
    ],
)
def test_malformed_bodies_are_400(client: Any, raw: bytes, needle: str) -> None:
    response = client.post("/v1/containers", data=raw, headers={
        **V140, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert needle in error_of(response)["detail"]


def test_a_rejected_create_records_nothing(client: Any, store: SqliteStore) -> None:
    create(client, {**BUSYBOX, "memory": "lots"})
    assert store.find_containers() == []


def test_legacy_microversion_takes_command_as_a_shell_string(client: Any) -> None:
    response = client.post("/v1/containers", json={"image": "busybox:local",
                                                   "command": "sh -c 'echo hi'"})
    assert response.status_code == 202
    assert response.get_json()["command"] == "sh -c 'echo hi'"
    assert response.headers["OpenStack-API-Version"] == "container 1.1"


def test_fields_newer_than_the_microversion_are_refused(client: Any) -> None:
    response = client.post("/v1/containers", json={"image": "busybox:local", "tty": True},
                           headers={"OpenStack-API-Version": "container 1.35"})
    assert response.status_code == 400
    assert "'tty'" in error_of(response)["detail"]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        pytest.param("container 1.41", 406, id="above-max"),
        pytest.param("container 1.0", 406, id="below-min"),
        pytest.param("container one", 406, id="garbage"),
    ],
)
def test_unsupported_microversions_are_406(client: Any, header: str, status: int) -> None:
    response = client.get("/v1/containers", headers={"OpenStack-API-Version": header})
    assert response.status_code == status
    assert error_of(response)["code"].startswith("container.")
    assert response.headers["OpenStack-API-Maximum-Version"] == "container 1.40"


def test_latest_negotiates_the_maximum(client: Any) -> None:
    response = client.get("/v1/containers",
                          headers={"OpenStack-API-Version": "container latest"})
    assert response.headers["OpenStack-API-Version"] == "container 1.40"
    assert response.headers["Vary"] == "OpenStack-API-Version"


def test_version_documents_advertise_the_range(client: Any) -> None:
    root = client.get("/").get_json()
    (current,) = (v for v in root["versions"] if v["status"] == "CURRENT")
    assert (current["min_version"], current["max_version"]) == ("1.1", "1.40")
    assert client.get("/v1/").get_json()["id"] == "v1"


def test_unknown_container_is_404_in_zun_format(client: Any) -> None:
    response = client.get("/v1/containers/nope", headers=V140)
    assert response.status_code == 404
    assert "nope" in error_of(response)["detail"]


def test_doubled_slashes_are_accepted(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    assert client.get(f"/v1/containers//{uuid}", headers=V140).status_code == 200


def test_actions_not_valid_in_the_status_are_409(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.post(f"/v1/containers/{uuid}/stop", headers=V140)
    assert response.status_code == 409
    assert error_of(response)["detail"] == \
        f"Cannot stop container {uuid} in {Status.CREATING} state."


def test_delete_without_force_of_a_creating_container_is_409(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    assert client.delete(f"/v1/containers/{uuid}", headers=V140).status_code == 409


def test_force_delete_of_an_unplaced_container_is_recorded(client: Any,
                                                           bus: EmbeddedBus) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.delete(f"/v1/containers/{uuid}?force=True", headers=V140)
    assert response.status_code == 204
    assert [e["type"] for e in bus.history(uuid)][-1] == "container.delete.requested"
    assert client.get(f"/v1/containers/{uuid}", headers=V140).get_json()["status"] == "Deleting"


def test_force_delete_by_a_non_admin_is_403(client: Any) -> None:
    member = {**V140, "X-Roles": "member"}
    uuid = create(client, headers=member).get_json()["uuid"]
    assert client.delete(f"/v1/containers/{uuid}?force=True", headers=member).status_code == 403


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        pytest.param("kill?signal=SIGNOPE", "not a signal", id="bad-signal"),
        pytest.param("stop?timeout=soon", "not an integer", id="bad-timeout"),
        pytest.param("start?colour=red", "Unknown query parameter", id="unknown-param"),
    ],
)
def test_bad_action_parameters_are_400(client: Any, path: str, needle: str) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.post(f"/v1/containers/{uuid}/{path}", headers=V140)
    assert response.status_code == 400
    assert needle in error_of(response)["detail"]


def test_ambiguous_names_are_409(client: Any) -> None:
    create(client, {**BUSYBOX, "name": "twin"})
    create(client, {**BUSYBOX, "name": "twin"})
    assert client.get("/v1/containers/twin", headers=V140).status_code == 409


def test_unknown_routes_are_404_and_wrong_methods_405_in_zun_format(client: Any) -> None:
    assert error_of(client.get("/v1/nothing-here"))["status"] == 404
    assert error_of(client.put("/v1/containers", json={}))["status"] == 405


def test_list_pages_with_limit_and_marker(client: Any) -> None:
    uuids = [create(client, {**BUSYBOX, "name": f"c{i}"}).get_json()["uuid"] for i in range(3)]
    first = client.get("/v1/containers?limit=2&sort_key=name", headers=V140).get_json()
    assert [c["uuid"] for c in first["containers"]] == uuids[:2]
    marker = first["next"].split("marker=")[1]
    rest = client.get(f"/v1/containers?limit=2&sort_key=name&marker={marker}",
                      headers=V140).get_json()
    assert [c["uuid"] for c in rest["containers"]] == uuids[2:] and rest["next"] is None


@pytest.mark.parametrize("path", [
    "network_attach?network=x", "network_detach?network=x", "add_security_group?name=x",
    "remove_security_group?name=x"])
def test_network_actions_without_neutron_are_400_saying_so(client: Any, path: str) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.post(f"/v1/containers/{uuid}/{path}", headers=V140)
    assert response.status_code == 400
    assert "need Neutron" in error_of(response)["detail"]


def test_a_container_without_ports_lists_no_networks(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.get(f"/v1/containers/{uuid}/network_list", headers=V140)
    assert response.status_code == 200 and response.get_json() == {"networks": []}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/containers/{uuid}/attach", id="attach"),
        pytest.param("GET", "/v1/registries", id="registries"),
        pytest.param("GET", "/v1/images/busybox/search?image_driver=docker",
                     id="docker-image-search"),
    ],
)
def test_zun_features_not_built_yet_answer_501_saying_so(client: Any, method: str,
                                                         path: str) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.open(path.format(uuid=uuid), method=method, headers=V140)
    assert response.status_code == 501
    assert "does not implement" in error_of(response)["detail"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("SIGKILL", "SIGKILL"), ("KILL", "SIGKILL"), ("sigterm", "SIGTERM"), ("hup", "SIGHUP"),
     ("9", "SIGKILL"), ("None", None), (None, None)],
)
def test_signals_are_accepted_in_zuns_forms(given: str | None, expected: str | None) -> None:
    from higgins.api import parsing

    assert parsing.parse_signal(given) == expected


def test_patch_renames_from_114(client: Any) -> None:
    uuid = create(client, {**BUSYBOX, "name": "before"}).get_json()["uuid"]
    response = client.patch(f"/v1/containers/{uuid}", json={"name": "after"}, headers=V140)
    assert (response.status_code, response.get_json()["name"]) == (200, "after")
    assert client.get("/v1/containers/after", headers=V140).get_json()["uuid"] == uuid


def test_patch_name_before_114_is_400(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.patch(f"/v1/containers/{uuid}", json={"name": "after"},
                            headers={"OpenStack-API-Version": "container 1.13"})
    assert response.status_code == 400 and "'name'" in error_of(response)["detail"]


def test_rename_action_works_before_114_and_is_gone_after(client: Any) -> None:
    uuid = create(client).get_json()["uuid"]
    old = {"OpenStack-API-Version": "container 1.13"}
    renamed = client.post(f"/v1/containers/{uuid}/rename?name=fresh", headers=old)
    assert (renamed.status_code, renamed.get_json()["name"]) == (200, "fresh")
    assert client.post(f"/v1/containers/{uuid}/rename?name=x2", headers=V140).status_code == 404
    assert client.post(f"/v1/containers/{uuid}/rename?name=-", headers=old).status_code == 400


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({}, 400, id="empty"),
        pytest.param({"memory": "lots"}, 400, id="bad-memory"),
        pytest.param({"cpu": -1}, 400, id="bad-cpu"),
        pytest.param({"image": "other"}, 400, id="not-updatable"),
        pytest.param({"cpu": 1}, 409, id="creating-cannot-be-updated"),
    ],
)
def test_bad_or_untimely_updates_are_refused(client: Any, body: dict[str, Any],
                                             status: int) -> None:
    uuid = create(client).get_json()["uuid"]
    response = client.patch(f"/v1/containers/{uuid}", json=body, headers=V140)
    assert response.status_code == status
    error_of(response)


def test_actions_history_lists_requests_newest_first_and_shows_one(client: Any) -> None:
    created = create(client)
    uuid = created.get_json()["uuid"]
    client.patch(f"/v1/containers/{uuid}", json={"name": "renamed"}, headers=V140)
    listed = client.get(f"/v1/containers/{uuid}/container_actions", headers=V140).get_json()
    assert [a["action"] for a in listed["containerActions"]] == ["rename", "create"]
    first = listed["containerActions"][1]
    assert first["request_id"] == created.headers["x-openstack-request-id"]
    assert first["finish_time"] is None  # no agent here: the create never finishes
    shown = client.get(f"/v1/containers/{uuid}/container_actions/{first['request_id']}",
                       headers=V140).get_json()
    assert shown["action"] == "create" and shown["events"] == []
    missing = client.get(f"/v1/containers/{uuid}/container_actions/req-nope", headers=V140)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("mounts", "version", "needle"),
    [
        pytest.param([{"source": "vol", "destination": "/d"}], "1.40", "need Cinder", id="volume"),
        pytest.param([{"type": "bind", "source": "!!", "destination": "/f"}], "1.40", "base64",
                     id="not-base64"),
        pytest.param([{"type": "bind", "source": "aGk=", "destination": "rel"}], "1.40",
                     "absolute", id="relative"),
        pytest.param([{"type": "bind", "source": "aGk=", "destination": "/f"}], "1.24", "1.25",
                     id="too-old"),
    ],
)
def test_mounts_that_cannot_be_injected_files_are_a_400(client: Any, mounts: list[Any],
                                                        version: str, needle: str) -> None:
    response = create(client, {**BUSYBOX, "mounts": mounts},
                      headers={"OpenStack-API-Version": f"container {version}"})
    assert response.status_code == 400
    assert needle in error_of(response)["detail"]


def test_an_injected_file_travels_in_the_create_event(client: Any, bus: Any) -> None:
    mounts = [{"type": "bind", "source": "aGk=", "destination": "/etc/greeting"}]
    uuid = create(client, {**BUSYBOX, "mounts": mounts}).get_json()["uuid"]
    (requested,) = bus.history(uuid)
    assert requested["data"]["injected_files"] == {"/etc/greeting": "aGk="}


def test_volume_mounts_without_cinder_are_400_saying_so(client: Any) -> None:
    response = client.post("/v1/containers", headers=V140, json={
        "image": "busybox", "mounts": [{"size": 1, "destination": "/data"}]})
    assert response.status_code == 400
    assert "need Cinder" in error_of(response)["detail"]
