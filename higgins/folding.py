"""SHARED (below the edges, above the ports): bring a view up to date with the log: load,
fold what it has not seen, save. Side effects: reads the log and reads and writes views through
the Bus and Store it is handed. Used by the processors (through `Folds`, which remembers what
it saved), the agent and the API (read-your-writes), so all of them write the same folds."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from higgins import events, settling
from higgins.bus.base import Bus
from higgins.processors import capsules, containers, hosts, images
from higgins.processors.model import CapsuleState, ContainerState, HostState, ImageState, folded
from higgins.store.base import Store

T = TypeVar("T", ContainerState, HostState, ImageState, CapsuleState)
View = ContainerState | HostState | ImageState | CapsuleState


def state_subject(state: View) -> str:
    """The log subject a view folds."""
    if isinstance(state, HostState):
        return events.host_subject(state.name)
    if isinstance(state, ImageState):
        return events.image_subject(state.uuid)
    if isinstance(state, CapsuleState):
        return events.capsule_subject(state.uuid)
    return state.uuid
Fold = Callable[[T | None, events.Envelope], T | None]


def _catch_up(bus: Bus, subject: str, start: T | None, save: Callable[[T], None],
              fold: Fold[T]) -> T | None:
    """Fold the log after `start` (a state of `subject` at some seq, or None) and save the
    result if it moved. Saves keep the highest seq (store/base.py), so racing writers agree."""
    state = start
    for envelope in bus.history(subject, after_seq=start.seq if start is not None else 0):
        state = fold(state, envelope)
    if state is not None and state is not start:
        save(state)
    return state


def _container_saver(store: Store) -> Callable[[ContainerState], None]:
    def save(state: ContainerState) -> None:
        settling.release_if_deleted(store, state)
        store.save_container(state)

    return save


def current_container(bus: Bus, store: Store, uuid: str) -> ContainerState | None:
    return _catch_up(bus, uuid, store.load_container(uuid), _container_saver(store),
                     containers.fold)


def container_after(bus: Bus, store: Store, known: ContainerState | None,
                    recorded: events.Envelope) -> ContainerState | None:
    """The view once `recorded` (just published) is folded in: in memory and one write when
    `known` is the state right before it (or it is the container's first event), else caught
    up from the log (another event came in between)."""
    if recorded["seq"] == (known.seq if known is not None else 0) + 1:
        state = containers.fold(known, recorded)
        if state is not None and state is not known:
            _container_saver(store)(state)
        return state
    return current_container(bus, store, recorded["subject"])


def current_host(bus: Bus, store: Store, name: str) -> HostState | None:
    return _catch_up(bus, events.host_subject(name), store.load_host(name), store.save_host,
                     hosts.fold)


def current_image(bus: Bus, store: Store, uuid: str) -> ImageState | None:
    return _catch_up(bus, events.image_subject(uuid), store.load_image(uuid), store.save_image,
                     images.fold)


def current_capsule(bus: Bus, store: Store, uuid: str) -> CapsuleState | None:
    return _catch_up(bus, events.capsule_subject(uuid), store.load_capsule(uuid),
                     store.save_capsule, capsules.fold)


class _Remembered(Generic[T]):
    """The last state this process saved per subject, bounded (least recent out). A state at
    seq N is the same whoever folds it, so a remembered one is never wrong, only perhaps behind."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._states: collections.OrderedDict[str, T] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, subject: str) -> T | None:
        with self._lock:
            return self._states.get(subject)

    def forget(self, subject: str) -> None:
        with self._lock:
            self._states.pop(subject, None)

    def keep(self, subject: str, state: T) -> None:
        with self._lock:
            known = self._states.get(subject)
            if known is None or known.seq < state.seq:
                self._states[subject] = state
            self._states.move_to_end(subject)
            if len(self._states) > self._size:
                self._states.popitem(last=False)


class Folds:
    """Folds delivered events into the views for a consuming process. The event right after
    the state this process last saved costs one write and no read. Anything else (a subject
    first met, a gap left by another process) loads the view and folds the log from there in
    one write, so a backlog (after a restart, an outage) costs one write per subject, and its
    remaining deliveries are recognised as folded already."""

    def __init__(self, bus: Bus, store: Store, size: int = 20_000) -> None:
        self._bus = bus
        self._store = store
        self._containers: _Remembered[ContainerState] = _Remembered(size)
        self._hosts: _Remembered[HostState] = _Remembered(size)
        self._images: _Remembered[ImageState] = _Remembered(size)
        self._capsules: _Remembered[CapsuleState] = _Remembered(size)
        self._save_container = _container_saver(store)

    def container(self, envelope: events.Envelope) -> ContainerState | None:
        """The view of the event's container with the event folded in."""
        state: ContainerState | None = self._apply(envelope, *self._kind(envelope["subject"]))
        return state

    def image(self, envelope: events.Envelope) -> ImageState | None:
        state: ImageState | None = self._apply(envelope, *self._kind(envelope["subject"]))
        return state

    def capsule(self, envelope: events.Envelope) -> CapsuleState | None:
        state: CapsuleState | None = self._apply(envelope, *self._kind(envelope["subject"]))
        return state

    def batch(self, envelopes: Sequence[events.Envelope]) -> None:
        """Fold a batch in memory (each subject's events in order, with the same folds), then
        save each subject's last state once, all in one pipelined write (store.save_all);
        Deleted containers release their quota first. If the writes fail, what this batch
        remembered is forgotten, so its redelivery folds it again."""
        pending: dict[str, View] = {}
        kinds: list[tuple[_Remembered[Any], str]] = []

        def later(state: View) -> None:
            pending[state_subject(state)] = state

        try:
            for envelope in envelopes:
                subject = envelope["subject"]
                remembered, load, _, fold = self._kind(subject)
                kinds.append((remembered, subject))
                self._apply(envelope, remembered, load, later, fold)
            for state in pending.values():
                if isinstance(state, ContainerState):
                    settling.release_if_deleted(self._store, state)
            self._store.save_all(list(pending.values()))
        except BaseException:
            for remembered, subject in kinds:
                remembered.forget(subject)
            raise

    def _kind(self, subject: str) -> tuple[_Remembered[Any], Callable[[], Any],
                                           Callable[[Any], None], Fold[Any]]:
        """What folding `subject`'s events takes: remembered states, load, save, fold."""
        kind, store = events.subject_kind(subject), self._store
        if kind == "host":
            name = subject.removeprefix(events.HOST_SUBJECT_PREFIX)
            return self._hosts, lambda: store.load_host(name), store.save_host, hosts.fold
        if kind == "image":
            uuid = images.uuid_of(subject)
            return self._images, lambda: store.load_image(uuid), store.save_image, images.fold
        if kind == "capsule":
            uuid = capsules.uuid_of(subject)
            return (self._capsules, lambda: store.load_capsule(uuid), store.save_capsule,
                    capsules.fold)
        return (self._containers, lambda: store.load_container(subject), self._save_container,
                containers.fold)

    def _apply(self, envelope: events.Envelope, remembered: _Remembered[T],
               load: Callable[[], T | None], save: Callable[[T], None],
               fold: Fold[T]) -> T | None:
        subject, seq = envelope["subject"], envelope["seq"]
        known = remembered.get(subject)
        if known is not None and seq <= known.seq:
            return known  # folded already (a redelivery, or the other processor was first)
        if known is not None and seq == known.seq + 1:
            state = fold(known, envelope)
            if state is not None and state is not known:
                save(state)
        else:
            state = _catch_up(self._bus, subject, known or load(), save, fold)
        if state is not None:
            remembered.keep(subject, state)
        return state


class Trail:
    """The state each delivered event found (and the one it left), for consumers that react to
    changes (the notifier) without writing views: the event right after the last one this
    process saw costs nothing; any other (a subject first met, a redelivery) folds the
    subject's log up to the event."""

    def __init__(self, bus: Bus, size: int = 20_000) -> None:
        self._bus = bus
        self._states: _Remembered[Any] = _Remembered(size)

    def step(self, envelope: events.Envelope, fold: Fold[T]) -> tuple[T | None, T | None]:
        """(state before the event, state after it)."""
        subject, seq = envelope["subject"], envelope["seq"]
        known = self._states.get(subject)
        if (known.seq if known is not None else 0) != seq - 1:
            earlier = [e for e in self._bus.history(subject) if e["seq"] < seq]
            known = folded(fold, earlier)
        after = fold(known, envelope)
        if after is not None:
            self._states.keep(subject, after)
        return known, after
