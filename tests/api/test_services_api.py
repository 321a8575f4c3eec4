"""Zun's /v1/services over a host whose agent reported (the event is put on the bus here, as an
agent would): listing, the admin's switches as python-zunclient sends them, and policy."""

from __future__ import annotations

from typing import Any

from higgins import events, folding, publishing
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import error_of
from tests.api.test_policy import ADMIN, MEMBER


def report(bus: EmbeddedBus, store: SqliteStore, host: str = "node-1") -> None:
    """An agent's report, folded into the hosts' views as the fold processor would."""
    bus.publish([events.Envelope(
        id=publishing.new_id(), type=str(EventType.HOST_REPORTED),
        subject=events.host_subject(host), seq=0, time=publishing.utc_now(), project_id="",
        user_id="", request_id="", data={"host": host, "cpus": 2, "memory_mb": 4096,
                                         "runtimes": ["runc"]})])
    folding.current_host(bus, store, host)


def services(client: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/services", headers=ADMIN)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.get_json()["services"]
    return found


def test_a_reporting_host_is_an_up_zun_compute_service(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    report(bus, store)
    (service,) = services(client)
    assert service["host"] == "node-1" and service["binary"] == "zun-compute"
    assert (service["state"], service["disabled"], service["forced_down"]) == ("up", False, False)
    assert service["report_count"] == 1 and isinstance(service["id"], int)


def test_disable_enable_and_force_down_as_the_client_sends_them(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    report(bus, store)
    query = "host=node-1&binary=zun-compute"
    answer = client.put(f"/v1/services/disable?{query}&disabled_reason=maintenance",
                        headers=ADMIN)
    assert answer.get_json() == {"service": {"host": "node-1", "binary": "zun-compute",
                                             "disabled": True,
                                             "disabled_reason": "maintenance"}}
    assert services(client)[0]["disabled_reason"] == "maintenance"
    answer = client.put(f"/v1/services/force_down?{query}&forced_down=True", headers=ADMIN)
    assert answer.get_json()["service"]["forced_down"] is True
    assert services(client)[0]["state"] == "down"
    client.put(f"/v1/services/enable?{query}", headers=ADMIN)
    client.put(f"/v1/services/force_down?{query}&forced_down=False", headers=ADMIN)
    assert services(client)[0]["state"] == "up" and not services(client)[0]["disabled"]


def test_a_deleted_service_is_gone_until_its_agent_reports_again(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    report(bus, store)
    assert client.delete("/v1/services?host=node-1&binary=zun-compute",
                         headers=ADMIN).status_code == 204
    assert services(client) == []
    report(bus, store)
    assert [s["host"] for s in services(client)] == ["node-1"]


def test_unknown_services_and_missing_parameters(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    report(bus, store)
    assert client.put("/v1/services/enable?host=nope&binary=zun-compute",
                      headers=ADMIN).status_code == 404
    assert client.put("/v1/services/enable?host=node-1&binary=zun-api",
                      headers=ADMIN).status_code == 404
    assert client.put("/v1/services/enable?host=node-1", headers=ADMIN).status_code == 400
    assert client.put("/v1/services/force_down?host=node-1&binary=zun-compute",
                      headers=ADMIN).status_code == 400


def test_only_admins_see_or_switch_services(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    report(bus, store)
    answer = client.get("/v1/services", headers=MEMBER)
    assert error_of(answer)["detail"] == \
        "Policy doesn't allow zun-service:get_all to be performed."
    assert client.put("/v1/services/disable?host=node-1&binary=zun-compute",
                      headers=MEMBER).status_code == 403
