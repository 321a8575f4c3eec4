"""Keystone for real: tokens of the personas of scripts/keystone/bootstrap.py, validated by
keystonemiddleware against the Keystone of scripts/start-keystone.sh, then the default policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask.testing
import pytest
import requests
from oslo_config import cfg

from higgins import api
from higgins.api import auth
from higgins.api.policy import Policy
from higgins.bus.embedded import EmbeddedBus
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import V140, NoAgents
from tests.api.test_containers_api import BUSYBOX

pytestmark = pytest.mark.keystone

KEYSTONE = "http://127.0.0.1:5000"
AUTHTOKEN = f"""[api]
auth_strategy = keystone

[keystone_authtoken]
www_authenticate_uri = {KEYSTONE}
auth_url = {KEYSTONE}
auth_type = password
username = higgins
password = secret
project_name = service
user_domain_id = default
project_domain_id = default
"""


def token(user: str, project: str, password: str = "secret") -> tuple[str, str]:
    """A project-scoped token of `user` and the project's id."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    answer = requests.post(f"{KEYSTONE}/v3/auth/tokens", json=body, timeout=30)
    answer.raise_for_status()
    return answer.headers["X-Subject-Token"], answer.json()["token"]["project"]["id"]


@pytest.fixture(scope="module")
def tokens() -> dict[str, tuple[str, str]]:
    return {user: token(user, project) for user, project in (
        ("demo_reader", "demo"), ("demo_member", "demo"), ("demo_admin", "demo"),
        ("alt_member", "alt_demo"))}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[flask.testing.FlaskClient]:
    config = tmp_path / "higgins.conf"
    config.write_text(AUTHTOKEN)
    conf = cfg.ConfigOpts()
    conf([], project="higgins", default_config_files=[str(config)])
    bus, store = EmbeddedBus(tmp_path / "events.db"), SqliteStore(tmp_path / "views.db")
    app = api.create_app(bus, store, NoAgents(), Policy(conf))
    auth.require_tokens(app, conf)
    yield app.test_client()
    bus.close()
    store.close()


def as_user(tokens: dict[str, tuple[str, str]], user: str, **more: str) -> dict[str, str]:
    return {**V140, "X-Auth-Token": tokens[user][0], **more}


def test_version_documents_need_no_token_everything_else_does(client: Any) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/v1/").status_code == 200
    refused = client.get("/v1/containers", headers=V140)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Keystone uri=")
    forged = client.get("/v1/containers", headers={**V140, "X-Auth-Token": "not-a-token"})
    assert forged.status_code == 401


def test_personas_of_one_project_and_another(client: Any,
                                             tokens: dict[str, tuple[str, str]]) -> None:
    created = client.post("/v1/containers", json=BUSYBOX, headers=as_user(tokens, "demo_member"))
    assert created.status_code == 202, created.get_json()
    body = created.get_json()
    uuid = body["uuid"]
    assert body["project_id"] == tokens["demo_member"][1] and "host" not in body

    reader = as_user(tokens, "demo_reader")
    assert client.get(f"/v1/containers/{uuid}", headers=reader).status_code == 200
    assert client.post("/v1/containers", json=BUSYBOX, headers=reader).status_code == 403
    assert client.post(f"/v1/containers/{uuid}/stop", headers=reader).status_code == 403

    alt = as_user(tokens, "alt_member")
    assert client.get(f"/v1/containers/{uuid}", headers=alt).status_code == 404
    assert client.get("/v1/containers", headers=alt).get_json()["containers"] == []

    admin = as_user(tokens, "demo_admin")
    everywhere = client.get("/v1/containers?all_projects=True", headers=admin).get_json()
    assert [c["uuid"] for c in everywhere["containers"]] == [uuid]
    assert "host" in everywhere["containers"][0]


def test_identity_headers_sent_by_a_client_are_not_believed(
        client: Any, tokens: dict[str, tuple[str, str]]) -> None:
    spoofed = as_user(tokens, "demo_member", **{"X-Roles": "admin",
                                                "X-Project-Id": tokens["alt_member"][1],
                                                "X-Identity-Status": "Confirmed"})
    assert client.get("/v1/hosts", headers=spoofed).status_code == 403
    created = client.post("/v1/containers", json=BUSYBOX, headers=spoofed).get_json()
    assert created["project_id"] == tokens["demo_member"][1]
