"""SHARED (below the edges, above the ports): quota allocations settled against the views, off
the request path: a reservation whose create never reached the log expires, a deleted
container's share is dropped if its release was missed, an old allocation counts what the view
says. Side effects: reads views and allocations, changes allocations, through the Store."""

from __future__ import annotations

import logging

from higgins.processors import quotas
from higgins.processors.model import ContainerState, Status
from higgins.store.base import Store

LOG = logging.getLogger(__name__)


def release_if_deleted(store: Store, state: ContainerState) -> None:
    """A Deleted container's share comes back before its Deleted view is saved, so whoever
    sees it gone can use its quota at once (idempotent: nothing held, nothing written)."""
    if state.status is Status.DELETED:
        store.change_allocations(state.project_id, [quotas.Change(state.uuid, None)])


def settle_project(store: Store, defaults: quotas.Defaults, project_id: str,
                   now: float) -> int:
    """Settle one project's allocations (see processors/quotas.settled); changes applied."""
    ledger = store.allocations(project_id)
    live = store.find_containers(project_id=project_id)
    known = {state.uuid for state in live}
    deleted = [uuid for uuid in ledger if uuid not in known and _is_deleted(store, uuid)]
    changes = quotas.settling(ledger, quotas.settled(ledger, live, deleted, defaults, now))
    if not changes:
        return 0
    refusals = store.change_allocations(project_id, changes)
    return sum(1 for refusal in refusals if not refusal)


def settle_all(store: Store, defaults: quotas.Defaults, now: float) -> int:
    settled = 0
    for project_id in store.quota_projects():
        settled += settle_project(store, defaults, project_id, now)
    if settled:
        LOG.info("settled %d quota allocations against the views", settled)
    return settled


def _is_deleted(store: Store, uuid: str) -> bool:
    state = store.load_container(uuid)
    return state is not None and state.status is Status.DELETED
