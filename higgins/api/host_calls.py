"""EDGE: container calls answered by the agent on the container's host, synchronously, as
Zun's compute RPC calls are: logs, execute, top, stats. They read or poke a running container
without changing its Higgins state, so they record no event."""

from __future__ import annotations

import base64
import shlex
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.containers import lookup
from higgins.api.services import services
from higgins.processors import containers
from higgins.processors.model import Action, ContainerState

blueprint = flask.Blueprint("host_calls", __name__, url_prefix="/v1/containers")


def _ready(state: ContainerState, action: Action) -> None:
    """409 unless `action` may be done in the container's state now."""
    refusal = containers.check(state, action)
    if refusal is not None:
        raise errors.conflict(refusal.detail)


@blueprint.get("/<ident>/logs")
def logs(ident: str) -> Any:
    state = lookup(ident, "container:logs")
    parsing.reject_unknown_query("stdout", "stderr", "timestamps", "tail", "since")
    options: dict[str, Any] = {
        "stdout": parsing.query_bool("stdout", True),
        "stderr": parsing.query_bool("stderr", True),
        "timestamps": parsing.query_bool("timestamps"),
        "tail": _tail(flask.request.args.get("tail", "all")),
    }
    since = parsing.parse_since(flask.request.args.get("since"))
    if since is not None:
        options["since"] = since
    _ready(state, Action.LOGS)
    if state.host is None or state.container_id is None:
        return flask.jsonify("")
    return flask.jsonify(services().agents.logs(state.host, state.uuid, **options))


def _tail(value: str) -> str | int:
    if value in ("all", "", "None"):
        return "all"
    if not value.isdigit():
        raise errors.bad_request(f"Invalid input for query parameter 'tail': {value!r}; use a "
                                 "number of lines or 'all'.")
    return int(value)


@blueprint.post("/<ident>/execute")
def execute(ident: str) -> Any:
    """Run a command in the container; with run=false only create the exec (Zun's shape)."""
    state = lookup(ident, "container:execute")
    params = parsing.action_params("command", "run", "interactive")
    command = _exec_command(params.get("command"))
    run = parsing.to_bool("run", params.get("run", "true"))
    if parsing.to_bool("interactive", params.get("interactive", "false")):
        raise errors.ApiError(501, "container.not_implemented",
                              "Higgins does not implement interactive execute (a websocket "
                              "proxy) yet; see the feature table in README.md.")
    _ready(state, Action.EXECUTE)
    assert state.host is not None
    result = services().agents.execute(state.host, state.uuid, command, run)
    return {"output": result.get("output"), "exit_code": result.get("exit_code"),
            "exec_id": result["exec_id"], "proxy_url": None}


def _exec_command(value: str | None) -> list[str]:
    if not value:
        raise errors.bad_request("Invalid input for parameter 'command': it is required.")
    try:
        words = shlex.split(value)
    except ValueError as error:
        raise errors.bad_request(f"Invalid input for parameter 'command': {error}.") \
            from error
    if not words:
        raise errors.bad_request("Invalid input for parameter 'command': it is empty.")
    return words


@blueprint.get("/<ident>/top")
def top(ident: str) -> Any:
    state = lookup(ident, "container:top")
    parsing.reject_unknown_query("ps_args")
    ps_args = flask.request.args.get("ps_args")
    if ps_args in ("", "None"):
        ps_args = None
    _ready(state, Action.TOP)
    assert state.host is not None
    return services().agents.top(state.host, state.uuid, ps_args)


@blueprint.get("/<ident>/stats")
def stats(ident: str) -> Any:
    state = lookup(ident, "container:stats")
    parsing.reject_unknown_query()
    _ready(state, Action.STATS)
    assert state.host is not None
    return services().agents.stats(state.host, state.uuid, state.name)


_ARCHIVE_BASE64_SINCE = 25  # before 1.25 the tar travels as a JSON string of its bytes


def _runtime_host(state: ContainerState, action: Action) -> str:
    """The host the container's Docker container is on, if `action` may be done now."""
    _ready(state, action)
    if state.host is None or state.container_id is None:
        raise errors.conflict(f"Container {state.uuid} has no runtime container yet.")
    return state.host


@blueprint.get("/<ident>/get_archive")
def get_archive(ident: str) -> Any:
    """A tar of a path in the container, with Docker's stat of it."""
    state = lookup(ident, "container:get_archive")
    parsing.reject_unknown_query("path")
    path = parsing.required_query("path")
    host = _runtime_host(state, Action.GET_ARCHIVE)
    found = services().agents.call(host, state.uuid, "get_archive", {"path": path})
    data = found["data"]
    if not flask.g.version.at_least(_ARCHIVE_BASE64_SINCE):
        data = base64.b64decode(data).decode("latin-1")
    return {"data": data, "stat": found["stat"]}


@blueprint.post("/<ident>/put_archive")
def put_archive(ident: str) -> Any:
    """Unpack a tar (base64 from 1.25) into a directory of the container."""
    state = lookup(ident, "container:put_archive")
    parsing.reject_unknown_query("path")
    path = parsing.required_query("path")
    body = parsing.json_body()
    parsing.require_valid("archive_put", body)
    data = body["data"]
    if flask.g.version.at_least(_ARCHIVE_BASE64_SINCE):
        try:
            base64.b64decode(data, validate=True)
        except ValueError as error:
            raise errors.bad_request("Invalid input for field 'data': not base64.") from error
    else:
        data = base64.b64encode(data.encode("latin-1", errors="replace")).decode("ascii")
    host = _runtime_host(state, Action.PUT_ARCHIVE)
    services().agents.call(host, state.uuid, "put_archive", {"path": path, "data": data})
    return flask.Response(status=200)


def _tty_size() -> dict[str, int]:
    size = {name: parsing.query_int(name, None, minimum=1) for name in ("h", "w")}
    missing = [name for name, value in size.items() if value is None]
    if missing:
        raise errors.bad_request(f"Invalid input for query parameter(s) {', '.join(missing)}: "
                                 "the TTY's height h and width w are both required.")
    return {name: int(value) for name, value in size.items() if value is not None}


@blueprint.post("/<ident>/resize")
def resize(ident: str) -> Any:
    """Set the size of the container's TTY (Zun's resize; the cpu/memory one is
    resize_container)."""
    state = lookup(ident, "container:resize")
    parsing.reject_unknown_query("h", "w")
    size = _tty_size()
    host = _runtime_host(state, Action.RESIZE)
    services().agents.call(host, state.uuid, "resize", size)
    return flask.Response(status=200)


@blueprint.post("/<ident>/execute_resize")
def execute_resize(ident: str) -> Any:
    """Set the size of the TTY of an exec in the container."""
    state = lookup(ident, "container:execute_resize")
    parsing.reject_unknown_query("exec_id", "h", "w")
    exec_id = parsing.required_query("exec_id")
    size = _tty_size()
    host = _runtime_host(state, Action.EXECUTE_RESIZE)
    services().agents.call(host, state.uuid, "resize", {**size, "exec_id": exec_id})
    return flask.Response(status=200)

