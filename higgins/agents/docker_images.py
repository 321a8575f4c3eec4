"""EDGE: the Docker driver's images: pulls, removals and commits, and the capsule sandbox.
With docker_driver.py (which mixes this in), the only modules that import docker.
Side effects: talks to the Docker engine."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.utils

from higgins.agents import sandbox
from higgins.faults import DriverError

__all__ = ["DriverError"]

LOG = logging.getLogger(__name__)

NAME_PREFIX = "higgins-"
LABEL_UUID = "higgins.uuid"
LABEL_HOST = "higgins.host"
LABEL_PROJECT = "higgins.project_id"
LABEL_CAPSULE = "higgins.capsule"
SANDBOX_PREFIX = "higgins-sandbox-"
NETNS_PREFIX = "higgins-netns-"
LABEL_NETWORK_OF = "higgins.network_of"


def docker_name(uuid: str) -> str:
    return NAME_PREFIX + uuid


def sandbox_name(capsule_id: str) -> str:
    return SANDBOX_PREFIX + capsule_id


def netns_name(uuid: str) -> str:
    """The network sandbox of a container with Neutron ports: the paused process owning the
    network namespace the agent plugs the ports into, and the container joins."""
    return NETNS_PREFIX + uuid


def explain(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError):
        return str(error.explanation or error)
    return str(error)


@contextlib.contextmanager
def translated(doing: str, uuid: str) -> Iterator[None]:
    """Docker's errors about container `uuid` as DriverErrors that say what failed."""
    try:
        yield
    except docker.errors.NotFound as error:
        raise DriverError(f"Docker container {docker_name(uuid)} does not exist.") from error
    except docker.errors.APIError as error:
        raise DriverError(f"Docker failed to {doing}: {explain(error)}") from error


class ImageOps:
    """Image work on one host's engine; DockerDriver provides the client."""

    _client: docker.DockerClient
    host: str

    def ensure_image(self, image: str, policy: str | None) -> None:
        """Zun's pull policies: ifnotpresent (default), always, never."""
        policy = (policy or "ifnotpresent").lower()
        present = self._has_image(image)
        if policy == "never" and not present:
            raise DriverError(f"Image {image} was not found on host {self.host} "
                              "and image_pull_policy is never.")
        if policy == "always" or not present:
            self._pull(image)

    def _pull(self, image: str) -> None:
        """Pull, logging each layer's progress as it changes (one line per layer and status)."""
        repository, tag = docker.utils.parse_repository_tag(image)
        last: dict[str, str] = {}
        try:
            for report in self._client.api.pull(repository, tag=tag or "latest", stream=True,
                                                decode=True):
                if "error" in report:
                    raise DriverError(f"Failed to pull image {image}: {report['error']}")
                layer, status = report.get("id", image), report.get("status", "")
                if last.get(layer) != status:
                    last[layer] = status
                    LOG.info("pull %s: %s %s", image, layer, status, extra={"host": self.host})
        except docker.errors.APIError as error:
            raise DriverError(f"Failed to pull image {image}: {explain(error)}") from error
        if not self._has_image(image):
            raise DriverError(f"Failed to pull image {image}: the registry sent no image.")

    def _has_image(self, image: str) -> bool:
        try:
            self._client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            return False

    def has_image(self, name: str) -> bool:
        return self._has_image(name)

    def load_image(self, path: Path, name: str) -> None:
        """Load a saved image (`docker save`'s tarball) and tag it `name`."""
        repository, tag = docker.utils.parse_repository_tag(name)
        try:
            with path.open("rb") as data:
                loaded = self._client.images.load(data)
            if not loaded:
                raise DriverError(f"The image data for {name} held no image.")
            loaded[0].tag(repository, tag or "latest")
        except docker.errors.APIError as error:
            raise DriverError(f"Docker could not load image {name}: {explain(error)}") \
                from error

    def save_image(self, name: str, path: Path) -> None:
        """Write `docker save name` (the image and its layers, as a tarball) to `path`."""
        try:
            with path.open("wb") as out:
                for chunk in self._client.api.get_image(name):
                    out.write(chunk)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker could not save image {name}: {explain(error)}") \
                from error

    def pull_image(self, repo: str, tag: str, policy: str | None) -> tuple[str, int]:
        """An admin's pull of repo:tag (always, unless the policy says otherwise): Docker's id
        and size of the image."""
        name = f"{repo}:{tag}"
        self.ensure_image(name, policy or "always")
        return self.image_facts(name)

    def image_facts(self, name: str) -> tuple[str, int]:
        try:
            attrs = self._client.api.inspect_image(name)
        except docker.errors.NotFound as error:
            raise DriverError(f"Image {name} is not on host {self.host}.") from error
        return str(attrs["Id"]), int(attrs.get("Size") or 0)

    def remove_image(self, name: str, image_id: str | None) -> None:
        """Untag `name` (Docker removes the image with its last tag), if it still names
        `image_id`: a tag since moved to another image is not this image any more."""
        try:
            if image_id is not None and self.image_facts(name)[0] != image_id:
                return
            self._client.api.remove_image(name)
        except (DriverError, docker.errors.NotFound):
            return
        except docker.errors.APIError as error:
            raise DriverError(f"Docker refused to remove image {name}: {explain(error)}") \
                from error

    def commit(self, uuid: str, repository: str, tag: str) -> tuple[str, int]:
        """Commit the container's filesystem as repository:tag (Docker pauses a running
        container while it copies); the new image's id and size."""
        with translated("commit the container", uuid):
            made = self._client.api.commit(docker_name(uuid), repository=repository, tag=tag)
        return self.image_facts(str(made["Id"]))

    def ensure_sandbox(self, capsule_id: str, project_id: str) -> None:
        """The capsule's sandbox: a paused process owning the network namespace its
        containers join; made (and its image imported) when missing, started when stopped."""
        api, name = self._client.api, sandbox_name(capsule_id)
        try:
            self._import_sandbox_image()
            if self._find_named(name) is None:
                labels = {LABEL_CAPSULE: capsule_id, LABEL_HOST: self.host,
                          LABEL_PROJECT: project_id}
                api.create_container(sandbox.IMAGE, command=[sandbox.COMMAND], name=name,
                                     labels=labels, detach=True,
                                     host_config=api.create_host_config(
                                         restart_policy={"Name": "always"}))
            if not api.inspect_container(name)["State"]["Running"]:
                api.start(name)
        except docker.errors.APIError as error:
            if error.status_code == 409 and self._find_named(name) is not None:
                return self.ensure_sandbox(capsule_id, project_id)  # made concurrently
            raise DriverError(f"Docker failed to make the capsule's sandbox: "
                              f"{explain(error)}") from error

    def ensure_network_sandbox(self, uuid: str, hostname: str | None) -> int:
        """The container's network sandbox (no network of Docker's: network_mode none),
        made and started when missing; the pid whose namespace takes the ports."""
        api, name = self._client.api, netns_name(uuid)
        try:
            self._import_sandbox_image()
            if self._find_named(name) is None:
                api.create_container(sandbox.IMAGE, command=[sandbox.COMMAND], name=name,
                                     hostname=hostname or None, detach=True,
                                     labels={LABEL_NETWORK_OF: uuid, LABEL_HOST: self.host},
                                     host_config=api.create_host_config(network_mode="none"))
            state = api.inspect_container(name)["State"]
            if not state["Running"]:
                api.start(name)
                state = api.inspect_container(name)["State"]
        except docker.errors.APIError as error:
            if error.status_code == 409 and self._find_named(name) is not None:
                return self.ensure_network_sandbox(uuid, hostname)  # made concurrently
            raise DriverError(f"Docker failed to make the container's network sandbox: "
                              f"{explain(error)}") from error
        return int(state["Pid"])

    def network_sandbox_pid(self, uuid: str) -> int | None:
        """The pid owning the container's network namespace; None without a running
        sandbox."""
        found = self._find_named(netns_name(uuid))
        state = (found or {}).get("State") or {}
        return int(state["Pid"]) if state.get("Running") else None

    def remove_network_sandbox(self, uuid: str) -> None:
        try:
            self._client.api.remove_container(netns_name(uuid), force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to remove the network sandbox: "
                              f"{explain(error)}") from error

    def _import_sandbox_image(self) -> None:
        if not self._has_image(sandbox.IMAGE):
            repository, tag = sandbox.IMAGE.split(":")
            self._client.api.import_image_from_data(sandbox.image_tar(), repository=repository,
                                                    tag=tag)

    def remove_sandbox_if_unused(self, capsule_id: str) -> None:
        """Remove the capsule's sandbox once no container of the capsule is left."""
        members = self._client.api.containers(
            all=True, filters={"label": f"{LABEL_CAPSULE}={capsule_id}"})
        if any(m["Names"] != [f"/{sandbox_name(capsule_id)}"] for m in members):
            return
        try:
            self._client.api.remove_container(sandbox_name(capsule_id), force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to remove the capsule's sandbox: "
                              f"{explain(error)}") from error

    def sandboxes(self) -> list[str]:
        """The capsules that have a sandbox on this host."""
        found = self._client.api.containers(all=True, filters={"label": [
            f"{LABEL_HOST}={self.host}", LABEL_CAPSULE], "name": SANDBOX_PREFIX})
        return [str(summary["Labels"][LABEL_CAPSULE]) for summary in found]

    def _find_named(self, name: str) -> Any:
        try:
            return self._client.api.inspect_container(name)
        except docker.errors.NotFound:
            return None
