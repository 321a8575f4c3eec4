"""EDGE: Zun's Glance image driver, API side: a create (or rebuild) naming image_driver glance
is resolved in Glance as the caller (Glance's visibility rules decide what the tenant can use)
and carries the image's id and checksum to the agent; a commit reserves the Glance image the
agent uploads into; GET /v1/images/<image>/search searches Glance. Side effects: HTTP to Glance
through higgins.integrations."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.services import authorize, services
from higgins.integrations import connections, glance

blueprint = flask.Blueprint("glance", __name__)

DRIVERS = ("docker", "glance")


def enabled() -> bool:
    return services().openstack.glance


def _connection() -> glance.Connection:
    return connections.for_request(flask.request.environ, services().openstack)


def _refused(error: glance.GlanceError) -> errors.ApiError:
    return errors.ApiError(error.status, "container.image_driver", str(error))


def _require() -> None:
    if not enabled():
        raise errors.bad_request("image_driver 'glance' needs Glance, and this Higgins has "
                                 "none configured ([glance] enabled); use 'docker'.")


def resolve(image: str) -> dict[str, Any]:
    """The Glance image a create or rebuild names, as the event carries it."""
    _require()
    try:
        return glance.find_image(_connection(), image).reference()
    except glance.GlanceError as error:
        raise _refused(error) from error


def reserve(repository: str, tag: str) -> str:
    """A commit's Glance image, created (queued) as the caller: its id."""
    try:
        return glance.reserve_image(_connection(), repository, tag)
    except glance.GlanceError as error:
        raise _refused(error) from error


def driver_of(value: Any) -> str:
    """image_driver from a body or query (None or empty: docker)."""
    driver = value or "docker"
    if driver not in DRIVERS:
        raise errors.bad_request(f"Invalid input for field 'image_driver': {driver!r} is not "
                                 f"one of {', '.join(DRIVERS)}.")
    return str(driver)


@blueprint.get("/v1/images/<image_name>/search")
def search(image_name: str) -> Any:
    """Zun's image search: Glance's docker-format images the caller can see (image_driver
    glance, the default here); a Docker registry search needs a registry index Higgins does
    not have."""
    authorize("image:search")
    parsing.reject_unknown_query("image_driver", "exact_match")
    exact = parsing.query_bool("exact_match")
    # Glance's is the only search Higgins has, so it is the default (python-zunclient sends
    # the string None when no driver is given)
    given = flask.request.args.get("image_driver")
    if driver_of(given if given not in (None, "", "None") else "glance") == "docker":
        raise errors.ApiError(501, "container.not_implemented",
                              "Higgins does not implement Docker registry search (it needs a "
                              "registry index such as Docker Hub); search with "
                              "image_driver=glance.")
    _require()
    try:
        found = glance.search(_connection(), image_name, exact)
    except glance.GlanceError as error:
        raise _refused(error) from error
    return flask.jsonify([{"id": i.id, "name": i.name, "tags": list(i.tags), "status": i.status,
                           "size": i.size, "metadata": {"container_format": i.container_format}}
                          for i in found])
