"""Zun's rebuild on every backend: a running container gets a new Docker container from its
image (or a new one) and runs again; a stopped one comes back Created; one Docker container per
uuid throughout; the action is finished in the history, as Zun's tempest test reads it."""

from __future__ import annotations

import docker
import pytest

from tests.integration.conftest import Api, Higgins, docker_containers, wait_for

pytestmark = pytest.mark.docker


def finished(api: Api, uuid: str, request_id: str) -> dict[str, object] | None:
    action = api.call("GET", f"/v1/containers/{uuid}/container_actions/{request_id}").json()
    return action if action.get("finish_time") else None


def test_rebuild_replaces_the_runtime_container(higgins: Higgins,
                                                docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    uuid = api.create(name="rebuilt")["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    old_id = docker_containers(docker_client, uuid)[0].id

    asked = api.call("POST", f"/v1/containers/{uuid}/rebuild?image=busybox-term:local")
    assert asked.status_code == 202, asked.text
    request_id = asked.headers["x-openstack-request-id"]
    action = wait_for(lambda: finished(api, uuid, request_id), 60, "the rebuild to finish")
    assert action["message"] is None
    shown = api.wait_status(uuid, "Running", timeout=60)
    assert shown["image"] == "busybox-term:local"
    (now,) = docker_containers(docker_client, uuid)
    assert now.id != old_id and now.image.tags == ["busybox-term:local"]

    api.call("POST", f"/v1/containers/{uuid}/stop?timeout=1")
    api.wait_status(uuid, "Stopped", timeout=60)
    assert api.call("POST", f"/v1/containers/{uuid}/rebuild").status_code == 202
    api.wait_status(uuid, "Created", timeout=60)
    assert len(docker_containers(docker_client, uuid)) == 1
    assert api.call("DELETE", f"/v1/containers/{uuid}?force=True").status_code == 204
