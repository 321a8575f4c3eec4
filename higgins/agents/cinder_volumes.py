"""EDGE: the agent's Cinder volumes (Zun's mounts of type volume): each volume is attached to
this host for the container through Cinder's attachments API as Higgins' service user, its
filesystem mounted on the host (higgins.agents.volumes: a loop device, ext4) at
<state>/volumes/<container>/<volume>, and bound into the container at its destination; with
the container it is unmounted, detached, and deleted when Higgins made it.
Side effects: HTTP to Cinder, mounts and loop devices on the host."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from higgins.agents import volumes
from higgins.faults import DriverError
from higgins.integrations import cinder, connections
from higgins.settings import OpenStackSettings

LOG = logging.getLogger(__name__)


class CinderVolumes:
    def __init__(self, connect: Callable[[], cinder.Connection], host: str,
                 workdir: Path) -> None:
        self._connect = connect  # Higgins' service user (only a service may detach)
        self._host = host
        self._workdir = workdir

    @classmethod
    def configured(cls, settings: OpenStackSettings, host: str,
                   workdir: Path) -> CinderVolumes | None:
        """The host's Cinder volumes when [cinder] is enabled, else None."""
        if not settings.cinder:
            return None
        return cls(lambda: connections.for_service(settings), host, workdir)

    def path(self, uuid: str, volume_id: str) -> Path:
        return self._workdir / uuid / volume_id

    def attach(self, uuid: str, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Attach and mount each volume for the container (a retry finds its attachments);
        the volume_mounts the created event reports. A failure releases what was done."""
        conn, done = self._connect(), []
        try:
            for volume in wanted:
                cinder.wait_attachable(conn, volume["volume_id"])
                attached = cinder.attach(conn, volume["volume_id"], uuid,
                                         volumes.connector(self._host), volume["destination"])
                path = self.path(uuid, volume["volume_id"])
                done.append({**volume, "attachment_id": attached.id, "path": str(path)})
                volumes.mount(attached.connection_info, path)
        except (cinder.CinderError, DriverError) as error:
            self.release(uuid, done, delete=False)
            raise DriverError(f"Could not attach the container's volumes: {error}") from error
        return done

    def release(self, uuid: str, mounts: list[dict[str, Any]], delete: bool = True) -> None:
        """Unmount and detach the container's volumes, and delete those Higgins made; what is
        gone already is skipped, so a repeat is harmless. A failure is logged, not raised:
        the container is gone whatever its volumes do."""
        conn = self._connect()
        for mount in mounts:
            volume_id = mount["volume_id"]
            try:
                volumes.unmount(Path(mount.get("path") or self.path(uuid, volume_id)))
                attachments = [mount["attachment_id"]] if mount.get("attachment_id") \
                    else cinder.attachment_ids(conn, volume_id)
                for attachment in attachments:
                    cinder.detach(conn, attachment)
                if delete and mount.get("auto_remove"):
                    cinder.delete_volume(conn, volume_id)
            except (cinder.CinderError, DriverError) as error:
                LOG.warning("volume %s of %s not released: %s", volume_id, uuid, error)
