"""EDGE: Zun endpoints Higgins does not have yet answer 501 with a clear, Zun-format error,
so a client learns what is missing instead of guessing from a 404. A caller whom Zun's policy
would not let do it is told that first (403, or 404 for another project's container)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask

from higgins.api import errors
from higgins.api.containers import lookup
from higgins.api.services import authorize

blueprint = flask.Blueprint("missing", __name__)

# Zun's container actions Higgins does not have yet, with the method Zun serves each on; the
# rule guarding each is container:<action>.
_ACTION_METHODS = {"attach": "GET"}
CONTAINER_ACTIONS = tuple(_ACTION_METHODS)
RESOURCES = ("registries",)

# Zun's operations on the resources above: (method, path, the rule that guards it)
_RESOURCE_OPERATIONS = (
    ("GET", "/v1/registries", "registry:get_all"),
    ("POST", "/v1/registries", "registry:create"),
    ("GET", "/v1/registries/<path:rest>", "registry:get_one"),
    ("PATCH", "/v1/registries/<path:rest>", "registry:update"),
    ("DELETE", "/v1/registries/<path:rest>", "registry:delete"),
)


def _missing(what: str) -> Any:
    raise errors.ApiError(
        501, "container.not_implemented",
        f"Higgins does not implement {what} yet; see the feature table in README.md.")


def _container_action(ident: str, action: str, rest: str = "") -> Any:
    lookup(ident, f"container:{action}")
    return _missing(f"the container action '{action}'")


def _resource(rule: str, path: str) -> Callable[..., Any]:
    what = path.removesuffix("/<path:rest>")

    def view(rest: str = "") -> Any:
        authorize(rule)
        return _missing(what)

    return view


for _method in sorted(set(_ACTION_METHODS.values())):
    _action = "<any({}):action>".format(", ".join(a for a, m in _ACTION_METHODS.items()
                                                  if m == _method))
    for _path in (f"/v1/containers/<ident>/{_action}",
                  f"/v1/containers/<ident>/{_action}/<path:rest>"):
        blueprint.add_url_rule(_path, endpoint=f"container_action_{_method.lower()}",
                               view_func=_container_action, methods=[_method])
for _method, _path, _rule in _RESOURCE_OPERATIONS:
    blueprint.add_url_rule(_path, endpoint=_rule, view_func=_resource(_rule, _path),
                           methods=[_method])
