"""EDGE: /v1/capsules: Zun's capsules (pods). A create records one capsule.create.requested;
the scheduler places the capsule and requests each of its containers on that host, where the
agent joins them to the capsule's sandbox (one network namespace). The answer shows the
capsule with its containers, read back from the views."""

from __future__ import annotations

import json
import uuid as uuidlib
from typing import Any

import flask
import yaml  # type: ignore[import-untyped,unused-ignore]  # no stubs among the pinned tools

from higgins import events, folding
from higgins.api import errors, paging, parsing, quotas, views
from higgins.api.containers import request_envelope
from higgins.api.identity import current_caller
from higgins.api.microversions import Version
from higgins.api.services import allowed, authorize, granted_flag, services
from higgins.events import EventType
from higgins.processors import capsules
from higgins.processors.model import CapsuleState, ContainerState

blueprint = flask.Blueprint("capsules", __name__, url_prefix="/v1/capsules")

_RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no"}
_SORT_KEYS = ("created_at", "name", "uuid", "updated_at")
_LEGACY_BEFORE = 32  # 1.32 renamed meta_name/meta_labels and dropped the uuid lists


def _version() -> Version:
    version: Version = flask.g.version
    return version


def _template(body: dict[str, Any]) -> dict[str, Any]:
    """The template as an object: Zun also takes it as a JSON or YAML string."""
    template = body.get("template")
    if isinstance(template, str):
        try:
            template = yaml.safe_load(template) if template.strip()[:1] != "{" \
                else json.loads(template)
        except (ValueError, yaml.YAMLError) as error:
            raise errors.bad_request(f"Invalid capsule template: {error}.") from error
        body = {**body, "template": template}
    _refuse_unbuilt(body.get("template"))
    parsing.require_valid("capsule_create", body)
    return dict(body["template"])


def _refuse_unbuilt(template: Any) -> None:
    """501 for the parts of a template Higgins does not build yet (the schema allows them
    only empty), before validation, so the answer names the missing feature."""
    spec = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(spec, dict):
        return
    given_members = spec.get("containers")
    members = given_members if isinstance(given_members, list) else []
    mounts = any(isinstance(m, dict) and m.get("volumeMounts") for m in members)
    for given, why in ((spec.get("initContainers"), "init containers"),
                       (spec.get("volumes") or mounts, "volumes (they need Cinder)")):
        if given:
            raise errors.ApiError(501, "container.not_implemented",
                                  f"Higgins does not implement capsule {why} yet; see the "
                                  "feature table in README.md.")


def _member(capsule_name: str, index: int, spec: dict[str, Any]) -> dict[str, Any]:
    """One template container as the container it becomes (Zun's field names)."""
    requests = (spec.get("resources") or {}).get("requests") or {}
    policy = spec.get("imagePullPolicy")
    member = {
        "uuid": str(uuidlib.uuid4()),
        "name": f"capsule-{capsule_name}-{spec.get('name') or index}",
        "image": spec["image"],
        "command": [*(spec.get("command") or []), *(spec.get("args") or [])],
        "cpu": parsing.parse_cpu(requests["cpu"]) if "cpu" in requests else None,
        "memory": requests.get("memory"),
        "environment": dict(spec.get("env") or {}),
        "workdir": spec.get("workDir"),
        "image_pull_policy": policy.lower() if policy else None,
        "tty": bool(spec.get("tty")),
        "interactive": bool(spec.get("stdin")),
    }
    return {key: value for key, value in member.items() if value is not None}


@blueprint.post("", strict_slashes=False)
def create() -> Any:
    caller = authorize("capsule:create")
    parsing.reject_unknown_query()
    template = _template(parsing.json_body())
    metadata = template.get("metadata") or {}
    uuid = str(uuidlib.uuid4())
    name = metadata.get("name") or uuid
    members = [_member(name, i, spec) for i, spec in enumerate(template["spec"]["containers"])]
    policy = template["spec"].get("restartPolicy") or template.get("restartPolicy") or "Always"
    data = {"name": metadata.get("name"), "labels": dict(metadata.get("labels") or {}),
            "annotations": dict(metadata.get("annotations") or {}),
            "restart_policy": {"Name": _RESTART[policy], "MaximumRetryCount": "0"},
            "availability_zone": template.get("availabilityZone"), "containers": members}
    _reserve(caller.project_id, members)
    svc = services()
    svc.bus.publish([request_envelope(EventType.CAPSULE_CREATE_REQUESTED,
                                      events.capsule_subject(uuid), caller, data)])
    flask.g.uuid = uuid
    capsule = folding.current_capsule(svc.bus, svc.store, uuid)
    assert capsule is not None, "a recorded capsule always has a view"
    response = flask.jsonify(_render(capsule))
    response.status_code = 202
    response.headers["Location"] = f"{flask.request.host_url.rstrip('/')}/v1/capsules/{uuid}"
    return response


def _reserve(project_id: str, members: list[dict[str, Any]]) -> None:
    """Each container of the capsule counts against the project's quota, all or none."""
    reserved: list[str] = []
    try:
        for member in members:
            quotas.reserve(project_id, member["uuid"], member.get("cpu"), member.get("memory"),
                           fresh=True)
            reserved.append(member["uuid"])
    except errors.ApiError:
        for uuid in reserved:
            quotas.restore(project_id, uuid, None)
        raise


def _members(capsule: CapsuleState) -> list[ContainerState | None]:
    svc = services()
    return [folding.current_container(svc.bus, svc.store, uuid) for uuid in capsule.member_uuids]


def _render(capsule: CapsuleState, members: list[ContainerState | None] | None = None,
            status: str | None = None) -> dict[str, Any]:
    members = _members(capsule) if members is None else members
    version, root = _version(), flask.request.host_url.rstrip("/")
    hidden = {name for name in views.ADMIN_FIELDS
              if not allowed(f"container:get_one:{name}", capsule.project_id)}
    body: dict[str, Any] = {
        "uuid": capsule.uuid,
        "links": [{"href": f"{root}/v1/capsules/{capsule.uuid}", "rel": "self"},
                  {"href": f"{root}/capsules/{capsule.uuid}", "rel": "bookmark"}],
        "user_id": capsule.user_id, "project_id": capsule.project_id,
        "created_at": capsule.created_at, "updated_at": capsule.updated_at,
        "addresses": {},
        "status": status or capsules.status(capsule, members) or "Deleted",
        "status_reason": capsule.failed_reason,
        "name": capsule.name, "labels": dict(capsule.labels),
        "restart_policy": dict(capsule.restart_policy),
        "annotations": dict(capsule.annotations),
        "cpu": capsule.cpu, "memory": str(capsule.memory),
        "init_containers": [],
        "containers": [views.container(m, version, root, hidden) for m in members if m],
    }
    if allowed("capsule:get:host", capsule.project_id):
        body["host"] = capsule.host
    if not version.at_least(_LEGACY_BEFORE):
        body["meta_name"], body["meta_labels"] = body.pop("name"), body.pop("labels")
        body["restart_policy"] = capsule.restart_policy.get("Name")
        body.update(volumes_info={}, containers_uuids=list(capsule.member_uuids),
                    init_containers_uuids=[], capsule_version="beta")
    return body


@blueprint.get("", strict_slashes=False)
def index() -> Any:
    caller = authorize("capsule:get_all")
    parsing.reject_unknown_query("all_projects", *paging.QUERY)
    everywhere = granted_flag("all_projects", "capsule:get_all_all_projects")
    found = services().store.find_capsules(None if everywhere else caller.project_id)
    shown = []
    for capsule in paging.sort(found, _SORT_KEYS, "created_at"):
        current = folding.current_capsule(services().bus, services().store, capsule.uuid)
        members = _members(current) if current else []
        status = capsules.status(current, members) if current else None
        if current is not None and status is not None:
            shown.append((current, members, status))
    page, next_url = paging.page([capsule for capsule, _, _ in shown], "capsules")
    wanted = {capsule.uuid for capsule in page}
    return {"capsules": [_render(c, m, s) for c, m, s in shown if c.uuid in wanted],
            "next": next_url}


def _lookup(ident: str, rule: str) -> tuple[CapsuleState, list[ContainerState | None]]:
    """A live capsule of the caller's project (any project with all_projects) by uuid or
    name; another project's is not found."""
    caller = current_caller()
    everywhere = granted_flag("all_projects", "capsule:delete_all_projects"
                              if rule == "capsule:delete" else "capsule:get_all_all_projects")
    svc = services()
    project = None if everywhere else caller.project_id
    candidates = [folding.current_capsule(svc.bus, svc.store, ident)] if parsing.is_uuid(ident) \
        else [c for c in svc.store.find_capsules(project) if c.name == ident]
    for capsule in candidates:
        if capsule is None or project not in (None, capsule.project_id):
            continue
        members = _members(capsule)
        if capsules.status(capsule, members) is not None:
            authorize(rule, capsule.project_id)
            return capsule, members
    raise errors.not_found(f"Capsule {ident} could not be found.")


@blueprint.get("/<ident>")
def show(ident: str) -> Any:
    capsule, members = _lookup(ident, "capsule:get")
    parsing.reject_unknown_query("all_projects")
    return _render(capsule, members)


@blueprint.delete("/<ident>")
def delete(ident: str) -> Any:
    """Delete the capsule and its containers (204; they go as the agent removes them)."""
    capsule, _ = _lookup(ident, "capsule:delete")
    parsing.reject_unknown_query("all_projects")
    if not capsule.deleting:
        services().bus.publish([request_envelope(
            EventType.CAPSULE_DELETE_REQUESTED, events.capsule_subject(capsule.uuid),
            current_caller(), {})])
        flask.g.uuid = capsule.uuid
    return flask.Response(status=204)
