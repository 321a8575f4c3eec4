"""The resizes on every backend with a real Docker engine: the TTY's size as the process in the
container sees it, and resize_container's new memory limit as Docker holds it."""

from __future__ import annotations

import docker
import pytest

from tests.integration.conftest import Api, Higgins, docker_containers, wait_for

pytestmark = pytest.mark.docker


def test_resize_sets_the_size_the_container_sees(higgins: Higgins) -> None:
    api = Api(higgins.url)
    uuid = api.create(tty=True, interactive=True, command=["sleep", "300"])["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    response = api.call("POST", f"/v1/containers/{uuid}/resize", params={"h": 33, "w": 101})
    assert response.status_code == 200, response.text
    ran = api.call("POST", f"/v1/containers/{uuid}/execute",
                   params={"command": "stty -F /dev/console size"}).json()
    assert (ran["exit_code"], ran["output"].strip()) == (0, "33 101")
    assert api.call("DELETE", f"/v1/containers/{uuid}?force=True").status_code == 204


def test_resize_container_changes_the_memory_limit_in_docker(
        higgins: Higgins, docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    uuid = api.create(memory="64")["uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    response = api.call("POST", f"/v1/containers/{uuid}/resize_container", json={"memory": 96})
    assert response.status_code == 202, response.text

    def limit() -> int:
        (container,) = docker_containers(docker_client, uuid)
        container.reload()
        return int(container.attrs["HostConfig"]["Memory"])

    wait_for(lambda: limit() == 96 * 1024 * 1024, 60, "the new memory limit")
    wait_for(lambda: api.show(uuid)["memory"] == "96", 30, "the view")  # type: ignore[index]
    assert api.call("DELETE", f"/v1/containers/{uuid}?force=True").status_code == 204
