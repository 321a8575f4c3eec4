"""EDGE: Glance images for containers (Zun's image_driver glance), through openstacksdk: find
the image a tenant named (Glance's own visibility rules decide what they can see), reserve an
image record for a commit, upload and download image data (Docker's saved tarball, as Zun
stores it: container_format docker, disk_format raw), search. Side effects: HTTP to Glance."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openstack.connection
import openstack.exceptions
from openstack.image.v2 import image as image_resource

from higgins.integrations.errors import ServiceError, translated

CONTAINER_FORMAT = "docker"
DISK_FORMAT = "raw"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_CHUNK = 1 << 20


GlanceError = ServiceError


@dataclass(frozen=True)
class GlanceImage:
    id: str
    name: str
    status: str
    container_format: str | None
    size: int | None
    hash_algo: str | None
    hash_value: str | None
    checksum: str | None  # md5, when Glance still computes it
    tags: tuple[str, ...] = ()

    def reference(self) -> dict[str, Any]:
        """What a create event carries so an agent can fetch and verify exactly this image."""
        return {"id": self.id, "name": self.name, "size": self.size,
                "hash_algo": self.hash_algo, "hash_value": self.hash_value,
                "checksum": self.checksum}


Connection = openstack.connection.Connection


def find_image(conn: Connection, ref: str) -> GlanceImage:
    """The active docker-format image `ref` (an id, or a name that only one image the caller
    can see has), as Glance shows it to the caller."""
    with translated("Glance", f"look up image {ref}"):
        found = _by_id(conn, ref) if _UUID.match(ref) else None
        if found is None:
            named = list(conn.image.images(name=ref))
            if len(named) > 1:
                raise GlanceError(409, f"Multiple Glance images are named {ref!r}; use the "
                                       "image's id instead.")
            found = _image(named[0]) if named else None
    if found is None:
        raise GlanceError(400, f"Image {ref} could not be found in Glance.")
    if found.container_format != CONTAINER_FORMAT:
        raise GlanceError(400, f"Glance image {ref} has container_format "
                               f"{found.container_format!r}; a container needs 'docker'.")
    if found.status != "active":
        raise GlanceError(400, f"Glance image {ref} is {found.status}, not active.")
    return found


def _by_id(conn: Connection, ident: str) -> GlanceImage | None:
    try:
        return _image(conn.image.get_image(ident))
    except openstack.exceptions.NotFoundException:
        return None


def _image(found: Any) -> GlanceImage:
    return GlanceImage(str(found.id), str(found.name or ""), str(found.status),
                       found.container_format, found.size, found.hash_algo, found.hash_value,
                       found.checksum, tuple(found.tags or ()))


def reserve_image(conn: Connection, name: str, tag: str) -> str:
    """A new, empty (queued) image record named `name` for a commit's upload, owned by the
    caller's project and private, as Glance makes it; its id."""
    with translated("Glance", f"create image {name}"):
        made = image_resource.Image.new(name=name, container_format=CONTAINER_FORMAT,
                                        disk_format=DISK_FORMAT, tags=[tag]).create(conn.image)
    return str(made.id)


def upload(conn: Connection, image_id: str, path: Path) -> None:
    """Store the file's bytes as the image's data (Glance makes it active)."""
    with translated("Glance", f"upload image {image_id}"), path.open("rb") as data:
        image = conn.image.get_image(image_id)
        image.upload(conn.image, data=data, size=path.stat().st_size).raise_for_status()


def download(conn: Connection, reference: dict[str, Any], path: Path) -> None:
    """Write the image's data to `path`, checked against the hash Glance recorded when it was
    uploaded (os_hash_algo / os_hash_value, else the md5 checksum); a mismatch removes the file
    and raises."""
    algo, expected = reference.get("hash_algo"), reference.get("hash_value")
    if not (algo and expected and algo in hashlib.algorithms_available):
        algo, expected = "md5", reference.get("checksum")
    if not expected:
        raise GlanceError(502, f"Glance image {reference['id']} has no checksum to verify.")
    digest = hashlib.new(str(algo))
    with translated("Glance", f"download image {reference['id']}"):
        response = conn.image.download_image(reference["id"], stream=True)
        try:
            with path.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        finally:
            response.close()
    if digest.hexdigest() != expected:
        path.unlink(missing_ok=True)
        raise GlanceError(502, f"Glance image {reference['id']}'s data does not match its "
                               f"{algo} checksum; refused.")


def delete(conn: Connection, image_id: str) -> None:
    with translated("Glance", f"delete image {image_id}"):
        conn.image.delete_image(image_id, ignore_missing=True)


def search(conn: Connection, term: str, exact: bool) -> list[GlanceImage]:
    """The docker-format images the caller can see whose name is `term` (exact) or holds it."""
    with translated("Glance", "search images"):
        found = conn.image.images(name=term) if exact else conn.image.images()
        matched = [_image(i) for i in found if i.container_format == CONTAINER_FORMAT]
    return [i for i in matched if exact or term.lower() in i.name.lower()]
