"""Where a tenant asks a container placed: Zun's scheduler hints, availability_zone and disk
are accepted, validated (Zun's 400), and recorded in container.create.requested."""

from __future__ import annotations

from typing import Any

import pytest

from higgins.bus.embedded import EmbeddedBus
from tests.api.conftest import V140, error_of

BUSYBOX = {"image": "busybox:local", "command": ["sleep", "60"]}
A = "0b1c7f5e-4a43-4d3a-9d8f-2f6f3b8f1c10"
B = "6dca4fc1-a457-487b-9d55-dfbe091a1756"


def create(client: Any, **fields: Any) -> Any:
    return client.post("/v1/containers", json={**BUSYBOX, **fields}, headers=V140)


def test_hints_zone_and_disk_are_recorded_in_the_create_request(
        client: Any, bus: EmbeddedBus) -> None:
    response = create(client, hints={"label:ssd": "true", "same_host": [A, B],
                                     "different_host": f"{B}"},
                      availability_zone="az1", disk="5")
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["disk"] == 5
    (event,) = bus.history(response.get_json()["uuid"])
    assert {key: event["data"][key] for key in ("hints", "availability_zone", "disk")} == {
        "hints": {"label:ssd": "true", "same_host": f"{A},{B}", "different_host": B},
        "availability_zone": "az1", "disk": 5}


def test_a_create_without_them_records_none_of_them(client: Any, bus: EmbeddedBus) -> None:
    response = create(client, hints={}, availability_zone=None, disk=None)
    (event,) = bus.history(response.get_json()["uuid"])
    assert not {"hints", "availability_zone", "disk"} & set(event["data"])


@pytest.mark.parametrize(("fields", "needle"), [
    pytest.param({"hints": {"near": "x"}}, "unknown scheduler hint 'near'", id="unknown-hint"),
    pytest.param({"hints": {"label:": "x"}}, "unknown scheduler hint", id="label-without-key"),
    pytest.param({"hints": {"label:ssd": ["true"]}}, "must be a string", id="label-list"),
    pytest.param({"hints": {"same_host": "web-1"}}, "container uuid", id="same-host-name"),
    pytest.param({"hints": {"different_host": []}}, "container uuid", id="different-empty"),
    pytest.param({"hints": ["label:ssd"]}, "is not of type", id="hints-list"),
    pytest.param({"disk": 0}, "'disk'", id="disk-zero"),
    pytest.param({"disk": "5G"}, "'disk'", id="disk-unit"),
    pytest.param({"disk": 1.5}, "is not of type", id="disk-float"),
    pytest.param({"availability_zone": "z" * 300}, "too long", id="zone-too-long"),
])
def test_bad_placement_fields_are_400_in_zun_format(
        client: Any, store: Any, fields: dict[str, Any], needle: str) -> None:
    response = create(client, **fields)
    assert response.status_code == 400, response.get_json()
    assert needle in error_of(response)["detail"]
    assert store.find_containers() == []
