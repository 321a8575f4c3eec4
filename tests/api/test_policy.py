"""Policy: the default rules for reader / member / admin personas (noauth headers stand in for
what keystonemiddleware sets; tests/integration/test_keystone.py does the same with real
tokens), and an operator's policy file overriding them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask
import pytest
from oslo_config import cfg

from higgins import api
from higgins.api.policy import Policy
from higgins.bus.embedded import EmbeddedBus
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import V140, NoAgents
from tests.api.test_containers_api import BUSYBOX, create


def persona(project: str, role: str) -> dict[str, str]:
    return {**V140, "X-Project-Id": project, "X-User-Id": f"{role}-{project}", "X-Roles": role}


READER, MEMBER, ADMIN = persona("p1", "reader"), persona("p1", "member"), persona("p1", "admin")
OTHER_MEMBER = persona("p2", "member")


def mine(client: Any) -> str:
    response = create(client, headers=MEMBER)
    assert response.status_code == 202, response.get_json()
    return str(response.get_json()["uuid"])


def error(response: Any) -> tuple[int, str]:
    return response.status_code, response.get_json()["errors"][0]["detail"]


def test_a_reader_may_look_but_not_change(client: Any) -> None:
    uuid = mine(client)
    assert client.get(f"/v1/containers/{uuid}", headers=READER).status_code == 200
    assert len(client.get("/v1/containers", headers=READER).get_json()["containers"]) == 1
    assert error(create(client, headers=READER)) == (
        403, "Policy doesn't allow container:create to be performed.")
    assert client.post(f"/v1/containers/{uuid}/stop", headers=READER).status_code == 403
    assert client.delete(f"/v1/containers/{uuid}", headers=READER).status_code == 403
    assert client.patch(f"/v1/containers/{uuid}", json={"name": "renamed"},
                        headers=READER).status_code == 403


def test_another_projects_container_is_not_found_even_for_its_members_peers(client: Any) -> None:
    uuid = mine(client)
    for verb, path in (("get", ""), ("post", "/start"), ("delete", ""), ("get", "/logs"),
                       ("get", "/container_actions")):
        response = getattr(client, verb)(f"/v1/containers/{uuid}{path}", headers=OTHER_MEMBER)
        assert response.status_code == 404, (verb, path)
    assert client.get("/v1/containers?all_projects=True",
                      headers=OTHER_MEMBER).status_code == 403


def test_an_admin_reaches_every_project_with_all_projects(client: Any) -> None:
    uuid = mine(client)
    elsewhere = persona("p9", "admin")
    assert client.get(f"/v1/containers/{uuid}", headers=elsewhere).status_code == 404
    assert client.get(f"/v1/containers/{uuid}?all_projects=True",
                      headers=elsewhere).status_code == 200
    listed = client.get("/v1/containers?all_projects=1", headers=elsewhere).get_json()
    assert [c["uuid"] for c in listed["containers"]] == [uuid]
    assert client.delete(f"/v1/containers/{uuid}?all_projects=True&force=True",
                         headers=elsewhere).status_code == 204


def test_admin_only_fields_are_hidden_from_others(client: Any) -> None:
    uuid = mine(client)
    as_member = client.get(f"/v1/containers/{uuid}", headers=MEMBER).get_json()
    as_admin = client.get(f"/v1/containers/{uuid}", headers=ADMIN).get_json()
    assert {"host", "runtime", "privileged"} <= set(as_admin)
    assert not {"host", "runtime", "privileged"} & set(as_member)
    assert as_member["name"] == as_admin["name"]


def test_force_delete_runtime_and_hosts_are_for_admins(client: Any) -> None:
    uuid = mine(client)
    assert error(client.delete(f"/v1/containers/{uuid}?force=True", headers=MEMBER)) == (
        403, "Policy doesn't allow container:delete_force to be performed.")
    assert create(client, {**BUSYBOX, "runtime": "runc"}, MEMBER).status_code == 403
    assert create(client, {**BUSYBOX, "runtime": "runc"}, ADMIN).status_code == 202
    assert client.get("/v1/hosts", headers=MEMBER).status_code == 403
    assert client.get("/v1/hosts", headers=ADMIN).status_code == 200
    assert client.get("/v1/availability_zones", headers=READER).status_code == 200


def test_privileged_containers_are_denied_by_default_even_to_admins(client: Any) -> None:
    assert error(create(client, {**BUSYBOX, "privileged": True}, ADMIN)) == (
        403, "Policy doesn't allow container:create:privileged to be performed.")


@pytest.fixture
def overridden(tmp_path: Path, bus: EmbeddedBus, store: SqliteStore) -> Any:
    """An operator's policy file: members may see the host; nobody may stop."""
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text('"container:get_one:host": "rule:project_member"\n'
                           '"container:stop": "!"\n')
    config = tmp_path / "higgins.conf"
    config.write_text(f"[oslo_policy]\npolicy_file = {policy_file}\n")
    conf = cfg.ConfigOpts()
    conf([], project="higgins", default_config_files=[str(config)])
    app: flask.Flask = api.create_app(bus, store, NoAgents(), Policy(conf))
    return app.test_client()


def test_a_policy_file_overrides_the_defaults(overridden: Any) -> None:
    uuid = mine(overridden)
    shown = overridden.get(f"/v1/containers/{uuid}", headers=MEMBER).get_json()
    assert "host" in shown and "runtime" not in shown
    assert overridden.post(f"/v1/containers/{uuid}/stop", headers=ADMIN).status_code == 403
    assert overridden.post(f"/v1/containers/{uuid}/start", headers=MEMBER).status_code != 403


def test_only_admins_choose_a_host_and_only_from_1_39(client: Any, bus: EmbeddedBus) -> None:
    body = {**BUSYBOX, "host": "node-1"}
    answer = create(client, body, headers=ADMIN)
    assert answer.status_code == 202
    (requested,) = bus.history(answer.get_json()["uuid"])
    assert requested["data"]["requested_host"] == "node-1"
    assert error(create(client, body, headers=MEMBER)) == (
        403, "Policy doesn't allow container:create:requested_destination to be performed.")
    older = create(client, body, headers={**ADMIN, "OpenStack-API-Version": "container 1.38"})
    assert older.status_code == 400
