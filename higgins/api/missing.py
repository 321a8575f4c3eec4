"""EDGE: Zun endpoints Higgins does not have yet answer 501 with a clear, Zun-format error,
so a client learns what is missing instead of guessing from a 404."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import errors

blueprint = flask.Blueprint("missing", __name__)

CONTAINER_ACTIONS = (
    "attach", "add_security_group", "remove_security_group",
    "network_attach", "network_detach", "network_list",
)
RESOURCES = ("networks", "registries")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _missing(what: str) -> Any:
    raise errors.ApiError(
        501, "container.not_implemented",
        f"Higgins does not implement {what} yet; see the feature table in README.md.")


def _container_action(ident: str, action: str, rest: str = "") -> Any:
    return _missing(f"the container action '{action}'")


def _resource(resource: str, rest: str = "") -> Any:
    return _missing(f"/v1/{resource}")


_ACTION = f"<any({', '.join(CONTAINER_ACTIONS)}):action>"
_RESOURCE = f"<any({', '.join(RESOURCES)}):resource>"
blueprint.add_url_rule(f"/v1/containers/<ident>/{_ACTION}", view_func=_container_action,
                       methods=_ALL_METHODS)
blueprint.add_url_rule(f"/v1/containers/<ident>/{_ACTION}/<path:rest>",
                       view_func=_container_action, methods=_ALL_METHODS)
blueprint.add_url_rule(f"/v1/{_RESOURCE}", view_func=_resource, methods=_ALL_METHODS)
blueprint.add_url_rule(f"/v1/{_RESOURCE}/<path:rest>", view_func=_resource,
                       methods=_ALL_METHODS)


def _image_search() -> Any:
    return _missing("image search (it needs a registry index such as Docker Hub or Glance)")


blueprint.add_url_rule("/v1/images/search", view_func=_image_search, methods=["GET"])
