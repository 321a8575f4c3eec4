"""EDGE: /v1/quotas and /v1/quota_classes as Zun has them, and the reservation every create and
resize makes before it is recorded: one atomic change of the project's usage counters and the
container's allocation (store.change_allocations), combined with this process's concurrent
requests of the same project (api/reservations.py), so the last unit of quota goes to one
request only, across any number of API processes, at a cost that does not grow with the
project. Allocations are settled against the views in the background (higgins/settling.py)."""

from __future__ import annotations

import time
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.reservations import Reservations
from higgins.api.services import authorize, services
from higgins.processors import quotas
from higgins.processors.quotas import Allocation, Change

blueprint = flask.Blueprint("quotas", __name__)


def _limits(project_id: str) -> dict[str, int]:
    store, defaults = services().store, services().quota
    return quotas.effective_limits(
        defaults, store.quota_limits(_class_scope(quotas.DEFAULT_CLASS)),
        store.quota_limits(_project_scope(project_id)))


def _project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def _class_scope(name: str) -> str:
    return f"class:{name}"


def _reservations() -> Reservations:
    """This app's combiner (one per API process)."""
    extensions = flask.current_app.extensions
    if "higgins.reservations" not in extensions:
        extensions.setdefault("higgins.reservations", Reservations(services().store))
    found: Reservations = extensions["higgins.reservations"]
    return found


def reserve(project_id: str, uuid: str, cpu: float | None, memory: int | None,
            fresh: bool = False) -> None:
    """Hold what container `uuid` needs against its project's quota, or answer 403 as Zun does
    ("Quota exceeded for resources: [...]"). A resize replaces the container's allocation;
    `fresh`: `uuid` was made by this request (a create), so it holds nothing yet."""
    wanted = quotas.charge(cpu, memory, services().quota, time.time())
    over = _reservations().change(project_id, Change(uuid, wanted, _limits(project_id),
                                                     fresh=fresh))
    if over:
        raise errors.ApiError(403, "container.over_quota",
                              f"Quota exceeded for resources: {over}")


def restore(project_id: str, uuid: str, allocation: Allocation | None) -> None:
    """Put back what `uuid` held before a reservation that did not happen (None: nothing)."""
    _reservations().change(project_id, Change(uuid, allocation))


def held(project_id: str, uuid: str) -> Allocation | None:
    return services().store.allocation(project_id, uuid)


def _quota_body() -> dict[str, int]:
    """PUT bodies (schemas/requests/quota_update.json): any of containers, memory, cpu, disk as
    integers or integer strings; -1 is unlimited."""
    body = parsing.json_body()
    parsing.require_valid("quota_update", body, "quotas")
    return {name: int(value) for name, value in body.items()}


@blueprint.get("/v1/quotas/<project_id>")
def show(project_id: str) -> Any:
    authorize("quota:get", project_id)
    parsing.reject_unknown_query("usages")
    limits = _limits(project_id)
    if not parsing.query_bool("usages"):
        return limits
    used = services().store.quota_usage(project_id).as_dict()
    return {name: {"limit": limits[name], "in_use": used[name]} for name in quotas.RESOURCES}


@blueprint.get("/v1/quotas/<project_id>/defaults")
def defaults(project_id: str) -> Any:
    authorize("quota:get_default", project_id)
    parsing.reject_unknown_query()
    return quotas.class_limits(services().quota,
                               services().store.quota_limits(_class_scope(quotas.DEFAULT_CLASS)))


@blueprint.put("/v1/quotas/<project_id>")
def update(project_id: str) -> Any:
    authorize("quota:update", project_id)
    parsing.reject_unknown_query()
    services().store.set_quota_limits(_project_scope(project_id), _quota_body())
    return _limits(project_id)


@blueprint.delete("/v1/quotas/<project_id>")
def reset(project_id: str) -> Any:
    authorize("quota:delete", project_id)
    parsing.reject_unknown_query()
    services().store.clear_quota_limits(_project_scope(project_id))
    return flask.Response(status=204)


@blueprint.get("/v1/quota_classes/<quota_class_name>")
def show_class(quota_class_name: str) -> Any:
    authorize("quota_class:get")
    parsing.reject_unknown_query()
    return quotas.class_limits(services().quota,
                               services().store.quota_limits(_class_scope(quota_class_name)))


@blueprint.put("/v1/quota_classes/<quota_class_name>")
def update_class(quota_class_name: str) -> Any:
    authorize("quota_class:update")
    parsing.reject_unknown_query()
    services().store.set_quota_limits(_class_scope(quota_class_name), _quota_body())
    return show_class(quota_class_name)
