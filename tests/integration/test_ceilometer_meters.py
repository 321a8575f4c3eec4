"""The real Ceilometer meters Higgins' notifications with etc/ceilometer/meters.d/higgins.yaml:
oslo messaging v2 notifications published by hand with kombu, on the wire exactly as Higgins
sends them (docs/telemetry.md), become `container*` samples in its file publisher."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kombu
import pytest

from tests.integration.ceilometer import Ceilometer, Sample
from tests.services import rabbitmq_vhost

pytestmark = pytest.mark.rabbitmq

PROJECT, USER = "6f2a8c1e4b7d4e0f9a3b5c7d9e1f2a4b", "0d8e6c4a2b1f4e3d8c7b6a5f4e3d2c1b"
CONTAINER = {
    "uuid": str(uuid.uuid4()), "name": "web", "project_id": PROJECT, "user_id": USER,
    "host": "compute-1", "image": "busybox:latest", "status": "Created", "task_state": None,
    "cpu": 0.5, "memory": 256, "disk": 0, "runtime": "runc", "availability_zone": "nova",
    "created_at": "2026-12-01T03:19:58Z", "launched_at": None, "deleted_at": None,
    "state": "created", "state_description": "",
}
RUNNING = {**CONTAINER, "status": "Running", "state": "running",
           "launched_at": "2026-12-01T03:20:01Z",
           "audit_period_beginning": "2026-12-01T03:00:00Z",
           "audit_period_ending": "2026-12-01T04:00:00Z"}
CREATED_AT, EXISTS_AT = "2026-12-01 03:20:00.123456", "2026-12-01 04:00:00.000000"
# Per notification, each meter Ceilometer must write and its volume.
VOLUMES = {"container": 1, "container.cpu": 0.5, "container.memory": 256, "container.disk": 0}


def notification(event_type: str, payload: dict[str, Any], timestamp: str) -> dict[str, str]:
    message = {
        "message_id": str(uuid.uuid4()), "publisher_id": "higgins.compute-1",
        "event_type": event_type, "priority": "INFO", "payload": payload,
        "timestamp": timestamp, "_context_request_id": f"req-{uuid.uuid4()}",
        "_context_project_id": PROJECT, "_context_user_id": USER, "_context_project": PROJECT,
        "_context_user": USER, "_context_roles": ["member"], "_context_is_admin": False,
    }
    return {"oslo.version": "2.0", "oslo.message": json.dumps(message)}


def publish(url: str, bodies: list[dict[str, str]]) -> None:
    """As Higgins does with `[notifications] durable = true`: a durable topic exchange,
    persistent messages, each confirmed by the broker."""
    with kombu.Connection(url, transport_options={"confirm_publish": True}) as connection:
        exchange = kombu.Exchange("higgins", "topic", durable=True)
        producer = connection.Producer()
        for body in bodies:
            producer.publish(body, exchange=exchange, routing_key="notifications.info",
                             declare=[exchange], delivery_mode="persistent",
                             serializer="json")


def at(samples: list[Sample], timestamp: str) -> dict[str, Sample]:
    """The samples of the notification sent at `timestamp`, by meter name."""
    sent = datetime.fromisoformat(timestamp).replace(tzinfo=UTC)  # Ceilometer writes ISO 8601
    return {sample["name"]: sample for sample in samples
            if datetime.fromisoformat(sample["timestamp"]) == sent}


def test_container_create_end_and_exists_are_metered(tmp_path: Path) -> None:
    with rabbitmq_vhost("ceilometer") as url:
        ceilometer = Ceilometer(tmp_path, url)
        try:
            ceilometer.start()
            publish(url, [notification("container.create.end", CONTAINER, CREATED_AT),
                          notification("container.exists", RUNNING, EXISTS_AT)])
            samples = ceilometer.wait_for_samples(lambda found: all(
                at(found, stamp).keys() >= VOLUMES.keys() for stamp in (CREATED_AT, EXISTS_AT)))
        finally:
            ceilometer.stop()

    for stamp, status in ((CREATED_AT, "Created"), (EXISTS_AT, "Running")):
        metered = at(samples, stamp)
        assert {name: metered[name]["volume"] for name in VOLUMES} == VOLUMES
        for name in VOLUMES:
            assert (metered[name]["resource_id"], metered[name]["project_id"],
                    metered[name]["user_id"], metered[name]["type"]) == (
                        CONTAINER["uuid"], PROJECT, USER, "gauge")
            assert metered[name]["resource_metadata"]["status"] == status
    assert {name: sample["unit"] for name, sample in at(samples, CREATED_AT).items()} == {
        "container": "container", "container.cpu": "vcpu", "container.memory": "MB",
        "container.disk": "GB"}
    assert at(samples, EXISTS_AT)["container"]["resource_metadata"]["audit_period_ending"] == (
        RUNNING["audit_period_ending"])
