"""WIRING: audit replay: fold every subject's retained events from nothing and compare the
result with the stored views (`higgins replay --check`), or rebuild the views from the log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from higgins import events
from higgins.bus.base import Bus
from higgins.processors import capsules, containers, hosts, images
from higgins.processors.model import folded
from higgins.store.base import Store


@dataclass
class Report:
    checked: int = 0
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Kind:
    """How one kind of subject folds, and where its view is kept."""

    fold: Callable[[Any, events.Envelope], Any]
    key: Callable[[str], str]  # subject -> the view's key in the store
    load: Callable[[Store, str], Any]
    save: Callable[[Store, Any], None]


# The store is a Protocol (adapters do not inherit from it): reach its methods by name.
_KINDS: dict[str, _Kind] = {
    "container": _Kind(containers.fold, lambda s: s, lambda st, k: st.load_container(k),
                       lambda st, v: st.save_container(v)),
    "host": _Kind(hosts.fold, lambda s: s.removeprefix(events.HOST_SUBJECT_PREFIX),
                  lambda st, k: st.load_host(k), lambda st, v: st.save_host(v)),
    "image": _Kind(images.fold, images.uuid_of, lambda st, k: st.load_image(k),
                   lambda st, v: st.save_image(v)),
    "capsule": _Kind(capsules.fold, capsules.uuid_of, lambda st, k: st.load_capsule(k),
                     lambda st, v: st.save_capsule(v)),
}


def _replayed(bus: Bus, subject: str) -> Any:
    return folded(_KINDS[events.subject_kind(subject)].fold, bus.history(subject))


def _stored(store: Store, subject: str) -> Any:
    kind = _KINDS[events.subject_kind(subject)]
    return kind.load(store, kind.key(subject))


def check(bus: Bus, store: Store) -> Report:
    """Every view must equal the fold of its subject's events, field for field."""
    report = Report()
    for subject in bus.subjects():
        report.checked += 1
        replayed, stored = _replayed(bus, subject), _stored(store, subject)
        if replayed != stored:
            report.differences.append(f"{subject}: log gives {replayed!r}, view is {stored!r}")
    return report


def rebuild(bus: Bus, store: Store) -> int:
    """Write the folds of the log into an empty store; the number of views written."""
    written = 0
    for subject in bus.subjects():
        state = _replayed(bus, subject)
        if state is not None:
            _KINDS[events.subject_kind(subject)].save(store, state)
            written += 1
    return written
