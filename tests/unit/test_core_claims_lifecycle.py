"""Claims through a container's life: placed with its hints, zone and disk, written once
(a redelivered create keeps its host and writes nothing), given back when the container goes
or its creation fails for good, adjusted when a resize was applied; hosts carry labels."""

from __future__ import annotations

from typing import Any

import pytest

from higgins.events import EventType
from higgins.processors import capsules, claims, hosts, placement, scheduling
from higgins.processors.claims import Ledger, Resources
from higgins.processors.model import CapsuleState, Status
from tests.unit.conftest import UUID, created, envelope, host

OTHER = "0b1c7f5e-4a43-4d3a-9d8f-2f6f3b8f1c10"


def reported(name: str, **data: Any) -> Any:
    report = {"host": name, "cpus": 2.0, "memory_mb": 4096, "runtimes": ["runc"], **data}
    return hosts.fold(None, envelope(EventType.HOST_REPORTED, 1, f"host:{name}", **report))


def test_a_host_report_carries_its_labels_into_the_host_state() -> None:
    assert reported("h1", labels={"ssd": "true"}).labels == {"ssd": "true"}
    assert reported("h1").labels == {}  # an older agent's report


def test_the_create_request_carries_hints_zone_and_disk_into_the_state() -> None:
    state = created(hints={"label:ssd": "true"}, availability_zone="az1", disk=5)
    assert (state.hints, state.availability_zone, state.disk) == (
        {"label:ssd": "true"}, "az1", 5)
    assert created().hints == {} and created().disk is None  # older events still fold


def test_the_request_placement_reads_has_the_hints_zone_and_disk() -> None:
    state = created(hints={"label:ssd": "true", "same_host": OTHER, "different_host": UUID},
                    availability_zone="az1", disk=5)
    request = placement.container_request(state)
    assert request.resources == Resources(500, 64, 5)
    assert (request.availability_zone, dict(request.labels)) == ("az1", {"ssd": "true"})
    assert (request.same_host, request.different_host) == ((OTHER,), (UUID,))


@pytest.mark.parametrize(("hints", "placed_on"), [
    ({"label:ssd": "true"}, "h2"),
    ({"label:ssd": "false"}, None),
    ({}, "h1"),
], ids=["label-matches-one-host", "label-matches-none", "no-hint"])
def test_a_label_hint_places_only_on_a_host_reporting_that_label(
        hints: dict[str, str], placed_on: str | None) -> None:
    on = [reported("h1", memory_mb=8192), reported("h2", labels={"ssd": "true"})]
    outcome = scheduling.schedule(created(hints=hints), on,
                                  envelope(EventType.CREATE_REQUESTED, 1), ledgers={})
    if placed_on is None:
        assert "LabelFilter" in outcome.events[0].data["reason"]
    else:
        assert outcome.events[0].data == {"host": placed_on}


def test_a_placement_claims_on_the_chosen_hosts_ledger() -> None:
    outcome = scheduling.schedule(created(disk=2), [host("h1").evolve(disk_total_gb=10)],
                                  envelope(EventType.CREATE_REQUESTED, 1), ledgers={})
    (ledger,) = outcome.claims
    assert (ledger.host, ledger.version, dict(ledger.claims)) == (
        "h1", 1, {UUID: Resources(500, 64, 2)})


def test_a_redelivered_create_whose_claim_is_written_keeps_its_host_and_writes_nothing() -> None:
    first = scheduling.schedule(created(), [host("h1"), host("h2", memory_mb=8192)],
                                envelope(EventType.CREATE_REQUESTED, 1), ledgers={})
    (written,) = first.claims
    again = scheduling.schedule(created(), [host("h1"), host("h2", memory_mb=8192)],
                                envelope(EventType.CREATE_REQUESTED, 1),
                                ledgers={written.host: written})
    assert again.events[0].data == {"host": written.host} and again.claims == ()


def placed(**changes: Any) -> Any:
    return created().evolve(host="h1", **changes)


@pytest.mark.parametrize(("state", "kind", "released"), [
    (placed(status=Status.DELETED), EventType.DELETED, True),
    (placed(status=Status.DELETED, container_id="d1"), EventType.LOST, True),
    (placed(status=Status.ERROR, container_id="d1"), EventType.LOST, False),
    (placed(status=Status.ERROR), EventType.FAILED, True),
    (placed(status=Status.ERROR, container_id="d1"), EventType.FAILED, False),
    (created().evolve(status=Status.ERROR), EventType.FAILED, False),
    (placed(capsule_id="cap"), EventType.DELETED, False),
    (placed(status=Status.RUNNING, container_id="d1"), EventType.STOPPED, False),
], ids=["deleted", "lost-while-deleting", "lost-while-there", "create-failed",
        "failed-after-it-was-made", "never-placed", "capsule-member", "other-event"])
def test_a_claim_is_given_back_when_the_container_goes_or_its_creation_failed(
        state: Any, kind: str, released: bool) -> None:
    got = scheduling.release_of(state, envelope(kind, 9, reason="r"))
    assert got == (placement.Release("h1", UUID) if released else None)


def test_a_capsule_gives_its_claim_back_when_asked_to_go() -> None:
    capsule = CapsuleState(uuid="cap", seq=2, project_id="p1", user_id="u1", name=None,
                           created_at="2026-11-24T00:00:00+00:00", containers=(), host="h1")
    asked = envelope(EventType.CAPSULE_DELETE_REQUESTED, 3, "capsule:cap")
    assert capsules.release_of(capsule, asked) == placement.Release("h1", "cap")
    assert capsules.release_of(capsule.evolve(host=None), asked) is None


def test_an_applied_resize_sets_the_claim_to_the_new_limits_whatever_is_free() -> None:
    state = placed(cpu=1.0, memory=512)
    resized = scheduling.resize_of(state, envelope(EventType.UPDATED, 9, memory=512))
    assert resized == ("h1", Resources(1000, 512, 0))
    ledger = Ledger("h1", {UUID: Resources(500, 64)}, Resources(500, 96), 4)
    after = claims.adjust(ledger, UUID, resized[1])
    assert (after.used, after.version) == (Resources(1000, 544), 5)
    assert claims.adjust(after, UUID, resized[1]) is after
    assert claims.adjust(ledger, OTHER, Resources(1, 1)) is ledger  # holds no claim there
