"""EDGE: /v1/quotas and /v1/quota_classes as Zun has them, and the reservation every create and
resize makes before it is recorded (compare-and-set on the project's ledger, so the last unit of
quota goes to one request only, across any number of API processes)."""

from __future__ import annotations

import time
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.services import authorize, services
from higgins.processors import quotas
from higgins.processors.model import ContainerState, Status
from higgins.processors.quotas import Allocation

blueprint = flask.Blueprint("quotas", __name__)

# Compare-and-set rounds before a reservation gives up (each lost round means another request
# of the same project changed the ledger in between).
_ATTEMPTS = 50
# A ledger this long is settled against the views before it grows further, limits or not:
# deleted containers leave their allocations behind until a settle, and with generous (or
# unlimited) quotas no limit would ever call for one.
_SETTLE_AT = 64


def _limits(project_id: str) -> dict[str, int]:
    store, defaults = services().store, services().quota
    return quotas.effective_limits(
        defaults, store.quota_limits(_class_scope(quotas.DEFAULT_CLASS)),
        store.quota_limits(_project_scope(project_id)))


def _project_scope(project_id: str) -> str:
    return f"project:{project_id}"


def _class_scope(name: str) -> str:
    return f"class:{name}"


def reserve(project_id: str, uuid: str, cpu: float | None, memory: int | None) -> None:
    """Hold what container `uuid` needs against its project's quota, or answer 403 as Zun does
    ("Quota exceeded for resources: [...]"). A resize replaces the container's allocation."""
    svc = services()
    limits = _limits(project_id)
    wanted = quotas.charge(cpu, memory, svc.quota, time.time())
    for _ in range(_ATTEMPTS):
        version, ledger = svc.store.load_ledger(project_id)
        if len(ledger) >= _SETTLE_AT or \
                _grown_overs(ledger, quotas.with_allocation(ledger, uuid, wanted), limits):
            ledger = _settled(project_id, ledger)
        proposed = quotas.with_allocation(ledger, uuid, wanted)
        over = _grown_overs(ledger, proposed, limits)
        if over:
            raise errors.ApiError(403, "container.over_quota",
                                  f"Quota exceeded for resources: {over}")
        if svc.store.swap_ledger(project_id, version, proposed):
            return
    raise errors.ApiError(503, "container.quota_busy",
                          "The project's quota is changing too fast to reserve; try again.")


def restore(project_id: str, uuid: str, allocation: Allocation | None) -> None:
    """Put back what `uuid` held before a reservation that did not happen (None: nothing)."""
    store = services().store
    for _ in range(_ATTEMPTS):
        version, ledger = store.load_ledger(project_id)
        kept = quotas.without(ledger, uuid) if allocation is None else \
            quotas.with_allocation(ledger, uuid, allocation)
        if store.swap_ledger(project_id, version, kept):
            return


def held(project_id: str, uuid: str) -> Allocation | None:
    return services().store.load_ledger(project_id)[1].get(uuid)


def _grown_overs(before: dict[str, Allocation], after: dict[str, Allocation],
                 limits: dict[str, int]) -> list[str]:
    """Resources over their limit that this change makes bigger (an admin may have lowered a
    limit below what is in use: that alone must not block a change that does not add to it)."""
    used_before, used_after = quotas.usage(before), quotas.usage(after)
    return [name for name in quotas.overs(after, limits)
            if used_after[name] > used_before[name]]


def _settled(project_id: str, ledger: dict[str, Allocation]) -> dict[str, Allocation]:
    """The ledger checked against the project's views (see processors/quotas.settled)."""
    store = services().store
    live = store.find_containers(project_id=project_id)
    known = {state.uuid for state in live}
    deleted = [uuid for uuid in ledger if uuid not in known
               and _is_deleted(store.load_container(uuid))]
    return quotas.settled(ledger, live, deleted, services().quota, time.time())


def _is_deleted(state: ContainerState | None) -> bool:
    return state is not None and state.status is Status.DELETED


def _usage(project_id: str) -> dict[str, float]:
    return quotas.usage(_settled(project_id, services().store.load_ledger(project_id)[1]))


def _quota_body() -> dict[str, int]:
    """PUT bodies (schemas/requests/quota_update.json): any of containers, memory, cpu, disk as
    integers or integer strings; -1 is unlimited."""
    body = parsing.json_body()
    parsing.require_valid("quota_update", body, "quotas")
    return {name: int(value) for name, value in body.items()}


@blueprint.get("/v1/quotas/<project_id>")
def show(project_id: str) -> Any:
    parsing.reject_unknown_query("usages")
    authorize("quota:get", project_id)
    limits = _limits(project_id)
    if not parsing.query_bool("usages"):
        return limits
    used = _usage(project_id)
    return {name: {"limit": limits[name], "in_use": used[name]} for name in quotas.RESOURCES}


@blueprint.get("/v1/quotas/<project_id>/defaults")
def defaults(project_id: str) -> Any:
    parsing.reject_unknown_query()
    authorize("quota:get_default", project_id)
    return quotas.class_limits(services().quota,
                               services().store.quota_limits(_class_scope(quotas.DEFAULT_CLASS)))


@blueprint.put("/v1/quotas/<project_id>")
def update(project_id: str) -> Any:
    parsing.reject_unknown_query()
    authorize("quota:update", project_id)
    services().store.set_quota_limits(_project_scope(project_id), _quota_body())
    return _limits(project_id)


@blueprint.delete("/v1/quotas/<project_id>")
def reset(project_id: str) -> Any:
    parsing.reject_unknown_query()
    authorize("quota:delete", project_id)
    services().store.clear_quota_limits(_project_scope(project_id))
    return flask.Response(status=204)


@blueprint.get("/v1/quota_classes/<quota_class_name>")
def show_class(quota_class_name: str) -> Any:
    parsing.reject_unknown_query()
    authorize("quota_class:get")
    return quotas.class_limits(services().quota,
                               services().store.quota_limits(_class_scope(quota_class_name)))


@blueprint.put("/v1/quota_classes/<quota_class_name>")
def update_class(quota_class_name: str) -> Any:
    parsing.reject_unknown_query()
    authorize("quota_class:update")
    services().store.set_quota_limits(_class_scope(quota_class_name), _quota_body())
    return show_class(quota_class_name)
