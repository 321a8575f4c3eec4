"""EDGE: Zun's mounts of Cinder volumes in the API: an existing volume (by id or name) is found
in Cinder as the caller, and a volume asked for by `size` is created as the caller (Cinder puts
a volume in the project of the token that makes it, so it is the tenant's, in their quota, as
in Zun), to be deleted with the container. The agent attaches them on its host. Side effects:
HTTP to Cinder."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import errors
from higgins.api.services import services
from higgins.integrations import cinder, connections

MAX_SIZE_GB = 1024


def volume_mounts(mounts: Any) -> list[dict[str, Any]]:
    """The mounts of type volume (Zun's default type) in a create body."""
    if not isinstance(mounts, list):
        return []
    return [m for m in mounts if isinstance(m, dict) and m.get("type", "volume") == "volume"]


def resolve(mounts: Any, uuid: str) -> dict[str, Any]:
    """What a create records about its volumes: each volume's id, where the container sees
    it, and whether Higgins made it (and so deletes it with the container)."""
    wanted = volume_mounts(mounts)
    if not wanted:
        return {}
    if not services().openstack.cinder:
        raise errors.bad_request("'mounts' of type volume need Cinder, and this Higgins has "
                                 "none configured ([cinder] enabled); inject files with type "
                                 "bind.")
    checked = [_checked(m) for m in wanted]
    conn = connections.for_request(flask.request.environ, services().openstack)
    volumes: list[dict[str, Any]] = []
    try:
        for index, (source, size, destination) in enumerate(checked):
            if source:
                found = cinder.find_volume(conn, source)
                volumes.append({"volume_id": found.id, "destination": destination,
                                "auto_remove": False})
            else:
                made = cinder.create_volume(conn, size, f"higgins-{uuid[:8]}-{index}")
                volumes.append({"volume_id": made.id, "destination": destination,
                                "auto_remove": True})
    except cinder.CinderError as error:
        forget(conn, volumes)
        raise errors.ApiError(error.status, "container.volume", str(error)) from error
    return {"volumes": volumes}


def forget(conn: cinder.Connection, volumes: list[dict[str, Any]]) -> None:
    """Delete the volumes this request made, when the create goes no further."""
    for volume in volumes:
        if volume["auto_remove"]:
            try:
                cinder.delete_volume(conn, volume["volume_id"], timeout=0)
            except cinder.CinderError:
                pass  # still creating: it stays, named higgins-<uuid>, for an operator


def _checked(mount: dict[str, Any]) -> tuple[str | None, int, str]:
    destination, source, size = mount.get("destination"), mount.get("source"), mount.get("size")
    if not isinstance(destination, str) or not destination.startswith("/"):
        raise errors.bad_request("Invalid input for field 'mounts': each volume needs an "
                                 "absolute destination path.")
    if bool(source) == (size not in (None, "")):
        raise errors.bad_request("Invalid input for field 'mounts': a volume mount has either "
                                 "a source (a Cinder volume) or a size (GiB, a new one).")
    if source:
        return str(source), 0, destination
    gib = str(size)
    if not gib.isdigit() or not 1 <= int(gib) <= MAX_SIZE_GB:
        raise errors.bad_request("Invalid input for field 'mounts': size is a whole number of "
                                 f"GiB from 1 to {MAX_SIZE_GB}.")
    return None, int(gib), destination
