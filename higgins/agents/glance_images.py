"""EDGE: the agent's Glance images (Zun's image_driver glance): a container's Glance image is
downloaded as Higgins' service user, checked against the checksum Glance recorded, loaded into
the host's Docker and tagged glance/<image id> (so the next container from it needs no
download); a commit's saved image is uploaded into the Glance image the API reserved.
Side effects: HTTP to Glance, Docker calls, temporary files under the agent's state path."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from higgins.agents.docker_driver import DockerDriver
from higgins.faults import DriverError
from higgins.integrations import connections, glance
from higgins.settings import OpenStackSettings

LOG = logging.getLogger(__name__)


def local_name(reference: dict[str, Any]) -> str:
    """The Docker name a Glance image is loaded under on a host."""
    return f"glance/{reference['id']}:latest"


class GlanceImages:
    def __init__(self, connect: Callable[[], glance.Connection], driver: DockerDriver,
                 workdir: Path) -> None:
        self._connect = connect  # Higgins' service user (tokens renewed by keystoneauth)
        self._driver = driver
        self._workdir = workdir
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    @classmethod
    def configured(cls, settings: OpenStackSettings, driver: DockerDriver,
                   workdir: Path) -> GlanceImages | None:
        """The host's Glance images when [glance] is enabled, else None."""
        if not settings.glance:
            return None
        return cls(lambda: connections.for_service(settings), driver, workdir)

    def ensure(self, reference: dict[str, Any], policy: str | None) -> str:
        """The local name of the Glance image, downloaded and loaded first unless the host has
        it (Zun's pull policies: ifnotpresent, always, never)."""
        name, policy = local_name(reference), (policy or "ifnotpresent").lower()
        with self._lock(reference["id"]):
            present = self._driver.has_image(name)
            if policy == "never" and not present:
                raise DriverError(f"Glance image {reference['id']} is not on host "
                                  f"{self._driver.host} and image_pull_policy is never.")
            if present and policy != "always":
                return name
            with self._scratch(f"glance-{reference['id']}") as path:
                try:
                    glance.download(self._connect(), reference, path)
                except glance.GlanceError as error:
                    raise DriverError(f"Failed to get image {reference.get('name') or ''} "
                                      f"({reference['id']}) from Glance: {error}") from error
                LOG.info("glance image %s downloaded (%d bytes) and verified; loading",
                         reference["id"], path.stat().st_size)
                self._driver.load_image(path, name)
        return name

    def upload(self, image_id: str, name: str) -> None:
        """Upload Docker's saved `name` into the Glance image `image_id`; on failure the
        reserved image is deleted (as Zun does) and the error raised."""
        try:
            with self._scratch(f"commit-{image_id}") as path:
                self._driver.save_image(name, path)
                glance.upload(self._connect(), image_id, path)
        except (DriverError, glance.GlanceError) as error:
            with contextlib.suppress(glance.GlanceError):
                glance.delete(self._connect(), image_id)
            raise DriverError(f"Failed to upload the commit to Glance: {error}") from error

    def _lock(self, image_id: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(image_id, threading.Lock())

    @contextlib.contextmanager
    def _scratch(self, prefix: str) -> Iterator[Path]:
        self._workdir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tar", dir=self._workdir)
        os.close(handle)  # only its name is used: the writers open it themselves
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
