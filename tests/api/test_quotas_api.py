"""Quotas through the API (embedded store): Zun's /v1/quotas and /v1/quota_classes, and creates
and resizes refused over quota with Zun's answer, atomically under concurrent requests."""

from __future__ import annotations

import threading
import time
from typing import Any

import flask

from higgins import events, folding, publishing, settling
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.processors.quotas import Allocation, Change, Defaults
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import error_of
from tests.api.test_containers_api import BUSYBOX, create
from tests.api.test_policy import ADMIN, MEMBER, OTHER_MEMBER, READER, mine

ZUN_DEFAULTS = {"containers": 40, "memory": 51200, "cpu": 20, "disk": 100}


def set_quota(client: Any, project: str, **limits: Any) -> Any:
    return client.put(f"/v1/quotas/{project}", json=limits, headers=ADMIN)


def test_a_project_starts_with_zuns_defaults(client: Any) -> None:
    response = client.get("/v1/quotas/p1", headers=READER)
    assert response.status_code == 200
    assert response.get_json() == ZUN_DEFAULTS
    assert client.get("/v1/quotas/p1/defaults", headers=READER).get_json() == ZUN_DEFAULTS


def test_an_admin_sets_and_resets_a_projects_quota(client: Any) -> None:
    response = set_quota(client, "p1", containers="5", cpu=2)
    assert response.status_code == 200
    assert response.get_json() == {**ZUN_DEFAULTS, "containers": 5, "cpu": 2}
    assert client.get("/v1/quotas/p1", headers=MEMBER).get_json()["containers"] == 5
    assert client.get("/v1/quotas/p2", headers=OTHER_MEMBER).get_json() == ZUN_DEFAULTS
    assert client.delete("/v1/quotas/p1", headers=ADMIN).status_code == 204
    assert client.get("/v1/quotas/p1", headers=MEMBER).get_json() == ZUN_DEFAULTS


def test_the_default_quota_class_changes_every_projects_defaults_but_not_their_own(
        client: Any) -> None:
    set_quota(client, "p1", memory=1024)
    response = client.put("/v1/quota_classes/default", json={"memory": 2048, "disk": 10},
                          headers=ADMIN)
    assert response.get_json() == {**ZUN_DEFAULTS, "memory": 2048, "disk": 10}
    assert client.get("/v1/quota_classes/default", headers=ADMIN).get_json()["memory"] == 2048
    assert client.get("/v1/quotas/p2", headers=OTHER_MEMBER).get_json()["memory"] == 2048
    assert client.get("/v1/quotas/p1", headers=MEMBER).get_json()["memory"] == 1024
    assert client.get("/v1/quotas/p1/defaults", headers=MEMBER).get_json()["memory"] == 2048


def test_only_admins_change_quotas_and_only_a_projects_own_people_read_them(client: Any) -> None:
    response = client.put("/v1/quotas/p1", json={"containers": 1}, headers=MEMBER)
    assert error_of(response)["detail"] == "Policy doesn't allow quota:update to be performed."
    assert client.delete("/v1/quotas/p1", headers=MEMBER).status_code == 403
    assert client.get("/v1/quotas/p1", headers=OTHER_MEMBER).status_code == 403
    assert client.get("/v1/quota_classes/default", headers=MEMBER).status_code == 403
    assert client.put("/v1/quota_classes/default", json={"cpu": 1},
                      headers=MEMBER).status_code == 403


def test_bad_quota_values_are_a_400(client: Any) -> None:
    for body in ({"containers": "many"}, {"cpu": -2}, {"cpu": 1.5}, {"gpus": 1},
                 {"memory": True}):
        response = set_quota(client, "p1", **body)
        assert response.status_code == 400, body
        assert "Invalid input" in error_of(response)["detail"] or \
            "Additional properties" in error_of(response)["detail"], body


def test_creates_past_the_container_quota_are_refused_as_zun_refuses_them(client: Any) -> None:
    set_quota(client, "p1", containers=2)
    mine(client)
    mine(client)
    response = create(client, headers=MEMBER)
    error = error_of(response)
    assert response.status_code == 403
    assert error["code"] == "container.over_quota"
    assert error["detail"] == "Quota exceeded for resources: ['containers']"
    usage = client.get("/v1/quotas/p1?usages=True", headers=MEMBER).get_json()
    assert usage["containers"] == {"limit": 2, "in_use": 2}
    assert usage["cpu"] == {"limit": 20, "in_use": 2.0}
    assert usage["memory"] == {"limit": 51200, "in_use": 1024}


def test_cpu_and_memory_count_what_containers_ask_for(client: Any) -> None:
    set_quota(client, "p1", cpu=2, memory=300)
    assert create(client, {**BUSYBOX, "cpu": 1.5, "memory": 200},
                  headers=MEMBER).status_code == 202
    response = create(client, {**BUSYBOX, "cpu": "1", "memory": "200"}, headers=MEMBER)
    assert error_of(response)["detail"] == "Quota exceeded for resources: ['cpu', 'memory']"
    assert create(client, {**BUSYBOX, "cpu": 0.5, "memory": 100},
                  headers=MEMBER).status_code == 202


def test_unlimited_is_minus_one(client: Any) -> None:
    set_quota(client, "p1", containers=-1, cpu=-1, memory=-1)
    for _ in range(3):
        assert create(client, {**BUSYBOX, "cpu": 16, "memory": 8192},
                      headers=MEMBER).status_code == 202


def test_a_resize_past_the_quota_is_refused_and_changes_nothing(client: Any) -> None:
    set_quota(client, "p1", cpu=2)
    uuid = mine(client)
    response = client.patch(f"/v1/containers/{uuid}", json={"cpu": 3}, headers=MEMBER)
    assert response.status_code == 403
    assert error_of(response)["detail"] == "Quota exceeded for resources: ['cpu']"
    usage = client.get("/v1/quotas/p1?usages=True", headers=MEMBER).get_json()
    assert usage["cpu"]["in_use"] == 1.0


def test_concurrent_creates_never_take_more_than_the_quota(app: flask.Flask) -> None:
    app.test_client().put("/v1/quotas/p1", json={"containers": 3}, headers=ADMIN)
    answers: list[int] = []
    start = threading.Barrier(8)

    def one() -> None:
        client = app.test_client()
        start.wait()
        answers.append(create(client, headers=MEMBER).status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [202] * 3 + [403] * 5
    listed = app.test_client().get("/v1/containers", headers=MEMBER).get_json()["containers"]
    assert len(listed) == 3


def test_a_create_never_reads_the_projects_other_allocations(client: Any,
                                                            store: SqliteStore) -> None:
    """Stale allocations (containers never recorded, long ago) are not settled on the request
    path: a create changes its own allocation and the counters, nothing else."""
    set_quota(client, "p1", containers=-1, cpu=-1, memory=-1)
    stale = [Change(f"gone-{n}", Allocation(1.0, 512, 0, 0.0)) for n in range(80)]
    store.change_allocations("p1", stale)
    assert create(client, headers=MEMBER).status_code == 202
    assert len(store.allocations("p1")) == 81


def test_the_quota_processor_expires_reservations_whose_create_never_reached_the_log(
        client: Any, store: SqliteStore) -> None:
    set_quota(client, "p1", containers=2)
    kept = mine(client)
    store.change_allocations("p1", [Change("gone", Allocation(1.0, 512, 0, 0.0))])
    assert create(client, headers=MEMBER).status_code == 403
    assert settling.settle_all(store, Defaults(), time.time()) == 1
    assert list(store.allocations("p1")) == [kept]
    usage = client.get("/v1/quotas/p1?usages=True", headers=MEMBER).get_json()
    assert usage["containers"]["in_use"] == 1
    assert create(client, headers=MEMBER).status_code == 202


def test_a_deleted_containers_share_is_back_when_its_deletion_is_folded(
        client: Any, bus: EmbeddedBus, store: SqliteStore) -> None:
    set_quota(client, "p1", containers=1)
    uuid = mine(client)
    assert create(client, headers=MEMBER).status_code == 403
    bus.publish([events.seal(events.Draft(EventType.DELETED, uuid, {}),
                             event_id=publishing.new_id(), time=publishing.utc_now(),
                             cause=bus.history(uuid)[0])])
    assert create(client, headers=MEMBER).status_code == 403  # recorded, not folded yet
    folding.current_container(bus, store, uuid)
    assert store.allocation("p1", uuid) is None
    assert create(client, headers=MEMBER).status_code == 202
