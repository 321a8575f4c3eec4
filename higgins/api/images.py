"""EDGE: /v1/images (admin, as Zun): images pulled onto, or committed on, a host; and the
container action that commits one (POST /v1/containers/<id>/commit). A pull or delete is an
event on the image's own subject; the agent on the host does the work and reports back."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

import flask

from higgins import events, folding
from higgins.api import errors, glance, hosts, paging, parsing
from higgins.api.containers import act_on, lookup, refuse_unless_allowed, request_envelope
from higgins.api.services import authorize, services
from higgins.events import EventType
from higgins.processors import images
from higgins.processors.model import Action, ImageState, ImageStatus

blueprint = flask.Blueprint("images", __name__)

_SORT_KEYS = ("created_at", "repo", "tag", "host", "uuid", "size", "image_id")
DEFAULT_TAG = "latest"


def render(image: ImageState) -> dict[str, Any]:
    """Zun's image view (its whitelist: no status; image_id and size stay None until the host
    has the image)."""
    root = flask.request.host_url.rstrip("/")
    return {
        "uuid": image.uuid,
        "links": [{"href": f"{root}/v1/images/{image.uuid}", "rel": "self"},
                  {"href": f"{root}/images/{image.uuid}", "rel": "bookmark"}],
        "image_id": image.image_id,
        "repo": image.repo,
        "tag": image.tag,
        "size": image.size,
        "project_id": image.project_id,
        "image_pull_policy": image.image_pull_policy,
        "host": image.host,
    }


def split_reference(reference: str, tag: str | None) -> tuple[str, str]:
    """repo and tag from "repo[:tag]" (a tag in the reference wins, as in Zun); a registry's
    port is not a tag."""
    repo, _, maybe_tag = reference.rpartition(":")
    if repo and "/" not in maybe_tag:
        return repo, maybe_tag
    return reference, tag or DEFAULT_TAG


@blueprint.get("/v1/images", strict_slashes=False)
def index() -> Any:
    authorize("image:get_all")
    parsing.reject_unknown_query(*paging.QUERY)
    found = paging.sort(services().store.list_images(), _SORT_KEYS, "created_at")
    shown, next_url = paging.page(found, "images")
    return {"images": [render(image) for image in shown], "next": next_url}


def _image(ident: str) -> ImageState:
    svc = services()
    image = folding.current_image(svc.bus, svc.store, ident) if parsing.is_uuid(ident) else None
    if image is None or image.status is ImageStatus.DELETED:
        raise errors.not_found(f"Image {ident} could not be found.")
    return image


@blueprint.get("/v1/images/<image_id>")
def show(image_id: str) -> Any:
    authorize("image:get_one")
    parsing.reject_unknown_query()
    return render(_image(image_id))


@blueprint.post("/v1/images", strict_slashes=False)
def pull() -> Any:
    """Pull repo[:tag] onto a host: 202 with the image; image_id and size appear once the
    host's agent has it."""
    caller = authorize("image:pull")
    parsing.reject_unknown_query()
    body = parsing.json_body()
    parsing.require_valid("image_pull", body)
    host = _known_host(body["host"])
    repo, tag = split_reference(body["repo"], body.get("tag"))
    policy = body.get("image_pull_policy")
    data = {"repo": repo, "tag": tag, "host": host,
            "image_pull_policy": policy.lower() if policy else None}
    subject = events.image_subject(str(uuidlib.uuid4()))
    image = _record(request_envelope(EventType.IMAGE_PULL_REQUESTED, subject, caller, data))
    response = flask.jsonify(render(image))
    response.status_code = 202
    response.headers["Location"] = f"{flask.request.host_url.rstrip('/')}/v1/images/{image.uuid}"
    return response


def _known_host(name: str) -> str:
    for host in services().store.list_hosts():
        if name in (host.name, hosts.host_uuid(host.name)) and not host.deleted:
            return host.name
    raise errors.bad_request(f"The host {name} does not exist.")


@blueprint.delete("/v1/images/<image_id>")
def delete(image_id: str) -> Any:
    """Remove the image from its host (204; the agent untags it there)."""
    caller = authorize("image:delete")
    parsing.reject_unknown_query()
    image = _image(image_id)
    if image.status is not ImageStatus.DELETING:
        _record(request_envelope(EventType.IMAGE_DELETE_REQUESTED,
                                 events.image_subject(image.uuid), caller, {}))
    return flask.Response(status=204)


@blueprint.post("/v1/containers/<ident>/commit")
def commit(ident: str) -> Any:
    """Zun's commit: the container's filesystem becomes repository:tag, a local image on the
    container's host, uploaded to Glance when Higgins has it (the 202's uuid is then Glance's
    image id). The image is listed once the agent made it."""
    state = lookup(ident, "container:commit")
    parsing.reject_unknown_query("repository", "tag")
    repo, tag = split_reference(parsing.required_query("repository"),
                                flask.request.args.get("tag") or None)
    params: dict[str, Any] = {"image_uuid": str(uuidlib.uuid4()), "repository": repo,
                              "tag": tag}
    problems = events.schema_errors("events", "container.commit.requested", params)
    if problems:
        raise errors.bad_request(f"Invalid repository or tag: {'; '.join(problems)}.")
    refuse_unless_allowed(state, Action.COMMIT)
    if glance.enabled():  # as Zun: the image goes to Glance, named after the repository
        params.update(image_uuid=glance.reserve(repo, tag), glance=True)
    act_on(state, Action.COMMIT, params)
    image_uuid = params["image_uuid"]
    response = flask.jsonify({"uuid": image_uuid})
    response.status_code = 202
    return response


def _record(envelope: events.Envelope) -> ImageState:
    """Publish (durable before we answer), then fold it into the view read next."""
    svc = services()
    svc.bus.publish([envelope])
    image = folding.current_image(svc.bus, svc.store, images.uuid_of(envelope["subject"]))
    assert image is not None, "a recorded image event always has a view"
    return image
