"""Cinder volumes for containers as Higgins handles them, against the Cinder of
scripts/start-cinder.sh: the API finds and creates a tenant's volume as the tenant
(integrations.cinder with demo_member's connection), the agent attaches it as Higgins' service
user for a container with its host's os-brick connector, mounts it (agents.volumes: a loop
device, ext4 when blank), unmounts it, detaches and deletes it. Needs root (losetup, mount)."""

from __future__ import annotations

import subprocess
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import keystoneauth1.session
import openstack.connection
import pytest
from keystoneauth1.identity import v3
from openstack.block_storage.v3._proxy import Proxy as BlockStorage

from higgins.agents import volumes
from higgins.integrations import cinder, connections
from higgins.settings import OpenStackSettings

pytestmark = [pytest.mark.cinder, pytest.mark.keystone]

KEYSTONE = "http://127.0.0.1:5000/v3"
VOLUMES = Path("/var/lib/higgins-cinder/volumes")
SERVICE = OpenStackSettings(auth_url=KEYSTONE, password="secret", cinder=True)
TEXT = "written through a Cinder volume\n"


def connect(user: str, project: str) -> openstack.connection.Connection:
    auth = v3.Password(auth_url=KEYSTONE, username=user, password="secret",
                       project_name=project, user_domain_id="default",
                       project_domain_id="default")
    return openstack.connection.Connection(session=keystoneauth1.session.Session(auth=auth),
                                           region_name="RegionOne")


@pytest.fixture(scope="module")
def member() -> openstack.connection.Connection:
    """What the API acts with for demo_member's request."""
    return connect("demo_member", "demo")


@pytest.fixture(scope="module")
def service() -> openstack.connection.Connection:
    """What the agent acts with: Higgins' service user (roles service and admin)."""
    return connections.for_service(SERVICE)


@pytest.fixture(scope="module")
def host_connector() -> dict[str, object]:
    return volumes.connector(f"test-host-{uuidlib.uuid4().hex[:8]}")


@pytest.fixture
def volume(member: openstack.connection.Connection,
           service: openstack.connection.Connection) -> Iterator[cinder.Volume]:
    """An available 1 GiB volume of demo_member's; detached and deleted afterwards."""
    made = cinder.create_volume(member, 1, f"higgins-volumes-{uuidlib.uuid4().hex[:8]}")
    try:
        yield cinder.wait_available(member, made.id)
    finally:
        for attachment_id in cinder.attachment_ids(service, made.id):
            cinder.detach(service, attachment_id)
        cinder.delete_volume(service, made.id)


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Path]:
    """Where the agent mounts the volume (unmounted afterwards)."""
    where = tmp_path / "data"
    try:
        yield where
    finally:
        volumes.unmount(where)


def test_a_member_finds_their_volume_by_name_and_by_id(
        member: openstack.connection.Connection, volume: cinder.Volume) -> None:
    by_name, by_id = cinder.find_volume(member, volume.name), cinder.find_volume(member, volume.id)
    assert by_name == by_id == volume
    assert (volume.size, volume.status, volume.multiattach) == (1, "available", False)


@pytest.mark.parametrize("ref", ["id", "name"])
def test_another_projects_volume_is_not_found(volume: cinder.Volume, ref: str) -> None:
    with pytest.raises(cinder.CinderError, match="could not be found") as refused:
        cinder.find_volume(connect("alt_member", "alt_demo"), getattr(volume, ref))
    assert refused.value.status == 400


def test_a_name_two_volumes_share_is_ambiguous(
        member: openstack.connection.Connection, service: openstack.connection.Connection,
        volume: cinder.Volume) -> None:
    twin = cinder.create_volume(member, 1, volume.name)
    try:
        with pytest.raises(cinder.CinderError, match="Multiple Cinder volumes") as refused:
            cinder.find_volume(member, volume.name)
        assert refused.value.status == 409
    finally:
        cinder.wait_available(member, twin.id)
        cinder.delete_volume(service, twin.id)


def test_the_service_user_does_not_create_a_volume_for_a_tenant(
        member: openstack.connection.Connection,
        service: openstack.connection.Connection) -> None:
    """Cinder would put it in the service project, outside the tenant's sight and quota."""
    name = f"higgins-volumes-{uuidlib.uuid4().hex[:8]}"
    with pytest.raises(cinder.CinderError, match="that project's connection") as refused:
        cinder.create_volume(service, 1, name, project_id=member.current_project_id)
    assert refused.value.status == 500
    assert list(service.block_storage.volumes(name=name, all_projects=True)) == []


@pytest.mark.parametrize("kind", ["iscsi", "nvmeof", "rbd", "nfs"])
def test_connections_other_than_local_are_refused(kind: str, target: Path) -> None:
    with pytest.raises(volumes.VolumeError) as refused:
        volumes.mount({"driver_volume_type": kind, "device_path": "/dev/null"}, target)
    assert f"connection type {kind!r} is not supported on this host" in str(refused.value)
    assert "kernel has no iSCSI, NVMe-oF, RBD, NFS" in str(refused.value)
    assert not target.exists()


def test_a_local_connection_without_a_path_is_refused(target: Path) -> None:
    with pytest.raises(volumes.VolumeError, match="no device_path"):
        volumes.mount({"driver_volume_type": "local"}, target)
    assert not target.exists()


def test_an_attached_volume_is_in_use_once_per_container(
        member: openstack.connection.Connection, service: openstack.connection.Connection,
        volume: cinder.Volume, host_connector: dict[str, object]) -> None:
    container = str(uuidlib.uuid4())
    attachment = cinder.attach(service, volume.id, container, host_connector, "/data")
    assert cinder.attach(service, volume.id, container, host_connector, "/data") == attachment
    info = attachment.connection_info
    assert (info["driver_volume_type"], info["access_mode"]) == ("local", "rw")
    assert cinder.connect_volume(info) == str(VOLUMES / f"volume-{volume.id}")
    with pytest.raises(cinder.CinderError, match="is in-use") as refused:
        cinder.find_volume(member, volume.id)
    assert refused.value.status == 409
    with pytest.raises(cinder.CinderError, match="detach it first"):
        cinder.delete_volume(service, volume.id)
    assert cinder.attachment_ids(service, volume.id) == [attachment.id]

    cinder.detach(service, attachment.id)
    cinder.detach(service, attachment.id)
    assert cinder.find_volume(member, volume.id).status == "available"
    assert cinder.attachment_ids(service, volume.id) == []


def test_an_attach_retried_after_a_crash_completes_its_reservation(
        service: openstack.connection.Connection, volume: cinder.Volume,
        host_connector: dict[str, object]) -> None:
    container = str(uuidlib.uuid4())
    storage = service.block_storage
    assert isinstance(storage, BlockStorage)
    reserved = storage.create_attachment(volume.id, instance=container)  # then the agent died

    attachment = cinder.attach(service, volume.id, container, host_connector, "/data")
    assert attachment.id == reserved.id
    assert attachment.connection_info["driver_volume_type"] == "local"
    assert storage.get_attachment(reserved.id).status == "attached"
    cinder.detach(service, attachment.id)


def test_a_volume_keeps_its_files_across_mounts(
        service: openstack.connection.Connection, volume: cinder.Volume,
        host_connector: dict[str, object], target: Path) -> None:
    attachment = cinder.attach(service, volume.id, str(uuidlib.uuid4()), host_connector,
                               "/data")
    device = volumes.mount(attachment.connection_info, target)
    assert volumes.mount(attachment.connection_info, target) == device
    assert filesystem_of(device) == "ext4"
    (target / "hello.txt").write_text(TEXT)
    volumes.unmount(target)
    volumes.unmount(target)
    assert loop_devices_of(volume) == []

    assert volumes.mount(attachment.connection_info, target).startswith("/dev/loop")
    assert (target / "hello.txt").read_text() == TEXT  # read from the file: no page cache
    volumes.unmount(target)
    assert loop_devices_of(volume) == []
    cinder.detach(service, attachment.id)


def test_delete_waits_until_the_volume_is_gone(
        member: openstack.connection.Connection, service: openstack.connection.Connection,
        volume: cinder.Volume) -> None:
    cinder.delete_volume(service, volume.id)
    assert not (VOLUMES / f"volume-{volume.id}").exists()
    with pytest.raises(cinder.CinderError, match="could not be found"):
        cinder.find_volume(member, volume.id)
    cinder.delete_volume(service, volume.id)


def filesystem_of(device: str) -> str:
    return subprocess.run(["blkid", "-o", "value", "-s", "TYPE", device], check=True,
                          capture_output=True, text=True, timeout=60).stdout.strip()


def loop_devices_of(volume: cinder.Volume) -> list[str]:
    return subprocess.run(["losetup", "--noheadings", "--output", "NAME", "--associated",
                           str(VOLUMES / f"volume-{volume.id}")], check=True,
                          capture_output=True, text=True, timeout=60).stdout.split()
