"""Claims on a real deployment: one host whose memory is mostly reserved for itself
([agent] reserved_host_memory_mb) is over-asked by concurrent creates; the scheduler's
conditional claims place no more than fits (the rest fail with Zun's "No valid host was
found"), and a deleted container's claim makes room again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.conftest import (
    BACKENDS,
    Api,
    Higgins,
    configure,
    deployment,
    remove_host_containers,
    wait_for,
)

pytestmark = pytest.mark.docker

CAPACITY_MB = 256  # what the host reports: its memory less the reserved
ASKED_MB = 64  # four fit


@pytest.fixture(params=BACKENDS)
def small_host(request: pytest.FixtureRequest, tmp_path: Path,
               docker_client: docker.DockerClient) -> Iterator[Higgins]:
    """A deployment of the test's own whose one host reports CAPACITY_MB of memory."""
    server = deployment(request.param, tmp_path)
    total_mb = int(docker_client.info()["MemTotal"]) // (1024 * 1024)
    configure(server, "agent", f"reserved_host_memory_mb = {total_mb - CAPACITY_MB}\n")
    try:
        server.start()
        yield server
    finally:
        server.close()
        remove_host_containers(docker_client, server.host)


def settled(api: Api, uuid: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        shown = api.show(uuid)
        return shown if shown and shown["status"] in ("Created", "Error") else None

    return wait_for(done, 90, f"container {uuid} Created or Error")


def test_concurrent_creates_never_claim_past_the_hosts_memory(small_host: Higgins) -> None:
    api = Api(small_host.url)
    admin = Api(small_host.url, {"X-Roles": "admin"})
    wait_for(lambda: [h for h in admin.call("GET", "/v1/hosts").json()["hosts"]
                      if h["mem_total"] == CAPACITY_MB], 60, "the host's reduced memory")
    body = {"image": "busybox:local", "command": ["sleep", "300"], "memory": ASKED_MB}

    def create(_: int) -> str:
        answer = api.call("POST", "/v1/containers?run=false", json=body)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["uuid"])

    with ThreadPoolExecutor(8) as pool:
        uuids = list(pool.map(create, range(10)))
    shown = [settled(api, uuid) for uuid in uuids]
    placed = [c for c in shown if c["status"] == "Created"]
    refused = [c for c in shown if c["status"] == "Error"]
    assert len(placed) * ASKED_MB <= CAPACITY_MB
    assert (len(placed), len(refused)) == (CAPACITY_MB // ASKED_MB, 10 - CAPACITY_MB // ASKED_MB)
    assert all(c["status_reason"].startswith("No valid host was found.") for c in refused)

    assert api.call("DELETE", f"/v1/containers/{placed[0]['uuid']}").status_code == 204
    api.wait_gone(placed[0]["uuid"], timeout=60)

    def fits_again() -> dict[str, Any] | None:
        """A create placed in the room the delete gave back: the scheduler gives the claim
        back when it handles container.deleted, which the fold may show gone a moment before;
        a create refused meanwhile is deleted and asked again."""
        shown = settled(api, create(0))
        if shown["status"] == "Created":
            return shown
        assert "RamFilter" in shown["status_reason"], shown["status_reason"]
        assert api.call("DELETE", f"/v1/containers/{shown['uuid']}").status_code == 204
        time.sleep(0.5)
        return None

    wait_for(fits_again, 30, "the deleted container's room to be claimable again")
    over = settled(api, create(0))
    assert over["status"] == "Error" and "RamFilter" in over["status_reason"]
