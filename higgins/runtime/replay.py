"""WIRING: audit replay: fold the retained log from nothing, in memory, in one read of the whole
log, and compare the result with the stored views (`higgins replay --check`), or write it into
fresh views (`--into`), as the log stood at a moment if asked (`--as-of`).
Side effects: reads the log; writes the views (rebuild); with a Spread, starts processes that
read and fold parts of the log side by side (the fold is CPU-bound: threads would share one
core)."""

from __future__ import annotations

import datetime
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from higgins import events
from higgins.bus.base import Bus
from higgins.processors import capsules, containers, hosts, images
from higgins.store.base import Store

SAVE_CHUNK = 5_000  # views written per store transaction (SQLite) or per pipelined round


@dataclass
class Report:
    checked: int = 0
    differences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Spread:
    """Fold the log in `parts` processes: this one (with the bus it was handed) and parts - 1
    started ones, each opening its own bus with `open_bus` (picklable: a module-level
    function or a functools.partial of one). They are spawned, not forked (no copies of this
    process's connections and threads), so a script that replays with a Spread guards its
    own code with `if __name__ == "__main__"`, as `higgins` does."""

    open_bus: Callable[[], Bus]
    parts: int = 2


@dataclass(frozen=True)
class _Kind:
    """How one kind of subject folds, and where its view is kept."""

    fold: Callable[[Any, events.Envelope], Any]
    key: Callable[[str], str]  # subject -> the view's key in the store
    load: Callable[[Store, str], Any]


# The store is a Protocol (adapters do not inherit from it): reach its methods by name.
_KINDS: dict[str, _Kind] = {
    "container": _Kind(containers.fold, lambda s: s, lambda st, k: st.load_container(k)),
    "host": _Kind(hosts.fold, lambda s: s.removeprefix(events.HOST_SUBJECT_PREFIX),
                  lambda st, k: st.load_host(k)),
    "image": _Kind(images.fold, images.uuid_of, lambda st, k: st.load_image(k)),
    "capsule": _Kind(capsules.fold, capsules.uuid_of, lambda st, k: st.load_capsule(k)),
}


def moment(text: str) -> datetime.datetime:
    """An RFC 3339 time (`Z` or an offset; UTC when it has none), for `--as-of`."""
    parsed = datetime.datetime.fromisoformat(text.strip())
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def fold_log(log: Iterable[events.Envelope], as_of: datetime.datetime | None = None,
             ) -> dict[str, Any]:
    """Every subject's state folded from its events (each subject's in seq order, subjects in
    any interleaving). With `as_of`, a subject's events stop at its first one stamped later:
    its times come from several processes' clocks, so a later seq may carry an earlier time,
    and a view is only ever the fold of a prefix of its events."""
    states: dict[str, Any] = {}
    folds: dict[str, Callable[[Any, events.Envelope], Any]] = {}
    ended: set[str] = set()
    for envelope in log:
        subject = envelope["subject"]
        if as_of is not None:
            if subject in ended:
                continue
            if datetime.datetime.fromisoformat(envelope["time"]) > as_of:
                ended.add(subject)
                continue
        fold = folds.get(subject)
        if fold is None:
            fold = folds[subject] = _KINDS[events.subject_kind(subject)].fold
        states[subject] = fold(states.get(subject), envelope)
    return states


def fold_spread(bus: Bus, as_of: datetime.datetime | None = None,
                spread: Spread | None = None) -> dict[str, Any]:
    """fold_log of the whole log, its parts folded side by side when `spread` says so."""
    if spread is None or spread.parts < 2:
        return fold_log(bus.read_log(), as_of)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(spread.parts - 1, mp_context=context) as pool:
        others = [pool.submit(_fold_part, spread.open_bus, part, spread.parts, as_of)
                  for part in range(1, spread.parts)]
        states = fold_log(bus.read_log(0, spread.parts), as_of)
        for other in others:
            states.update(other.result())
    return states


def _fold_part(open_bus: Callable[[], Bus], part: int, parts: int,
               as_of: datetime.datetime | None) -> dict[str, Any]:
    bus = open_bus()
    try:
        return fold_log(bus.read_log(part, parts), as_of)
    finally:
        bus.close()


def _stored(store: Store, subject: str) -> Any:
    kind = _KINDS[events.subject_kind(subject)]
    return kind.load(store, kind.key(subject))


_SETTLE_SECONDS = 5.0  # how long a live view may take to catch up with its subject's log


def check(bus: Bus, store: Store, spread: Spread | None = None) -> Report:
    """Every view must equal the fold of its subject's events, field for field. On a live
    deployment events keep coming (a host's heartbeat every report interval) while the log is
    read: a subject that differs is folded again from its own history until the view and the
    log show the same last seq (`_SETTLE_SECONDS` at most), and only a difference that stays
    is one."""
    report = Report()
    for subject, replayed in fold_spread(bus, None, spread).items():
        report.checked += 1
        stored = _stored(store, subject)
        if replayed != stored:
            replayed, stored = _settled(bus, store, subject)
        if replayed != stored:
            report.differences.append(f"{subject}: log gives {replayed!r}, view is {stored!r}")
    return report


def _settled(bus: Bus, store: Store, subject: str) -> tuple[Any, Any]:
    """The subject's fold (from its history) and view again, once they agree or after
    `_SETTLE_SECONDS`."""
    deadline = time.monotonic() + _SETTLE_SECONDS
    while True:
        replayed = fold_log(bus.history(subject)).get(subject)
        stored = _stored(store, subject)
        if replayed == stored or time.monotonic() > deadline:
            return replayed, stored
        time.sleep(0.2)


def rebuild(bus: Bus, store: Store, as_of: datetime.datetime | None = None,
            spread: Spread | None = None) -> int:
    """Write the folds of the log (up to `as_of`) into an empty store, a chunk of views per
    save_all; the number of views written."""
    states = [state for state in fold_spread(bus, as_of, spread).values() if state is not None]
    for chunk in _chunks(states, SAVE_CHUNK):
        store.save_all(chunk)
    return len(states)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
