"""/v1/subscriptions: create (secret shown once), list, show, update, delete, rotate_secret,
the delivery log and redelivery; project scope and policy; URLs refused by the SSRF guard."""

from __future__ import annotations

from typing import Any

import flask
import flask.testing
import pytest

from higgins import api
from higgins.bus.embedded import EmbeddedBus
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import MEMBER_OF_P1, V140, NoAgents, error_of

READER_OF_P1 = {**V140, "X-Roles": "reader", "X-Project-Id": "p1", "X-User-Id": "u9"}
MEMBER_OF_P2 = {**V140, "X-Roles": "member", "X-Project-Id": "p2", "X-User-Id": "u2"}
ADMIN = {**V140, "X-Roles": "admin", "X-Project-Id": "admins", "X-User-Id": "root"}
HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["container.*"]}


@pytest.fixture
def app(bus: EmbeddedBus, store: SqliteStore) -> flask.Flask:
    """The API allowing webhooks to loopback (an operator's allowlist), as tests need."""
    return api.create_app(bus, store, NoAgents(), allowed_networks=("127.0.0.0/8",))


def _create(client: flask.testing.FlaskClient, headers: dict[str, str] = MEMBER_OF_P1,
            **body: Any) -> dict[str, Any]:
    response = client.post("/v1/subscriptions", json={**HOOK, **body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    found: dict[str, Any] = response.get_json()
    return found


def test_create_answers_201_with_the_secret_once(client: flask.testing.FlaskClient) -> None:
    made = _create(client, filters={"labels": {"team": "blue"}}, description="ci")
    assert made["secret"].startswith("whsec_") and made["project_id"] == "p1"
    assert made["event_types"] == ["container.*"] and made["enabled"] is True
    assert made["filters"] == {"containers": [], "labels": {"team": "blue"}}
    shown = client.get(f"/v1/subscriptions/{made['uuid']}", headers=MEMBER_OF_P1).get_json()
    assert "secret" not in shown and shown["uuid"] == made["uuid"]
    listed = client.get("/v1/subscriptions", headers=MEMBER_OF_P1).get_json()["subscriptions"]
    assert [s["uuid"] for s in listed] == [made["uuid"]] and "secret" not in listed[0]


@pytest.mark.parametrize(("body", "words"), [
    ({"url": "ftp://127.0.0.1/x"}, "url"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["Container.Started"]}, "event_types"),
    ({"colour": "red"}, "colour"),
    ({"filters": {"hosts": ["a"]}}, "hosts"),
], ids=["scheme", "no-types", "bad-pattern", "unknown-field", "unknown-filter"])
def test_bad_bodies_are_400_in_zuns_format(client: flask.testing.FlaskClient,
                                           body: dict[str, Any], words: str) -> None:
    response = client.post("/v1/subscriptions", json={**HOOK, **body}, headers=MEMBER_OF_P1)
    assert response.status_code == 400
    assert words in error_of(response)["detail"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "http://10.0.0.1/x",
                                 "http://[::1]:8080/x", "http://does-not-resolve.invalid/x"])
def test_internal_or_unresolvable_targets_are_refused_at_create(
        client: flask.testing.FlaskClient, url: str) -> None:
    response = client.post("/v1/subscriptions", json={**HOOK, "url": url},
                           headers=MEMBER_OF_P1)
    assert response.status_code == 400
    assert "refused" in error_of(response)["detail"]


def test_another_projects_subscription_is_not_found_and_admins_see_all(
        client: flask.testing.FlaskClient) -> None:
    made = _create(client)
    path = f"/v1/subscriptions/{made['uuid']}"
    assert client.get(path, headers=MEMBER_OF_P2).status_code == 404
    assert client.delete(path, headers=MEMBER_OF_P2).status_code == 404
    assert client.get("/v1/subscriptions", headers=MEMBER_OF_P2).get_json() == \
        {"subscriptions": []}
    assert client.get(path, headers=ADMIN).status_code == 200
    everywhere = client.get("/v1/subscriptions?all_projects=True", headers=ADMIN).get_json()
    assert [s["uuid"] for s in everywhere["subscriptions"]] == [made["uuid"]]
    assert client.get("/v1/subscriptions?all_projects=True",
                      headers=MEMBER_OF_P1).status_code == 403


def test_readers_list_and_read_but_do_not_change(client: flask.testing.FlaskClient) -> None:
    made = _create(client)
    path = f"/v1/subscriptions/{made['uuid']}"
    assert client.get("/v1/subscriptions", headers=READER_OF_P1).status_code == 200
    assert client.get(f"{path}/deliveries", headers=READER_OF_P1).status_code == 200
    assert client.post("/v1/subscriptions", json=HOOK, headers=READER_OF_P1).status_code == 403
    assert client.patch(path, json={"enabled": False},
                        headers=READER_OF_P1).status_code == 403
    assert client.delete(path, headers=READER_OF_P1).status_code == 403


def test_update_changes_what_it_names_and_enabling_clears_the_reason(
        client: flask.testing.FlaskClient, store: SqliteStore) -> None:
    made = _create(client)
    path = f"/v1/subscriptions/{made['uuid']}"
    held = store.load_subscription(made["uuid"])
    assert held is not None
    store.save_subscription(held.evolve(enabled=False, disabled_reason="gave up"))
    changed = client.patch(path, json={"event_types": ["image.*"], "enabled": True},
                           headers=MEMBER_OF_P1).get_json()
    assert changed["event_types"] == ["image.*"] and changed["enabled"] is True
    assert changed["disabled_reason"] is None and changed["url"] == HOOK["url"]
    assert client.patch(path, json={}, headers=MEMBER_OF_P1).status_code == 400
    assert client.patch(path, json={"url": "http://169.254.169.254/"},
                        headers=MEMBER_OF_P1).status_code == 400


def test_delete_removes_it(client: flask.testing.FlaskClient) -> None:
    made = _create(client)
    path = f"/v1/subscriptions/{made['uuid']}"
    assert client.delete(path, headers=MEMBER_OF_P1).status_code == 204
    assert client.get(path, headers=MEMBER_OF_P1).status_code == 404


def test_rotation_shows_the_new_secret_once_and_keeps_the_old_for_the_grace(
        client: flask.testing.FlaskClient, store: SqliteStore) -> None:
    made = _create(client)
    rotated = client.post(f"/v1/subscriptions/{made['uuid']}/rotate_secret",
                          json={"grace_period": 3600}, headers=MEMBER_OF_P1)
    assert rotated.status_code == 200
    secret = rotated.get_json()["secret"]
    assert secret.startswith("whsec_") and secret != made["secret"]
    held = store.load_subscription(made["uuid"])
    assert held is not None
    assert [s.value for s in held.secrets] == [secret, made["secret"]]
    assert held.secrets[1].expires_at is not None


def test_redelivering_an_unknown_event_is_404_and_a_bad_body_400(
        client: flask.testing.FlaskClient) -> None:
    made = _create(client)
    path = f"/v1/subscriptions/{made['uuid']}/redeliver"
    assert client.post(path, json={"event_id": "nope"}, headers=MEMBER_OF_P1).status_code == 404
    assert client.post(path, json={"event_id": "a", "since": "2026-01-01T00:00:00Z"},
                       headers=MEMBER_OF_P1).status_code == 400
    assert client.post(path, json={"since": "yesterday"},
                       headers=MEMBER_OF_P1).status_code == 400


def test_the_guard_refuses_again_at_delivery_time(store: SqliteStore) -> None:
    """A URL allowed when it was made but internal now (DNS changed, or the operator narrowed
    allowed_networks) is not requested: the attempt records why, and it is retried later."""
    from higgins import dispatching, events, sending
    from higgins.processors.webhooks import DeliveryState, Secret, Subscription
    from higgins.settings import WebhookSettings

    subscription = Subscription("s-guard", "p1", "u1", "http://127.0.0.1:9/hook",
                                ("container.*",), (Secret("whsec_AAAA"),),
                                "2026-11-24T00:00:00Z")
    store.save_subscription(subscription)
    event = events.Envelope(id="6dca4fc1-a457-487b-9d55-dfbe091a1756", type="container.started",
                            subject="c1", seq=2, time="2026-11-24T00:00:02Z", project_id="p1",
                            user_id="u1", request_id="req-1", data={})
    dispatcher = dispatching.Dispatcher(store, WebhookSettings(allowed_networks=()),
                                        sending.post)
    try:
        dispatcher.handle([event])
    finally:
        dispatcher.close()
    (attempt,) = store.attempts("s-guard")
    assert attempt.status_code is None and attempt.error is not None
    assert "refused" in attempt.error and "loopback" in attempt.error
    delivery = store.load_delivery("s-guard", event["id"])
    assert delivery is not None and delivery.state is DeliveryState.PENDING
