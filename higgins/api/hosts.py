"""EDGE: /v1/hosts (admin): the hosts agents reported, with what runs on them; and
/v1/availability_zones, the zones those hosts are in."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.services import authorize, services
from higgins.processors.model import ContainerState, HostState

blueprint = flask.Blueprint("hosts", __name__)
_NAMESPACE = uuidlib.UUID("5b0e0e4c-2d0c-4d3e-9a59-6f1c0f6b9a10")


def host_uuid(name: str) -> str:
    """A host's stable id, derived from its name (hosts are named by their agents)."""
    return str(uuidlib.uuid5(_NAMESPACE, name))


def _render(host: HostState, containers: Sequence[ContainerState]) -> dict[str, Any]:
    on_host = [s for s in containers if s.host == host.name]
    root = flask.request.host_url.rstrip("/")
    ident = host_uuid(host.name)
    return {
        "uuid": ident,
        "links": [{"href": f"{root}/v1/hosts/{ident}", "rel": "self"},
                  {"href": f"{root}/hosts/{ident}", "rel": "bookmark"}],
        "hostname": host.name,
        "mem_total": host.memory_mb,
        "mem_used": sum(s.memory or 0 for s in on_host),
        "cpus": host.cpus,
        "cpu_used": sum(s.cpu or 0 for s in on_host),
        "disk_total": host.disk_total_gb,
        "disk_used": sum(s.disk or 0 for s in on_host),  # as claimed; not a Docker quota
        "disk_quota_supported": False,
        "total_containers": len(on_host),
        "architecture": host.architecture,
        "os_type": host.os_type,
        "os": host.os,
        "kernel_version": host.kernel_version,
        "labels": dict(host.labels),
        "runtimes": list(host.runtimes),
        "enable_cpu_pinning": False,
        "availability_zone": host.availability_zone,
    }


@blueprint.get("/v1/hosts", strict_slashes=False)
def index() -> Any:
    authorize("host:get_all")
    parsing.reject_unknown_query("limit", "marker", "sort_key", "sort_dir")
    store = services().store
    containers = store.find_containers()  # once for every host, not once per host
    return {"hosts": [_render(h, containers) for h in store.list_hosts()], "next": None}


@blueprint.get("/v1/hosts/<host>")
def show(host: str) -> Any:
    authorize("host:get")
    parsing.reject_unknown_query()
    for known in services().store.list_hosts():
        if host in (known.name, host_uuid(known.name)):
            return _render(known, services().store.find_containers())
    raise errors.not_found(f"Host {host} could not be found.")


@blueprint.get("/v1/availability_zones", strict_slashes=False)
def availability_zones() -> Any:
    authorize("availability_zones:get_all")
    parsing.reject_unknown_query()
    zones = sorted({h.availability_zone for h in services().store.list_hosts()})
    return {"availability_zones": [{"availability_zone": zone} for zone in zones]}
