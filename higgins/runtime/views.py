"""WIRING: bring a view up to date with the log: load, fold what it has not seen, compare-and-set.
Used by the fold processor and by the API (read-your-writes), so both write the same folds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from higgins import events
from higgins.bus.base import Bus
from higgins.processors import containers, hosts
from higgins.processors.model import ContainerState, HostState
from higgins.store.base import Store

T = TypeVar("T", ContainerState, HostState)

_ATTEMPTS = 20


def _catch_up(
    bus: Bus,
    subject: str,
    load: Callable[[], T | None],
    save: Callable[[T, int | None], bool],
    fold: Callable[[T | None, events.Envelope], T | None],
) -> T | None:
    for _ in range(_ATTEMPTS):
        stored = load()
        seen = stored.seq if stored is not None else 0
        state = stored
        for envelope in bus.history(subject, after_seq=seen):
            state = fold(state, envelope)
        if state is None or state is stored:
            return state
        if save(state, stored.seq if stored is not None else None):
            return state
    raise RuntimeError(f"view of {subject} kept changing under {_ATTEMPTS} attempts")


def current_container(bus: Bus, store: Store, uuid: str) -> ContainerState | None:
    return _catch_up(
        bus, uuid, lambda: store.load_container(uuid), store.save_container, containers.fold
    )


def current_host(bus: Bus, store: Store, name: str) -> HostState | None:
    return _catch_up(
        bus, events.host_subject(name), lambda: store.load_host(name), store.save_host, hosts.fold
    )
