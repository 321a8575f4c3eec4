"""Zun's images on every backend, with a real Docker engine and a real registry: an admin pulls
an image onto a host, sees its Docker id and size, deletes it and Docker no longer has it; a
container is committed into a local image a new container then runs from."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
import pytest

from tests.integration.conftest import ALSO_KAFKA, Api, Higgins, push_to_registry, wait_for

pytestmark = pytest.mark.docker


def image_shown(api: Api, uuid: str) -> dict[str, Any] | None:
    return api.found(f"/v1/images/{uuid}")


def present(api: Api, uuid: str, timeout: float = 60) -> dict[str, Any]:
    return wait_for(lambda: (shown := image_shown(api, uuid)) and shown["image_id"] and shown,
                    timeout, f"image {uuid} on its host")


def in_docker(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


@ALSO_KAFKA
def test_pull_show_list_and_delete_an_image_on_a_host(
        higgins: Higgins, docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    name = push_to_registry(docker_client)
    asked = api.call("POST", "/v1/images", json={"repo": name, "host": higgins.host})
    assert asked.status_code == 202, asked.text
    uuid = asked.json()["uuid"]
    shown = present(api, uuid)
    local = docker_client.images.get(name)
    assert (shown["image_id"], shown["size"]) == (local.id, local.attrs["Size"])
    assert f"{shown['repo']}:{shown['tag']}" == name and shown["host"] == higgins.host
    assert uuid in [i["uuid"] for i in api.call("GET", "/v1/images").json()["images"]]

    assert api.call("DELETE", f"/v1/images/{uuid}").status_code == 204
    wait_for(lambda: image_shown(api, uuid) is None, 60, f"image {uuid} deleted")
    assert not in_docker(docker_client, name)


def test_a_pull_the_registry_cannot_serve_leaves_no_image_id(
        higgins: Higgins, docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    asked = api.call("POST", "/v1/images",
                     json={"repo": "127.0.0.1:5050/never-pushed", "host": higgins.host})
    assert asked.status_code == 202, asked.text
    uuid = asked.json()["uuid"]
    bus = higgins.open_bus()
    try:
        kinds = wait_for(lambda: [e["type"] for e in bus.history(f"image:{uuid}")][1:] or None,
                         60, "the pull to be reported")
    finally:
        bus.close()
    assert kinds == ["image.pull.failed"]
    assert image_shown(api, uuid)["image_id"] is None  # type: ignore[index]
    assert api.call("DELETE", f"/v1/images/{uuid}").status_code == 204
    wait_for(lambda: image_shown(api, uuid) is None, 30, f"image {uuid} deleted")


def test_commit_makes_a_local_image_a_new_container_runs_from(
        higgins: Higgins, docker_client: docker.DockerClient) -> None:
    api = Api(higgins.url)
    uuid = api.create(name="committed", command=["sh", "-c", "echo kept > /marker; sleep 300"])[
        "uuid"]
    api.wait_status(uuid, "Running", timeout=60)
    wait_for(lambda: api.call("POST", f"/v1/containers/{uuid}/execute",
                              params={"command": "cat /marker"}).json()["exit_code"] == 0, 30,
             "the marker file")
    tag = uuid[:8]
    asked = api.call("POST", f"/v1/containers/{uuid}/commit",
                     params={"repository": "higgins-snap", "tag": tag})
    assert asked.status_code == 202, asked.text
    image = present(api, asked.json()["uuid"])
    assert (image["repo"], image["tag"], image["host"]) == ("higgins-snap", tag, higgins.host)
    assert docker_client.images.get(f"higgins-snap:{tag}").id == image["image_id"]
    actions = api.call("GET", f"/v1/containers/{uuid}/container_actions").json()
    (commit,) = (a for a in actions["containerActions"] if a["action"] == "commit")
    assert commit["request_id"] == asked.headers["x-openstack-request-id"]
    assert api.show(uuid)["status"] == "Running"  # type: ignore[index]

    copy = api.create(image=f"higgins-snap:{tag}", command=["cat", "/marker"],
                      image_pull_policy="never")["uuid"]
    api.wait_status(copy, "Stopped", timeout=60)
    assert api.call("GET", f"/v1/containers/{copy}/logs").json().strip() == "kept"
    for container in (uuid, copy):
        assert api.call("DELETE", f"/v1/containers/{container}?force=True").status_code == 204
        api.wait_gone(container, timeout=60)
    assert api.call("DELETE", f"/v1/images/{image['uuid']}").status_code == 204
    wait_for(lambda: not in_docker(docker_client, f"higgins-snap:{tag}"), 60, "image removed")
