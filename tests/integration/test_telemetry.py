"""Telemetry end to end, on each backend with real Docker: containers run through Higgins, and
the real ceilometer-agent-notification (scripts/install-ceilometer.sh) meters the notifications
Higgins sends with etc/ceilometer/meters.d, writing samples through its file publisher."""

from __future__ import annotations

import contextlib
import datetime
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from higgins.api.identity import DEFAULT_PROJECT
from tests.integration.ceilometer import Ceilometer, Sample
from tests.integration.conftest import Api, Deployment, Higgins
from tests.services import rabbitmq_vhost

EXISTS_INTERVAL = 4  # seconds per audit period, so a container.exists comes during the test


@pytest.fixture
def metered(fresh_deployment: Higgins, tmp_path: Path) -> Iterator[tuple[Higgins, Ceilometer]]:
    """The deployment sending notifications (rabbitmq: to its own vhost, by default; embedded
    and kafka: to a vhost of the test's, by [notifications] url) and a Ceilometer listening
    there."""
    with contextlib.ExitStack() as stack:
        if isinstance(fresh_deployment, Deployment) and fresh_deployment.amqp_url:
            url, extra = fresh_deployment.amqp_url, ""
        else:
            url = stack.enter_context(rabbitmq_vhost("telemetry"))
            extra = f"url = {url}\n"
        with open(fresh_deployment.config, "a") as conf:
            conf.write(f"[notifications]\n{extra}exists_interval = {EXISTS_INTERVAL}\n")
        ceilometer = Ceilometer(tmp_path / "ceilometer", url, durable=False)
        ceilometer.start()  # first: its queue must be bound before Higgins sends
        stack.callback(ceilometer.stop)
        fresh_deployment.start()
        yield fresh_deployment, ceilometer


def _of(samples: list[Sample], name: str, uuid: str) -> list[Sample]:
    return [s for s in samples if s["name"] == name and s["resource_id"] == uuid]


def test_ceilometer_meters_containers_run_through_higgins(
        metered: tuple[Higgins, Ceilometer]) -> None:
    server, ceilometer = metered
    api = Api(server.url)
    since = datetime.datetime.now(datetime.UTC).isoformat()
    uuid = str(api.create(name="metered", cpu=0.5, memory=64)["uuid"])
    api.wait_status(uuid, "Running")
    assert api.action(uuid, "stop").status_code == 202
    api.wait_status(uuid, "Stopped")

    def billed(samples: list[Sample]) -> bool:
        exists = [s for s in _of(samples, "container", uuid)
                  if s["resource_metadata"].get("audit_period_ending")]
        stopped = [s for s in _of(samples, "container", uuid)
                   if s["resource_metadata"].get("status") == "Stopped"]
        return bool(_of(samples, "container.cpu", uuid) and _of(samples, "container.memory", uuid)
                    and stopped and exists)

    samples = ceilometer.wait_for_samples(billed, timeout=60)
    gauge = _of(samples, "container", uuid)
    assert all(s["volume"] == 1 and s["type"] == "gauge" for s in gauge)
    assert {s["project_id"] for s in gauge} == {DEFAULT_PROJECT}
    assert {s["resource_metadata"]["name"] for s in gauge} == {"metered"}
    statuses = {s["resource_metadata"]["status"] for s in gauge}
    assert {"Running", "Stopped"} <= statuses  # create.end (run) and stop.end
    assert {s["volume"] for s in _of(samples, "container.cpu", uuid)} == {0.5}
    assert {s["volume"] for s in _of(samples, "container.memory", uuid)} == {64}
    running = next(s for s in gauge if s["resource_metadata"]["status"] == "Running")
    assert running["resource_metadata"]["host"] == server.host
    assert running["resource_metadata"].get("launched_at")

    assert api.call("DELETE", f"/v1/containers/{uuid}").status_code == 204
    api.wait_gone(uuid)
    deleted = ceilometer.wait_for_samples(lambda found: any(
        s["resource_metadata"].get("status") == "Deleted"
        for s in _of(found, "container", uuid)), timeout=30)
    last: dict[str, Any] = next(s for s in _of(deleted, "container", uuid)
                                if s["resource_metadata"].get("status") == "Deleted")
    assert last["resource_metadata"].get("deleted_at")

    # the range sent again: Ceilometer meters each notification again (same message ids)
    before = len(_of(ceilometer.samples(), "container", uuid))
    until = datetime.datetime.now(datetime.UTC).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(server.config), "replay",
         "--redeliver", "--from", since, "--to", until, "--notifications"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    ceilometer.wait_for_samples(
        lambda found: len(_of(found, "container", uuid)) >= before + 3, timeout=30)
