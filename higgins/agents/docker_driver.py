"""EDGE: the only module that imports docker. Side effects: talks to the Docker engine."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from higgins.agents.docker_images import LABEL_CAPSULE as LABEL_CAPSULE
from higgins.agents.docker_images import LABEL_HOST as LABEL_HOST
from higgins.agents.docker_images import LABEL_PROJECT as LABEL_PROJECT
from higgins.agents.docker_images import LABEL_UUID as LABEL_UUID
from higgins.agents.docker_images import DriverError as DriverError
from higgins.agents.docker_images import (
    ImageOps,
    docker_name,
    explain,
    netns_name,
    sandbox_name,
    translated,
)
from higgins.agents.reconcile import Observed

LOG = logging.getLogger(__name__)
# which incarnation of its Higgins container a Docker container is (ContainerState.generation):
# an agent removes one whose container was healed since (made again elsewhere, a newer one)
LABEL_GENERATION = "higgins.generation"



# Docker events after which a container's state may differ from what the agent reported
# (create, exec, attach and the like change nothing the views show).
_STATE_CHANGES = ("start", "die", "pause", "unpause", "destroy", "oom")


@dataclass(frozen=True)
class Inventory:
    cpus: float
    memory_mb: int
    runtimes: tuple[str, ...]
    version: str
    platform: dict[str, str]
    disk_total_gb: int


class DockerDriver(ImageOps):
    def __init__(self, url: str, api_version: str, host: str) -> None:
        try:
            self._client = docker.DockerClient(base_url=url, version=api_version, timeout=120)
        except docker.errors.DockerException as error:
            raise DriverError(f"cannot reach the Docker engine at {url} ({error}); start one "
                              "with scripts/start-docker.sh or set [docker] url") from error
        # No proxy applies to the engine's socket; without this, requests rescans os.environ
        # for proxy settings on every call (the largest CPU cost per container in profiles).
        self._client.api.trust_env = False
        self.host = host

    def inventory(self) -> Inventory:
        info = self._client.info()
        root = str(info.get("DockerRootDir") or "/")
        disk = shutil.disk_usage(root if os.path.isdir(root) else "/")
        return Inventory(
            cpus=float(info["NCPU"]),
            memory_mb=int(info["MemTotal"]) // (1024 * 1024),
            runtimes=tuple(sorted(info.get("Runtimes", {"runc": {}}))),
            version=str(info.get("ServerVersion", "")),
            platform={"architecture": str(info.get("Architecture", "")),
                      "os_type": str(info.get("OSType", "")),
                      "os": str(info.get("OperatingSystem", "")),
                      "kernel_version": str(info.get("KernelVersion", ""))},
            disk_total_gb=disk.total // 1024 ** 3,
        )

    def create(self, uuid: str, spec: Mapping[str, Any]) -> tuple[str, bool]:
        """Create once: the Docker name is derived from the uuid, so a repeat finds the first.
        The container's id, and whether this call made it. One round trip (the SDK's
        high-level create would inspect the container after)."""
        api = self._client.api
        try:
            created = api.create_container(
                host_config=api.create_host_config(**_host_config(uuid, spec)),
                **self._container_config(uuid, spec))
        except docker.errors.APIError as error:
            if error.status_code == 409 and (existing := self._find(uuid)) is not None:
                return str(existing.id), False
            raise DriverError(f"Docker refused to create the container: {explain(error)}") \
                from error
        return str(created["Id"]), True

    def _container_config(self, uuid: str, spec: Mapping[str, Any]) -> dict[str, Any]:
        labels = {**spec.get("labels", {}), LABEL_UUID: uuid, LABEL_HOST: self.host,
                  LABEL_PROJECT: spec.get("project_id", ""),
                  LABEL_GENERATION: str(int(spec.get("generation") or 0))}
        if spec.get("capsule_id"):
            labels[LABEL_CAPSULE] = spec["capsule_id"]
        return {
            "image": spec["image"],
            "name": docker_name(uuid),
            "labels": labels,
            "environment": spec.get("environment") or None,
            "command": spec.get("command") or None,
            "entrypoint": spec.get("entrypoint") or None,
            "working_dir": spec.get("workdir") or None,
            # in a capsule (or with Neutron ports) the sandbox owns the network namespace, and
            # with it the hostname
            "hostname": None if spec.get("capsule_id") or spec.get("nets")
            else spec.get("hostname") or None,
            "tty": bool(spec.get("tty")),
            "stdin_open": bool(spec.get("interactive")),
            "detach": True,
        }

    def _find(self, uuid: str) -> Any:
        try:
            return self._client.containers.get(docker_name(uuid))
        except docker.errors.NotFound:
            return None

    def _get(self, uuid: str) -> Any:
        container = self._find(uuid)
        if container is None:
            raise DriverError(f"Docker container {docker_name(uuid)} does not exist.")
        return container

    def act(self, uuid: str, verb: str, **kwargs: Any) -> None:
        """Run start/stop/restart/pause/unpause/kill on the container, Docker errors explained.
        By name, through the low-level API: one round trip, no inspect first."""
        with translated(f"{verb} the container", uuid):
            getattr(self._client.api, verb)(docker_name(uuid), **kwargs)

    def remove(self, uuid: str, force: bool) -> None:
        container = self._find(uuid)
        if container is None:
            return
        try:
            container.remove(force=force)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as error:
            if error.status_code == 409 and "already in progress" in explain(error):
                return
            raise DriverError(f"Docker failed to remove the container: {explain(error)}") \
                from error

    def inspect(self, uuid: str) -> Observed | None:
        try:
            attrs = self._client.api.inspect_container(docker_name(uuid))
        except docker.errors.NotFound:
            return None
        return _observed(uuid, attrs)

    def managed(self) -> list[Observed]:
        """Every container this host's agent made for a Higgins container (capsule sandboxes
        are not), as Docker sees it now."""
        found = self._client.api.containers(
            all=True, filters={"label": [f"{LABEL_HOST}={self.host}", LABEL_UUID]}
        )
        result = []
        for summary in found:
            observed = self.inspect(summary["Labels"][LABEL_UUID])
            if observed is not None:
                result.append(observed)
        return result

    def watch(self, stop: threading.Event) -> Iterator[str]:
        """Uuids of this host's containers as Docker reports something happening to them."""
        while not stop.is_set():
            try:
                stream = self._client.api.events(decode=True, filters={
                    "type": "container", "label": f"{LABEL_HOST}={self.host}",
                    "event": list(_STATE_CHANGES)})
                threading.Thread(target=_close_on, args=(stop, stream), daemon=True).start()
                for event in stream:
                    uuid = event.get("Actor", {}).get("Attributes", {}).get(LABEL_UUID)
                    if uuid:
                        yield uuid
            except (docker.errors.APIError, requests.exceptions.RequestException, OSError):
                if not stop.is_set():
                    LOG.warning("docker event stream broke; reconnecting")
                    stop.wait(1.0)

    def update(self, uuid: str, cpu: float | None, memory: int | None) -> None:
        """Change the limits of a container in place (created, running, stopped or paused)."""
        limits: dict[str, Any] = _cpu_limit(cpu) if cpu else {}
        if memory:
            limits.update(mem_limit=f"{memory}m", memswap_limit=f"{2 * memory}m")
        try:
            self._client.api.update_container(docker_name(uuid), **limits)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker refused the new limits: {explain(error)}") from error

    def execute(self, uuid: str, command: list[str], run: bool) -> dict[str, Any]:
        """Run `command` in the container; its output and exit code (Zun's execute)."""
        api = self._client.api
        try:
            exec_id = api.exec_create(docker_name(uuid), command, stdin=False, tty=False)["Id"]
            if not run:
                return {"exec_id": exec_id, "output": None, "exit_code": None}
            output = api.exec_start(exec_id)
            exit_code = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to execute the command: {explain(error)}") \
                from error
        text = output.decode("utf-8", errors="replace") if isinstance(output, bytes) else output
        return {"exec_id": exec_id, "output": text, "exit_code": exit_code}

    def top(self, uuid: str, ps_args: str | None) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self._client.api.top(docker_name(uuid), ps_args=ps_args)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to list processes: {explain(error)}") from error
        except ValueError as error:  # an empty answer: the container went away meanwhile
            raise DriverError("Docker listed no processes: the container is being removed.") \
                from error
        return {"Titles": found.get("Titles", []), "Processes": found.get("Processes", [])}

    def stats(self, uuid: str) -> dict[str, Any]:
        """Docker's raw one-shot stats of the container."""
        try:
            raw: dict[str, Any] = self._client.api.stats(docker_name(uuid), stream=False)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to read stats: {explain(error)}") from error
        except ValueError as error:  # an empty answer: the container went away meanwhile
            raise DriverError("Docker gave no stats: the container is being removed.") \
                from error
        return raw

    def get_archive(self, uuid: str, path: str) -> tuple[bytes, dict[str, Any]]:
        """A tar of `path` in the container, and Docker's stat of it."""
        try:
            chunks, stat = self._client.api.get_archive(docker_name(uuid), path)
            return b"".join(chunks), dict(stat)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to read {path}: {explain(error)}") from error

    def put_archive(self, uuid: str, path: str, tar: bytes) -> None:
        """Unpack the tar `tar` into directory `path` of the container."""
        try:
            self._client.api.put_archive(docker_name(uuid), path, tar)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to write into {path}: {explain(error)}") \
                from error

    def resize_tty(self, uuid: str, height: int, width: int, exec_id: str | None = None) -> None:
        """Set the size of the container's TTY, or of an exec's in it."""
        api = self._client.api
        try:
            if exec_id is None:
                api.resize(docker_name(uuid), height=height, width=width)
            else:
                api.exec_resize(exec_id, height=height, width=width)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to resize the TTY: {explain(error)}") from error

    def logs(self, uuid: str, **options: Any) -> str:
        try:
            raw = self._get(uuid).logs(**options)
        except docker.errors.APIError as error:
            raise DriverError(f"Docker failed to read logs: {explain(error)}") from error
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def close(self) -> None:
        self._client.close()


def _host_config(uuid: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    # Docker never restarts a Higgins container on its own: Higgins enforces the restart policy
    # (processors/restarts.py), so every restart is an event and a user's stop is known
    config: dict[str, Any] = {"auto_remove": bool(spec.get("auto_remove")),
                              "restart_policy": {"Name": "no", "MaximumRetryCount": 0}}
    if spec.get("capsule_id"):
        config["network_mode"] = f"container:{sandbox_name(spec['capsule_id'])}"
    elif spec.get("nets"):  # Neutron ports, plugged into its network sandbox's namespace
        config["network_mode"] = f"container:{netns_name(uuid)}"
    if spec.get("volume_mounts"):  # Cinder volumes, mounted on the host by the agent
        config["binds"] = {m["path"]: {"bind": m["destination"], "mode": "rw"}
                           for m in spec["volume_mounts"]}
    if spec.get("memory"):
        config["mem_limit"] = f"{int(spec['memory'])}m"
    if spec.get("cpu"):
        config.update(_cpu_limit(float(spec["cpu"])))
    return config


_CPU_PERIOD = 100_000  # microseconds; Docker's --cpus is a quota over this period


def _cpu_limit(cpu: float) -> dict[str, int]:
    """CFS period and quota, which (unlike NanoCpus) Docker can update in place."""
    return {"cpu_period": _CPU_PERIOD, "cpu_quota": int(cpu * _CPU_PERIOD)}


def _close_on(stop: threading.Event, stream: Any) -> None:
    """Unblock the event stream's reader when the agent stops."""
    stop.wait()
    stream.close()


def _observed(uuid: str, attrs: Mapping[str, Any]) -> Observed:
    state = attrs.get("State", {})
    exit_code = state.get("ExitCode")
    generation = ((attrs.get("Config") or {}).get("Labels") or {}).get(LABEL_GENERATION, "0")
    return Observed(
        uuid=uuid,
        container_id=str(attrs.get("Id", "")),
        state=str(state.get("Status", "")),
        exit_code=int(exit_code) if exit_code is not None else None,
        error=str(state.get("Error", "")),
        started_at=str(state.get("StartedAt", "")),
        generation=int(generation) if str(generation).isdigit() else 0,
    )
