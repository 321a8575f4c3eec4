"""Containers with Cinder volumes, against the real Cinder of scripts/start-cinder.sh: a volume
Higgins makes for a `size` mount (attached to the container through Cinder's attachments API,
its filesystem on the host bound in, deleted with the container, as Zun does), a tenant's own
volume written by one container and read by the next and kept, and another project's volume
refused."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import docker
import openstack.connection
import pytest

from tests.integration.conftest import Api, Higgins, wait_for
from tests.integration.openstack_cloud import (
    connect,
    delete,
    execute,
    keystone_higgins,
    member_api,
    services,
)

pytestmark = [pytest.mark.cinder, pytest.mark.keystone, pytest.mark.docker]

CINDER = services("cinder")
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 300 & wait"]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory,
          docker_client: docker.DockerClient) -> Iterator[Higgins]:
    with keystone_higgins("embedded", tmp_path_factory.mktemp("cinder"), docker_client,
                          CINDER) as server:
        yield server


@pytest.fixture(scope="module")
def demo() -> Iterator[openstack.connection.Connection]:
    conn = connect("demo_member", "demo")
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def api(cloud: Higgins) -> Api:
    return member_api(cloud)


def attached_to(demo: openstack.connection.Connection, uuid: str) -> Any:
    for volume in demo.block_storage.volumes():
        if any(a.get("server_id") == uuid for a in volume.attachments or ()):
            return volume
    return None


def test_a_volume_made_for_a_size_mount_is_attached_and_deleted_with_it(
        api: Api, demo: openstack.connection.Connection) -> None:
    made = api.create(command=SLEEPER, mounts=[{"size": 1, "destination": "/data"}])
    api.wait_status(made["uuid"], "Running", timeout=60)
    volume = attached_to(demo, made["uuid"])
    assert volume is not None and (volume.status, volume.size) == ("in-use", 1)
    assert execute(api, made["uuid"], "sh -c 'echo hello > /data/testfile'")["exit_code"] == 0
    assert "hello" in execute(api, made["uuid"], "cat /data/testfile")["output"]
    assert "/data" in execute(api, made["uuid"], "cat /proc/mounts")["output"]
    delete(api, made["uuid"])
    wait_for(lambda: demo.block_storage.find_volume(volume.id) is None, 60,
             "the volume Higgins made deleted with the container")


def test_a_tenants_volume_outlives_the_containers_that_use_it(
        api: Api, demo: openstack.connection.Connection) -> None:
    volume = demo.block_storage.create_volume(size=1, name=f"data-{uuidlib.uuid4().hex[:6]}")
    demo.block_storage.wait_for_status(volume, "available", wait=60)
    try:
        first = api.create(command=["sh", "-c", "echo kept > /srv/file; sleep 300"],
                           mounts=[{"source": volume.name, "destination": "/srv"}])
        api.wait_status(first["uuid"], "Running", timeout=60)
        wait_for(lambda: "kept" in execute(api, first["uuid"], "cat /srv/file")["output"], 20,
                 "the file written")
        delete(api, first["uuid"])
        wait_for(lambda: demo.block_storage.get_volume(volume.id).status == "available", 60,
                 "the volume detached and kept")
        second = api.create(command=SLEEPER,
                            mounts=[{"source": volume.id, "destination": "/srv"}])
        api.wait_status(second["uuid"], "Running", timeout=60)
        assert "kept" in execute(api, second["uuid"], "cat /srv/file")["output"]
        delete(api, second["uuid"])
        wait_for(lambda: demo.block_storage.get_volume(volume.id).status == "available", 60,
                 "the volume detached again")
    finally:
        demo.block_storage.delete_volume(volume.id, ignore_missing=True)


def test_another_projects_volume_is_refused(cloud: Higgins,
                                            demo: openstack.connection.Connection) -> None:
    volume = demo.block_storage.create_volume(size=1, name=f"mine-{uuidlib.uuid4().hex[:6]}")
    try:
        alt = member_api(cloud, "alt_member", "alt_demo")
        answer = alt.call("POST", "/v1/containers", json={
            "image": "busybox:local", "mounts": [{"source": volume.id, "destination": "/d"}]})
        assert answer.status_code == 400, answer.text
        assert "could not be found in Cinder" in answer.json()["errors"][0]["detail"]
    finally:
        demo.block_storage.wait_for_status(volume, "available", wait=60)
        demo.block_storage.delete_volume(volume.id, ignore_missing=True)
