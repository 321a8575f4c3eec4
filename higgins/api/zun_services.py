"""EDGE: /v1/services (admin): each host's compute service as Zun shows it (binary zun-compute),
up while its agent keeps reporting, and the admin's switches (enable, disable with a reason,
force_down, delete), recorded as host events so the scheduler stops placing on a host that is
disabled or forced down."""

from __future__ import annotations

import datetime
from typing import Any

import flask

from higgins import events, folding
from higgins.api import errors, parsing
from higgins.api.containers import request_envelope
from higgins.api.hosts import host_uuid
from higgins.api.identity import current_caller
from higgins.api.services import authorize, services
from higgins.events import EventType
from higgins.processors.model import HostState

blueprint = flask.Blueprint("zun_services", __name__, url_prefix="/v1/services")
BINARY = "zun-compute"


def _render(host: HostState) -> dict[str, Any]:
    return {
        "id": int(host_uuid(host.name)[:8], 16),
        "host": host.name,
        "binary": BINARY,
        "state": "up" if _is_up(host) else "down",
        "disabled": host.disabled,
        "disabled_reason": host.disabled_reason,
        "forced_down": host.forced_down,
        "report_count": host.report_count,
        "last_seen_up": host.reported_at,
        "availability_zone": host.availability_zone,
        "created_at": host.created_at or host.reported_at,
        "updated_at": host.reported_at,
    }


def _is_up(host: HostState) -> bool:
    if host.forced_down:
        return False
    reported = datetime.datetime.fromisoformat(host.reported_at)
    age = datetime.datetime.now(datetime.UTC) - reported
    return age.total_seconds() <= services().service_down_time


@blueprint.get("", strict_slashes=False)
def index() -> Any:
    authorize("zun-service:get_all")
    parsing.reject_unknown_query("limit", "marker", "sort_key", "sort_dir")
    hosts = [h for h in services().store.list_hosts() if not h.deleted]
    return {"services": [_render(h) for h in hosts], "next": None}


def _service(host: str | None, binary: str | None) -> HostState:
    if not host or not binary:
        raise errors.bad_request("Both 'host' and 'binary' are required.")
    state = folding.current_host(services().bus, services().store, host)
    if state is None or state.deleted or binary != BINARY:
        raise errors.not_found(f"Service {binary} on host {host} could not be found.")
    return state


def _record(host: HostState, kind: EventType, data: dict[str, Any]) -> HostState:
    envelope = request_envelope(kind, events.host_subject(host.name), current_caller(),
                                {"host": host.name, **data})
    svc = services()
    svc.bus.publish([envelope])
    state = folding.current_host(svc.bus, svc.store, host.name)
    assert state is not None, "a host with a recorded event has a view"
    return state


@blueprint.delete("", strict_slashes=False)
def delete() -> Any:
    authorize("zun-service:delete")
    parsing.reject_unknown_query("host", "binary")
    args = flask.request.args
    _record(_service(args.get("host"), args.get("binary")), EventType.SERVICE_DELETED, {})
    return flask.Response(status=204)


@blueprint.put("/<any(enable, disable, force_down):action>")
def switch(action: str) -> Any:
    """Zun's service switches; python-zunclient sends their parameters in the query."""
    authorize(f"zun-service:{action}")
    extra = {"disable": ("disabled_reason",), "force_down": ("forced_down",)}.get(action, ())
    params = parsing.action_params("host", "binary", *extra)
    host = _service(params.get("host"), params.get("binary"))
    if action == "force_down":
        if params.get("forced_down") is None:
            raise errors.bad_request("Invalid input: 'forced_down' is required.")
        forced = parsing.to_bool("forced_down", params["forced_down"])
        state = _record(host, EventType.SERVICE_UPDATED, {"forced_down": forced})
        return {"service": {"host": state.name, "binary": BINARY,
                            "forced_down": state.forced_down}}
    reason = params.get("disabled_reason") if action == "disable" else None
    if reason is not None and not 0 < len(reason) <= 255:
        raise errors.bad_request("Invalid input for field 'disabled_reason': it must be "
                                 "1 to 255 characters.")
    state = _record(host, EventType.SERVICE_UPDATED,
                    {"disabled": action == "disable", "disabled_reason": reason})
    return {"service": {"host": state.name, "binary": BINARY, "disabled": state.disabled,
                        "disabled_reason": state.disabled_reason}}
