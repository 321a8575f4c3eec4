"""EDGE: container state -> Zun's JSON, per microversion (a small whitelist, as Zun has)."""

from __future__ import annotations

import shlex
from typing import Any

from higgins.api.microversions import Version
from higgins.processors.model import ContainerState

# Shown to those policy lets see them (container:get_one:<field>; admins by default).
ADMIN_FIELDS = ("host", "runtime", "privileged")


def container(state: ContainerState, version: Version, base_url: str,
              hidden: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    command: Any = list(state.command)
    if not version.at_least(20):
        command = shlex.join(state.command) if state.command else None
    policy = dict(state.restart_policy) or {"Name": "no", "MaximumRetryCount": "0"}
    body: dict[str, Any] = {
        "uuid": state.uuid,
        "links": _links(base_url, state.uuid),
        "name": state.name,
        "project_id": state.project_id,
        "user_id": state.user_id,
        "image": state.image,
        "command": command,
        "status": str(state.status),
        "status_reason": state.status_reason,
        "status_detail": _status_detail(state),
        "task_state": str(state.task_state) if state.task_state else None,
        "cpu": state.cpu,
        "memory": str(state.memory) if state.memory is not None else None,
        "environment": dict(state.environment),
        "workdir": state.workdir,
        "ports": sorted(int(p.split("/")[0]) for p in state.exposed_ports),
        "hostname": state.hostname,
        "labels": dict(state.labels),
        "addresses": state.addresses,
        "image_pull_policy": state.image_pull_policy,
        "host": state.host,
        "restart_policy": policy,
        "interactive": state.interactive,
        "image_driver": state.image_driver,
        # with Neutron, as Zun: the ids of its ports' groups (names before Neutron resolved them)
        "security_groups": list(state.security_group_ids if state.nets
                                else state.security_groups),
        "auto_remove": state.auto_remove,
        "runtime": "runc",
        "disk": state.disk or 0,
        "auto_heal": state.auto_heal,
        "privileged": False,
        "healthcheck": {},
        "cpu_policy": "shared",
        "registry_id": None,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    if version.at_least(36):
        body["tty"] = state.tty
    if version.at_least(40):
        body["entrypoint"] = list(state.entrypoint)
    for name in hidden:
        body.pop(name, None)
    return body


def _status_detail(state: ContainerState) -> str | None:
    if state.exit_code is not None and str(state.status) == "Stopped":
        return f"Exited ({state.exit_code})"
    return None


def _links(base_url: str, uuid: str) -> list[dict[str, str]]:
    root = base_url.rstrip("/")
    return [
        {"href": f"{root}/v1/containers/{uuid}", "rel": "self"},
        {"href": f"{root}/containers/{uuid}", "rel": "bookmark"},
    ]
