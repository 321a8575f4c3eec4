"""The Cinder of scripts/start-cinder.sh as Higgins uses it, through openstacksdk as demo_member:
a 1 GiB volume of Higgins' sparse-file driver, attached with the attachment API for a connector
of this machine's os-brick, carrying an ext4 filesystem written and read through a loop device,
detached and deleted. Cinder's default policy, unchanged. Needs root (losetup, mount)."""

from __future__ import annotations

import contextlib
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keystoneauth1.session
import openstack.connection
import pytest
from keystoneauth1.identity import v3
from openstack import exceptions
from openstack.block_storage.v3._proxy import Proxy as BlockStorage

from tests.integration.conftest import wait_for

pytestmark = [
    pytest.mark.cinder, pytest.mark.keystone,
    # openstacksdk 4.22's block-storage proxy calls methods and arguments it deprecated itself
    # (_compute_attributes, service_type=); nothing of ours is deprecated
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
]

KEYSTONE = "http://127.0.0.1:5000/v3"
VOLUMES = Path("/var/lib/higgins-cinder/volumes")
GiB = 1024**3
WAIT: dict[str, Any] = {"interval": 0.2, "wait": 60}


def connector_of(host: str) -> dict[str, Any]:
    """What os-brick says a consumer on this machine connects with, named `host`. os-brick
    runs its privileged probes in this (root) process instead of a privsep daemon via sudo.
    oslo.privsep imports eventlet, which warns on import and on each fork (os-brick runs
    `nvme` and `iscsiadm` to probe): those warnings are eventlet's, not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import os_brick.privileged  # noqa: PLC0415
        from os_brick.initiator import connector  # noqa: PLC0415

        os_brick.privileged.default.set_client_mode(False)
        return dict(connector.get_connector_properties(None, "127.0.0.1", False, False,
                                                       host=host))


def local_device_path(connection_info: dict[str, Any]) -> str:
    """The path os-brick's LOCAL connector hands a consumer for this connection."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from os_brick.initiator.connectors.local import LocalConnector  # noqa: PLC0415
    return str(LocalConnector(None).connect_volume(connection_info)["path"])


def run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture(scope="module")
def storage() -> BlockStorage:
    """demo_member's block-storage proxy, from a keystoneauth session as Higgins makes its
    connections (openstack.connect() reads clouds.yaml defaults and warns about InfluxDB)."""
    auth = v3.Password(auth_url=KEYSTONE, username="demo_member", password="secret",
                       project_name="demo", user_domain_id="default",
                       project_domain_id="default")
    cloud = openstack.connection.Connection(session=keystoneauth1.session.Session(auth=auth),
                                            region_name="RegionOne")
    proxy = cloud.block_storage
    assert isinstance(proxy, BlockStorage)  # the v3 API, found through the catalog
    return proxy


@pytest.fixture
def volume(storage: BlockStorage) -> Iterator[Any]:
    """An available 1 GiB volume of demo_member's; deleted (and its attachments) afterwards."""
    created = storage.create_volume(size=1, name="higgins-cinder-test")
    try:
        yield storage.wait_for_status(created, "available", failures=["error"], **WAIT)
    finally:
        for attachment in storage.attachments(volume_id=created.id):
            storage.delete_attachment(attachment)
        wait_for(lambda: storage.get_volume(created).status in ("available", "error"),
                 what="the volume detached before its delete")
        storage.delete_volume(created)
        storage.wait_for_delete(created, **WAIT)


def test_block_storage_is_found_in_the_catalog(storage: BlockStorage) -> None:
    assert storage.get_endpoint() == "http://127.0.0.1:8776/v3"


def test_a_volume_is_a_sparse_file_of_its_size(volume: Any) -> None:
    stat = (VOLUMES / f"volume-{volume.id}").stat()
    assert (volume.size, stat.st_size, stat.st_blocks) == (1, GiB, 0)


def test_attached_volume_carries_an_ext4_filesystem(
        storage: BlockStorage, volume: Any, tmp_path: Path) -> None:
    attachment = storage.create_attachment(volume)
    assert (attachment.status, attachment.connection_info) == ("reserved", {})
    connector = connector_of("test-host")
    attachment = storage.update_attachment(attachment, connector=connector)
    storage.complete_attachment(attachment)
    assert storage.get_volume(volume).status == "in-use"
    attached = storage.get_attachment(attachment)
    assert (attached.status, attached.connector["host"]) == ("attached", "test-host")
    info = attached.connection_info
    assert (info["driver_volume_type"], info["access_mode"]) == ("local", "rw")

    path = local_device_path(info)
    assert path == str(VOLUMES / f"volume-{volume.id}")
    write_and_read_back(path, tmp_path / "mnt")

    storage.delete_attachment(attachment)
    wait_for(lambda: storage.get_volume(volume).status == "available", what="volume detached")
    assert list(storage.attachments(volume_id=volume.id)) == []


def write_and_read_back(path: str, mountpoint: Path) -> None:
    """What Higgins' agent does with a blank volume: loop device, mkfs.ext4, mount, use."""
    device = run("losetup", "--find", "--show", path).strip()
    try:
        blank = subprocess.run(["blkid", "-p", device], capture_output=True, timeout=60)
        assert blank.returncode == 2, blank.stdout  # 2: blkid found no signature at all
        run("mkfs.ext4", "-q", device)
        mountpoint.mkdir()
        with mounted(device, mountpoint):
            (mountpoint / "hello.txt").write_text("written through a Cinder volume\n")
        with mounted(device, mountpoint):  # read back from the file, not the page cache
            assert (mountpoint / "hello.txt").read_text() == "written through a Cinder volume\n"
    finally:
        run("losetup", "-d", device)
    assert run("blkid", "-o", "value", "-s", "TYPE", path).strip() == "ext4"


@contextlib.contextmanager
def mounted(device: str, mountpoint: Path) -> Iterator[None]:
    run("mount", device, str(mountpoint))
    try:
        yield
    finally:
        run("umount", str(mountpoint))


def test_extend_grows_the_file(storage: BlockStorage, volume: Any) -> None:
    storage.extend_volume(volume, 2)

    def extended() -> bool:
        now = storage.get_volume(volume)
        return (now.status, now.size) == ("available", 2)

    wait_for(extended, what="the volume available at 2 GiB")
    assert (VOLUMES / f"volume-{volume.id}").stat().st_size == 2 * GiB


def test_snapshots_are_refused_as_error(storage: BlockStorage, volume: Any) -> None:
    snapshot = storage.create_snapshot(volume_id=volume.id, name="refused")
    try:
        with pytest.raises(exceptions.ResourceFailure):
            storage.wait_for_status(snapshot, "available", failures=["error"], **WAIT)
    finally:
        storage.delete_snapshot(snapshot)
        storage.wait_for_delete(snapshot, **WAIT)


def test_delete_removes_the_file(storage: BlockStorage) -> None:
    created = storage.create_volume(size=1, name="higgins-cinder-delete")
    storage.wait_for_status(created, "available", failures=["error"], **WAIT)
    assert (VOLUMES / f"volume-{created.id}").exists()
    storage.delete_volume(created)
    storage.wait_for_delete(created, **WAIT)
    assert not (VOLUMES / f"volume-{created.id}").exists()
