"""EDGE: /v1/containers: validate, decide against the current view, publish, answer with the
view folded from what was published (read-your-writes)."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import flask

from higgins import events, folding, publishing
from higgins.api import errors, glance, networking, paging, parsing, quotas, views, volumes
from higgins.api.identity import Caller, current_caller
from higgins.api.microversions import Version
from higgins.api.services import Services, allowed, authorize, granted_flag, services
from higgins.events import EventType
from higgins.processors import containers
from higgins.processors.model import Action, ContainerState, Refusal

blueprint = flask.Blueprint("containers", __name__, url_prefix="/v1/containers")

_LIST_FILTERS = ("name", "image", "status", "host", "task_state", "project_id", "user_id")
_SORT_KEYS = ("created_at", "name", "status", "uuid", "image", "updated_at")


def _version() -> Version:
    version: Version = flask.g.version
    return version


def _render(state: ContainerState) -> dict[str, Any]:
    hidden = {name for name in views.ADMIN_FIELDS
              if not allowed(f"container:get_one:{name}", state.project_id)}
    return views.container(state, _version(), flask.request.host_url, hidden)


def request_envelope(kind: EventType, subject: str, caller: Caller,
                     data: dict[str, Any]) -> events.Envelope:
    """An event recording this request of `caller` on `subject` (seq given by the bus)."""
    return events.Envelope(
        id=publishing.new_id(), type=str(kind), subject=subject, seq=0,
        time=publishing.utc_now(), project_id=caller.project_id, user_id=caller.user_id,
        request_id=flask.g.request_id, data=data,
    )


def _record(svc: Services, envelope: events.Envelope,
            known: ContainerState | None = None) -> ContainerState:
    """Publish (durable before we answer), then fold it into the view the caller reads next
    (`known`: the view the request decided on; None for a create)."""
    (recorded,) = svc.bus.publish([envelope])
    flask.g.uuid = envelope["subject"]
    state = folding.container_after(svc.bus, svc.store, known, recorded)
    assert state is not None, "a recorded event always has a view"
    return state


@blueprint.post("", strict_slashes=False)
def create() -> Any:
    caller = authorize("container:create")
    parsing.reject_unknown_query("run")
    run = parsing.query_bool("run")
    body = parsing.json_body()
    _authorize_create_fields(body)
    spec = parsing.container_spec(body, _version(), run)
    if glance.driver_of(body.get("image_driver")) == "glance":
        spec.update(image_driver="glance", glance_image=glance.resolve(spec["image"]))
    new_uuid = str(uuidlib.uuid4())
    spec.update(networking.resolve(body, caller, new_uuid))
    spec["name"] = spec["name"] or f"higgins-{new_uuid[:8]}"
    # Not given back if the publish fails: the event may be durable all the same (a lost
    # confirm), and an allocation with no container settles away on its own (processors/quotas).
    quotas.reserve(caller.project_id, new_uuid, spec["cpu"], spec["memory"], fresh=True)
    spec.update(volumes.resolve(body.get("mounts"), new_uuid))  # last: it may make volumes
    state = _record(services(),
                    request_envelope(EventType.CREATE_REQUESTED, new_uuid, caller, spec))
    response = flask.jsonify(_render(state))
    response.status_code = 202
    response.headers["Location"] = f"{flask.request.host_url.rstrip('/')}/v1/containers/{new_uuid}"
    return response


# create body field -> the rule that guards asking for it (admin-only or denied by default)
_GUARDED_FIELDS = {"runtime": "container:create:runtime",
                   "host": "container:create:requested_destination",
                   "privileged": "container:create:privileged"}


def _authorize_create_fields(body: dict[str, Any]) -> None:
    asked = [field for field in _GUARDED_FIELDS
             if body.get(field) not in (None, "", False, "false", "False")]
    for field in asked:
        authorize(_GUARDED_FIELDS[field])
    if "privileged" in asked:
        raise errors.bad_request("Privileged containers are not supported by Higgins yet.")


@blueprint.get("", strict_slashes=False)
def index() -> Any:
    caller = authorize("container:get_all")
    parsing.reject_unknown_query("all_projects", *paging.QUERY, *_LIST_FILTERS)
    project = None if _all_projects("container:get_all_all_projects") else caller.project_id
    # a capsule's containers are listed with their capsule (as in Zun)
    found = [s for s in services().store.find_containers(project_id=project)
             if s.capsule_id is None]
    for key in _LIST_FILTERS:
        wanted = flask.request.args.get(key)
        if wanted is not None:
            found = [s for s in found if str(paging.field(s, key)) == wanted]
    shown, next_url = paging.page(paging.sort(found, _SORT_KEYS, "created_at"), "containers")
    return {"containers": [_render(s) for s in shown], "next": next_url}


def _all_projects(rule: str) -> bool:
    """?all_projects=True, if policy grants `rule` (admins by default); 403 otherwise."""
    return granted_flag("all_projects", rule)


def lookup(ident: str, rule: str) -> ContainerState:
    """A container of the caller's project by uuid or name (any project with all_projects),
    which policy lets the caller `rule` ("container:start"...). Another project's container
    is not found, not forbidden: its existence is not the caller's business."""
    caller = current_caller()
    everywhere = _all_projects("container:delete_all_projects" if rule == "container:delete"
                               else "container:get_one_all_projects")
    project = None if everywhere else caller.project_id
    svc = services()
    state = folding.current_container(svc.bus, svc.store, ident) if parsing.is_uuid(ident) else None
    if state is None or state.status == "Deleted" or project not in (None, state.project_id):
        named = svc.store.find_containers(project_id=project, name=ident)
        if len(named) > 1:
            authorize(rule, named[0].project_id)
            raise errors.conflict("Multiple containers exist with the same name. Please use "
                                  "the container uuid instead.", code="container.conflict")
        if not named:
            raise errors.not_found(f"Container {ident} could not be found.")
        state = folding.current_container(svc.bus, svc.store, named[0].uuid) or named[0]
    authorize(rule, state.project_id)
    return state


@blueprint.get("/<ident>")
def show(ident: str) -> Any:
    state = lookup(ident, "container:get_one")
    parsing.reject_unknown_query("all_projects")
    return _render(state)


def refuse_unless_allowed(state: ContainerState, action: Action) -> None:
    """409 when the container's status does not allow `action` (Zun's matrix), before any
    work outside Higgins is done for it."""
    refusal = containers.check(state, action)
    if refusal is not None:
        raise errors.conflict(refusal.detail)


def act_on(state: ContainerState, action: Action,
            params: dict[str, Any] | None = None) -> ContainerState:
    decision = containers.decide(state, action, params)
    if isinstance(decision, Refusal):
        raise errors.conflict(decision.detail)
    envelope = request_envelope(decision.type, decision.subject, current_caller(), decision.data)
    return _record(services(), envelope, state)


@blueprint.delete("/<ident>")
def delete(ident: str) -> Any:
    state = lookup(ident, "container:delete")
    parsing.reject_unknown_query("force", "stop", "all_projects")
    # before 1.7 Zun lets anyone who may delete force it
    force = granted_flag("force", "container:delete_force", state.project_id) \
        if _version().at_least(7) else parsing.query_bool("force")
    # Zun added stop at 1.12 and refuses it below; Zun's own tempest tests send it at 1.1 to
    # clean up, and doing what was asked beats both a 400 and silently ignoring it.
    stop = parsing.query_bool("stop")
    if state.capsule_id is not None:
        raise errors.conflict(f"Container {state.uuid} belongs to capsule {state.capsule_id}; "
                              "delete the capsule.")
    action = Action.DELETE_FORCE if force else Action.DELETE_AFTER_STOP if stop else Action.DELETE
    act_on(state, action)
    return flask.Response(status=204)


def _timeout() -> dict[str, Any]:
    return {"timeout": parsing.query_int("timeout", 10)}


def _signal() -> dict[str, Any]:
    return {"signal": parsing.parse_signal(flask.request.args.get("signal"))}


def _nothing() -> dict[str, Any]:
    return {}


# verb -> (action, the query parameters it takes, how to read them)
_ACTIONS: dict[str, tuple[Action, tuple[str, ...], Callable[[], dict[str, Any]]]] = {
    "start": (Action.START, (), _nothing),
    "stop": (Action.STOP, ("timeout",), _timeout),
    "reboot": (Action.REBOOT, ("timeout",), _timeout),
    "pause": (Action.PAUSE, (), _nothing),
    "unpause": (Action.UNPAUSE, (), _nothing),
    "kill": (Action.KILL, ("signal",), _signal),
}


@blueprint.post(f"/<ident>/<any({', '.join(_ACTIONS)}):verb>")
def act(ident: str, verb: str) -> Any:
    """Zun's container actions: 202 once the request is recorded; the agent does the rest."""
    action, allowed, read_params = _ACTIONS[verb]
    state = lookup(ident, f"container:{verb}")
    parsing.reject_unknown_query(*allowed)
    act_on(state, action, read_params())
    return flask.Response(status=202)


@blueprint.post("/<ident>/rebuild")
def rebuild(ident: str) -> Any:
    """Zun's rebuild: a new runtime container from the container's image (or `image`), started
    again if it was running. 202; the actions history shows when it is done."""
    state = lookup(ident, "container:rebuild")
    parsing.reject_unknown_query("image", "image_driver", "run")
    image = flask.request.args.get("image") or None
    given = flask.request.args.get("image_driver")
    driver = glance.driver_of(given or state.image_driver)
    if image is not None and driver == "docker":
        image = parsing.container_image(image)
    params: dict[str, Any] = {}
    if image is not None or given:
        params = {"image": image or state.image, "image_driver": driver}
        if driver == "glance":
            params["glance_image"] = glance.resolve(params["image"])
    act_on(state, Action.REBUILD, params)
    return flask.Response(status=202)


@blueprint.post("/<ident>/rename")
def rename(ident: str) -> Any:
    """Zun's rename action, removed at 1.14 in favour of PATCH {"name": ...}."""
    if _version().at_least(14):
        raise errors.not_found("The rename action was removed in microversion 1.14; use "
                               "PATCH /v1/containers/<id> with {\"name\": ...}.")
    state = lookup(ident, "container:rename")
    parsing.reject_unknown_query("name")
    name = parsing.container_name(flask.request.args.get("name"))
    return _render(act_on(state, Action.RENAME, {"name": name}))


@blueprint.patch("/<ident>")
def update(ident: str) -> Any:
    """Rename (1.14+) and/or change cpu and memory. New limits are applied by the agent on the
    container's host; the answer waits for its result, as Zun's synchronous update does."""
    state = lookup(ident, "container:update")
    parsing.reject_unknown_query()
    changes = parsing.container_update(parsing.json_body(), _version())
    if "name" in changes:
        state = act_on(state, Action.RENAME, {"name": changes.pop("name")})
    status = 200
    if changes:
        state, applied = _update_limits(state, changes)
        status = 200 if applied else 202
    return _render(state), status


@blueprint.post("/<ident>/resize_container")
def resize_container(ident: str) -> Any:
    """Zun 1.19's resize_container: new cpu and/or memory, as PATCH sets them, but answered
    at once (202), as Zun does; the actions history shows the update's result."""
    if not _version().at_least(19):
        raise errors.not_found("resize_container arrived in microversion 1.19.")
    state = lookup(ident, "container:resize_container")
    parsing.reject_unknown_query()
    changes = parsing.container_update(parsing.json_body(), _version())
    if "name" in changes:
        raise errors.bad_request("resize_container changes cpu and memory only; rename with "
                                 "PATCH /v1/containers/<id>.")
    if not changes:
        raise errors.bad_request("resize_container needs cpu and/or memory.")
    refusal = containers.check(state, Action.RESIZE_CONTAINER)
    if refusal is not None:
        raise errors.conflict(refusal.detail)
    return _render(_request_limits(state, changes)), 202


_UPDATE_WAIT_SECONDS = 30.0


def _request_limits(state: ContainerState, limits: dict[str, Any]) -> ContainerState:
    """Reserve quota for new limits and record the update for the agent to apply. A refused
    update leaves a reservation the quota ledger settles against the views later."""
    before = quotas.held(state.project_id, state.uuid)
    quotas.reserve(state.project_id, state.uuid, limits.get("cpu", state.cpu),
                   limits.get("memory", state.memory))
    try:
        return act_on(state, Action.UPDATE, limits)
    except errors.ApiError:
        quotas.restore(state.project_id, state.uuid, before)
        raise


def _update_limits(state: ContainerState,
                   limits: dict[str, Any]) -> tuple[ContainerState, bool]:
    """The container after its new limits, and whether the agent applied them in time
    (if not, they are still on their way: 202 rather than 200)."""
    before = quotas.held(state.project_id, state.uuid)
    requested = _request_limits(state, limits)
    svc = services()
    # From the start of the history, not from the view's seq: on a bus that delivers before
    # the API has folded its own event, the agent's answer can already be in that view.
    result = _await_result(svc, requested.uuid, flask.g.request_id)
    if result is None:
        return requested, False
    if result["type"] == EventType.UPDATE_FAILED:
        quotas.restore(state.project_id, state.uuid, before)
        raise errors.conflict(result["data"]["reason"], code="container.update_failed")
    current = folding.current_container(svc.bus, svc.store, requested.uuid)
    return current or requested, True


def _await_result(svc: Services, uuid: str, request_id: str) -> events.Envelope | None:
    """The agent's answer to this request (same request id), if it comes in time."""
    answers = (EventType.UPDATED, EventType.UPDATE_FAILED)
    deadline = time.monotonic() + _UPDATE_WAIT_SECONDS
    while time.monotonic() < deadline:
        for envelope in svc.bus.history(uuid):
            if envelope["request_id"] == request_id and envelope["type"] in answers:
                return envelope
        time.sleep(0.01)
    return None
