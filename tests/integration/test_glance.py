"""Zun's Glance image driver against the real Glance of scripts/start-glance.sh: a member's
container from their own Glance image (downloaded by the agent, checked against Glance's
checksum, loaded into Docker), Glance's visibility rules between projects, a tampered image
refused, a commit uploaded into Glance and run again, and the search."""

from __future__ import annotations

import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import openstack
import openstack.connection
import pytest

from tests.integration.conftest import Higgins, docker_containers, wait_for
from tests.integration.openstack_cloud import connect, keystone_higgins, member_api, services
from tests.integration.test_keystone import token

pytestmark = [pytest.mark.glance, pytest.mark.keystone, pytest.mark.docker]

GLANCE_STORE = Path("/var/lib/higgins-glance/images")
GLANCE = services("glance")


# On embedded only: what Glance changes lives in the API and the agent, which every backend
# shares; the create and commit travel the bus as any other.
@pytest.fixture(scope="module", params=["embedded"])
def cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[Higgins]:
    with keystone_higgins(request.param, tmp_path_factory.mktemp(f"glance-{request.param}"),
                          docker_client, GLANCE) as server:
        yield server


@pytest.fixture(scope="module")
def glance() -> Iterator[openstack.connection.Connection]:
    conn = connect("demo_member", "demo")
    yield conn
    conn.close()


@pytest.fixture
def busybox_image(glance: openstack.connection.Connection,
                  tmp_path: Path) -> Iterator[Any]:
    """busybox:local saved by Docker and uploaded to Glance by demo_member (private)."""
    tarball = tmp_path / "busybox.tar"
    subprocess.run(["/usr/bin/docker", "save", "-o", str(tarball), "busybox:local"],
                   check=True, timeout=60)
    image = glance.image.create_image(f"bb-{uuidlib.uuid4().hex[:8]}", filename=str(tarball),
                                      container_format="docker", disk_format="raw",
                                      allow_duplicates=True, wait=True)
    yield image
    glance.image.delete_image(image.id, ignore_missing=True)


def test_a_member_runs_a_container_from_their_glance_image(
        cloud: Higgins, busybox_image: Any, docker_client: docker.DockerClient) -> None:
    api = member_api(cloud)
    made = api.create(image=busybox_image.name, image_driver="glance",
                      command=["sh", "-c", "echo from-glance; sleep 300"])
    shown = api.wait_status(made["uuid"], "Running", timeout=60)
    assert shown["image_driver"] == "glance" and shown["image"] == busybox_image.name
    (running,) = docker_containers(docker_client, made["uuid"])
    assert running.attrs["Config"]["Image"] == f"glance/{busybox_image.id}:latest"
    logs = wait_for(lambda: "from-glance" in api.call("GET", f"/v1/containers/{made['uuid']}"
                                                      "/logs").text, 20, "the line in logs")
    assert logs
    # by id too; the host has the image now, so nothing is downloaded again
    again = api.create(image=busybox_image.id, image_driver="glance")
    api.wait_status(again["uuid"], "Running", timeout=60)


def test_another_projects_private_image_cannot_be_used(cloud: Higgins,
                                                       busybox_image: Any) -> None:
    answer = member_api(cloud, "alt_member", "alt_demo").call(
        "POST", "/v1/containers", json={"image": busybox_image.name, "image_driver": "glance"})
    assert answer.status_code == 400, answer.text
    assert "could not be found in Glance" in answer.json()["errors"][0]["detail"]


def test_an_image_whose_data_no_longer_matches_its_checksum_is_refused(
        cloud: Higgins, busybox_image: Any) -> None:
    stored = GLANCE_STORE / busybox_image.id
    stored.write_bytes(stored.read_bytes()[:-1] + b"X")  # Glance's file store, tampered with
    api = member_api(cloud)
    made = api.create(image=busybox_image.id, image_driver="glance",
                      image_pull_policy="always")
    failed = api.wait_status(made["uuid"], "Error", timeout=60)
    assert "does not match its sha512 checksum" in failed["status_reason"]


def test_a_commit_goes_to_glance_and_runs_again(cloud: Higgins,
                                                glance: openstack.connection.Connection) -> None:
    api = member_api(cloud)
    made = api.create(command=["sh", "-c", "echo hello > /testfile; sleep 300"])
    api.wait_status(made["uuid"], "Running")
    repository = f"committed-{uuidlib.uuid4().hex[:8]}"
    answer = api.action(made["uuid"], "commit", f"?repository={repository}")
    assert answer.status_code == 202, answer.text
    image_id = answer.json()["uuid"]
    try:
        image = wait_for(lambda: (i := glance.image.get_image(image_id)).status == "active"
                         and i, 60, "the committed image active in Glance")
        # the caller's project owns it, with Glance's default visibility (shared: no members)
        assert (image.name, image.owner, image.visibility, image.container_format) == \
            (repository, token("demo_member", "demo")[1], "shared", "docker")
        again = api.create(image=repository, image_driver="glance",
                           command=["sh", "-c", "cat /testfile; sleep 300"])
        api.wait_status(again["uuid"], "Running", timeout=60)
        wait_for(lambda: "hello" in api.call("GET", f"/v1/containers/{again['uuid']}/logs").text,
                 20, "the committed file's content in the logs")
        found = api.call("GET", f"/v1/images/{repository}/search?image_driver=glance"
                                "&exact_match=true").json()
        assert [i["id"] for i in found] == [image_id]
        partial = api.call("GET", "/v1/images/committed-/search?image_driver=glance").json()
        assert image_id in [i["id"] for i in partial]
    finally:
        glance.image.delete_image(image_id, ignore_missing=True)
