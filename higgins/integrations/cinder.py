"""EDGE: Cinder volumes for containers (Zun's `mounts` of type volume) through openstacksdk's
block-storage proxy: find the volume a tenant named, create and delete the volumes Higgins makes
for a size, attach and detach one for a container with Cinder's v3 attachments API; and the host
side of Cinder's data path through os-brick (the connector a host attaches with, the device a
connection gives). Side effects: HTTP to Cinder; os-brick's probes run commands as root."""

from __future__ import annotations

import contextlib
import functools
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import keystoneauth1.exceptions
import openstack.connection
import openstack.exceptions
from openstack.block_storage.v3._proxy import Proxy as BlockStorage

Connection = openstack.connection.Connection

ATTACHMENTS_MICROVERSION = "3.27"  # the first with the attachments API
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_POLL = 0.2
_DESCRIPTION = "Made by Higgins for a container's mount; deleted with the container."


class CinderError(Exception):
    """What Cinder refused or could not do, with the HTTP status an API caller should get."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size: int  # GiB
    status: str
    multiattach: bool
    project_id: str | None = None  # Cinder shows it to admins only (os-vol-tenant-attr)

    def usable(self) -> bool:
        """Whether a container can attach it now: available, or in use by others and
        multiattach (Zun's rule)."""
        return self.status == "available" or (self.multiattach and self.status == "in-use")


@dataclass(frozen=True)
class Attachment:
    id: str
    connection_info: dict[str, Any]  # Cinder's, for os-brick: driver_volume_type and its data


def find_volume(conn: Connection, ref: str) -> Volume:
    """The volume `ref` (an id, or a name only one volume the caller can see has), as Cinder
    shows it to the caller, when a container can attach it now."""
    with _translated(f"look up volume {ref}"):
        found = _get(conn, ref) if _UUID.match(ref) else None
        if found is None:
            named = [_volume(v) for v in conn.block_storage.volumes(name=ref)]
            if len(named) > 1:
                raise CinderError(409, f"Multiple Cinder volumes are named {ref!r}; use the "
                                       "volume's id instead.")
            found = named[0] if named else None
    if found is None:
        raise CinderError(400, f"Volume {ref} could not be found in Cinder.")
    if not found.usable():
        raise CinderError(409, f"Cinder volume {ref} is {found.status}; a container needs it "
                               "available (or multiattach).")
    return found


def create_volume(conn: Connection, size_gb: int, name: str,
                  project_id: str | None = None) -> Volume:
    """A new, still `creating` volume of `size_gb` GiB (see wait_available) in the project of
    `conn`. Cinder always puts a volume in the project of the token that creates it: Cinder 29
    ignores a project_id or os-vol-tenant-attr:tenant_id in the request, even an admin's. So a
    tenant's volume is created with the tenant's own connection (the API's, as Zun does), where
    it counts against their quota; `project_id`, when given, must be that connection's project,
    and anything else is refused before Cinder is asked."""
    with _translated(f"create a {size_gb} GiB volume"):
        if project_id is not None and project_id != conn.current_project_id:
            raise CinderError(500, f"A volume for project {project_id} can only be created "
                                   "with that project's connection; Cinder would put it in "
                                   f"project {conn.current_project_id}.")
        made = conn.block_storage.create_volume(size=size_gb, name=name,
                                                description=_DESCRIPTION)
    return _volume(made)


def wait_available(conn: Connection, volume_id: str, timeout: float = 60) -> Volume:
    """The volume once Cinder made it available; a volume gone to error (no backend could take
    it, say) or still not there after `timeout` seconds raises."""
    deadline = time.monotonic() + timeout
    while True:
        with _translated(f"look up volume {volume_id}"):
            volume = _get(conn, volume_id)
        if volume is None:
            raise CinderError(404, f"Cinder volume {volume_id} disappeared before it was "
                                   "available.")
        if volume.status == "available":
            return volume
        if volume.status.startswith("error"):
            raise CinderError(502, f"Cinder could not make volume {volume_id}: it is "
                                   f"{volume.status}.")
        _pause(deadline, f"Cinder volume {volume_id} is still {volume.status} after "
                         f"{timeout:g} s.")


def wait_attachable(conn: Connection, volume_id: str, timeout: float = 60) -> None:
    """Return once the volume is past `creating` (available, or attached already: a retried
    attach); raise when it went to error, is gone, or is still being made after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        with _translated(f"look up volume {volume_id}"):
            volume = _get(conn, volume_id)
        if volume is None:
            raise CinderError(404, f"Cinder volume {volume_id} does not exist.")
        if volume.status.startswith("error"):
            raise CinderError(502, f"Cinder volume {volume_id} is {volume.status}.")
        if volume.status not in ("creating", "downloading"):
            return
        _pause(deadline, f"Cinder volume {volume_id} is still {volume.status} after "
                         f"{timeout:g} s.")


def attach(conn: Connection, volume_id: str, instance_uuid: str, connector: dict[str, Any],
           mountpoint: str) -> Attachment:
    """Attach the volume for the container `instance_uuid` on the host `connector` describes
    (os-brick's properties; `mountpoint` is where the container sees the volume): reserve it,
    give Cinder the connector (the driver answers the connection_info), complete (the volume
    is in-use). A retry attaches once: the container's attachment is returned as it is, or its
    reservation (left by a crash) completed; a failure after a new reservation removes it."""
    with _translated(f"attach volume {volume_id}"):
        storage = _attachments_api(conn)
        existing = _attachment_of(storage, volume_id, instance_uuid)
        if existing is not None and existing.status == "attached":
            return Attachment(str(existing.id), dict(existing.connection_info or {}))
        reserved = existing or storage.create_attachment(volume_id, instance=instance_uuid)
    try:
        with _translated(f"attach volume {volume_id}"):
            updated = storage.update_attachment(
                reserved.id, connector={**connector, "mountpoint": mountpoint})
            storage.complete_attachment(reserved.id)
    except CinderError:
        if existing is None:
            with contextlib.suppress(CinderError):
                detach(conn, str(reserved.id))
        raise
    return Attachment(str(reserved.id), dict(updated.connection_info or {}))


def _attachment_of(storage: BlockStorage, volume_id: str, instance_uuid: str) -> Any:
    """The container's attachment of the volume (reserved or attached), if it has one."""
    for found in storage.attachments(volume_id=volume_id, all_projects=True):
        if found.instance == instance_uuid:
            return found
    return None


def attachment_ids(conn: Connection, volume_id: str) -> list[str]:
    """The ids of all the volume's attachments, reserved ones too (for an admin such as
    Higgins' service user, whoever made them): what to detach before deleting it."""
    with _translated(f"list the attachments of volume {volume_id}"):
        found = _attachments_api(conn).attachments(volume_id=volume_id, all_projects=True)
        return [str(attachment.id) for attachment in found]


def detach(conn: Connection, attachment_id: str) -> None:
    """Delete the attachment (Cinder makes the volume available once none is left); nothing
    when it is already gone. Cinder lets only a service delete an attachment that carries an
    instance uuid and a connection (bug #2004555; anyone else makes it ask Nova, and there is
    no Nova): so this goes with the connection's token as X-Service-Token too, and `conn` has
    to be Higgins' service user (role service)."""
    storage = conn.block_storage
    with _translated(f"detach attachment {attachment_id}"):
        response = storage.delete(f"/attachments/{attachment_id}", raise_exc=False,
                                  microversion=ATTACHMENTS_MICROVERSION,
                                  headers={"X-Service-Token": storage.get_token()})
        if response.status_code != 404:
            openstack.exceptions.raise_from_response(response)


def delete_volume(conn: Connection, volume_id: str, timeout: float = 60) -> None:
    """Delete the volume and wait until Cinder has; nothing when it is already gone. A volume
    still attached is refused (409); one Cinder fails to delete raises."""
    deadline = time.monotonic() + timeout
    with _translated(f"delete volume {volume_id}"):
        volume = _get(conn, volume_id)
        if volume is not None and volume.status in ("in-use", "attaching", "detaching"):
            raise CinderError(409, f"Cinder volume {volume_id} is {volume.status}; detach it "
                                   "first.")
        if volume is not None and volume.status != "deleting":
            conn.block_storage.delete_volume(volume_id, ignore_missing=True)
    while volume is not None:
        _pause(deadline, f"Cinder volume {volume_id} is still {volume.status} after "
                         f"{timeout:g} s.")
        with _translated(f"look up volume {volume_id}"):
            volume = _get(conn, volume_id)
        if volume is not None and volume.status == "error_deleting":
            raise CinderError(502, f"Cinder could not delete volume {volume_id}.")


def connector(host: str, ip: str = "127.0.0.1") -> dict[str, Any]:
    """What this host attaches volumes with (os-brick's connector properties), named `host`.
    os-brick's probes (iSCSI initiator name, NVMe host NQN...) run in this process, which has to
    be root: no privsep daemon, no sudo (which this machine does not have). Probed once per
    host and ip: the answer does not change while the agent runs, and each probe logs what the
    host lacks."""
    return dict(_connector_properties(host, ip))


@functools.cache
def _connector_properties(host: str, ip: str) -> tuple[tuple[str, Any], ...]:
    brick = _os_brick()
    brick.privileged.default.set_client_mode(False)
    with warnings.catch_warnings():
        # eventlet warns before every fork with a preexec_fn, which is how os-brick's probes
        # run their commands; nothing here uses eventlet
        warnings.filterwarnings("ignore", message=r"Using fork\(\) is a bad idea",
                                category=DeprecationWarning)
        properties = brick.connector.get_connector_properties(None, ip, False, False,
                                                              host=host)
    return tuple(properties.items())


def connect_volume(connection_info: dict[str, Any]) -> str:
    """The path on this host of the volume `connection_info` describes, from os-brick's
    connector for its driver_volume_type (for `local`, the file Cinder's driver named)."""
    brick = _os_brick()
    protocol = str(connection_info.get("driver_volume_type", "")).upper()
    try:
        initiator = brick.connector.InitiatorConnector.factory(protocol, None)
        return str(initiator.connect_volume(connection_info)["path"])
    except (brick.exception.BrickException, ValueError, KeyError, OSError) as error:
        raise CinderError(502, f"os-brick could not connect the {protocol.lower()} volume: "
                               f"{error}") from error


@functools.cache
def _os_brick() -> SimpleNamespace:
    """os-brick, imported when first used: it imports eventlet (through oslo.privsep), which an
    API process has no use for. The import warns about eventlet (a banner printed by default)
    and about modules oslo.service and oslo.utils deprecated themselves: about os-brick's
    dependencies, not about anything we call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import os_brick.exception  # noqa: PLC0415
        import os_brick.privileged  # noqa: PLC0415
        from os_brick.initiator import connector  # noqa: PLC0415
    return SimpleNamespace(privileged=os_brick.privileged, connector=connector,
                           exception=os_brick.exception)


def _attachments_api(conn: Connection) -> BlockStorage:
    """The block-storage proxy of Cinder's v3 API (v2 has no attachments)."""
    storage = conn.block_storage
    if not isinstance(storage, BlockStorage):
        raise CinderError(503, "Cinder's catalog entry offers no v3 API, which attachments "
                               "need.")
    return storage


def _get(conn: Connection, volume_id: str) -> Volume | None:
    try:
        return _volume(conn.block_storage.get_volume(volume_id))
    except openstack.exceptions.NotFoundException:
        return None


def _volume(found: Any) -> Volume:
    return Volume(str(found.id), str(found.name or ""), int(found.size or 0), str(found.status),
                  bool(found.is_multiattach), found.project_id)


def _pause(deadline: float, timed_out: str) -> None:
    """Sleep a poll interval, or raise `timed_out` (504) when the deadline has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise CinderError(504, timed_out)
    time.sleep(min(_POLL, left))


@contextlib.contextmanager
def _translated(doing: str) -> Iterator[None]:
    """openstacksdk's and keystoneauth's errors as CinderErrors saying what failed."""
    try:
        yield
    except openstack.exceptions.HttpException as error:
        status = error.status_code or 502
        raise CinderError(status if status in (400, 403, 404, 409, 413) else 502,
                          f"Cinder refused to {doing}: {error.details or error}") from error
    except (keystoneauth1.exceptions.ClientException, OSError,
            openstack.exceptions.SDKException) as error:
        raise CinderError(503, f"Cinder could not {doing}: {error}") from error
