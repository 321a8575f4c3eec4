"""WIRING: audit replay: fold every subject's retained events from nothing and compare the
result with the stored views (`higgins replay --check`), or rebuild the views from the log."""

from __future__ import annotations

from dataclasses import dataclass, field

from higgins import events
from higgins.bus.base import Bus
from higgins.processors import capsules, containers, hosts, images
from higgins.processors.model import CapsuleState, ContainerState, HostState, ImageState
from higgins.store.base import Store


@dataclass
class Report:
    checked: int = 0
    differences: list[str] = field(default_factory=list)


View = ContainerState | HostState | ImageState | CapsuleState


def _replayed(bus: Bus, subject: str) -> View | None:
    history = bus.history(subject)
    kind = events.subject_kind(subject)
    if kind == "host":
        host: HostState | None = None
        for envelope in history:
            host = hosts.fold(host, envelope)
        return host
    if kind == "image":
        return images.fold_all(None, history)
    if kind == "capsule":
        return capsules.fold_all(None, history)
    return containers.fold_all(None, history)


def _stored(store: Store, subject: str) -> View | None:
    kind = events.subject_kind(subject)
    if kind == "host":
        return store.load_host(subject.removeprefix(events.HOST_SUBJECT_PREFIX))
    if kind == "image":
        return store.load_image(images.uuid_of(subject))
    if kind == "capsule":
        return store.load_capsule(capsules.uuid_of(subject))
    return store.load_container(subject)


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
        if isinstance(state, ContainerState):
            store.save_container(state)
            written += 1
        elif isinstance(state, HostState):
            store.save_host(state)
            written += 1
        elif isinstance(state, ImageState):
            store.save_image(state)
            written += 1
        elif isinstance(state, CapsuleState):
            store.save_capsule(state)
            written += 1
    return written
