"""SHARED (below the wiring): the audit processor's batch handler, a consumer of the event log
that appends each audited event's entry (processors/audit.py) to the store's audit record, and
the way back from entries to the log's events (for redelivery).
Side effects: writes and reads the audit record, reads the log, through what it is handed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from higgins import events
from higgins.bus.base import Bus
from higgins.processors import audit
from higgins.store.base import AuditLog

BATCH = 256  # events the audit takes at once when they are queued (as the fold does)


def record(store: AuditLog, batch: Sequence[events.Envelope]) -> None:
    """The batch's entries in one write (one transaction, or every write sent before any is
    awaited). At-least-once: a redelivered batch writes the same rows (keyed by event id)."""
    entries = [audit.entry(envelope) for envelope in batch if audit.audited(envelope)]
    if entries:
        store.record_audit(entries)


def envelopes(bus: Bus, entries: Iterable[audit.Entry]) -> Iterator[events.Envelope]:
    """The log's events the entries record, whole, in the entries' order (each subject's
    history read once)."""
    histories: dict[str, dict[str, events.Envelope]] = {}
    for entry in entries:
        subject = audit.subject_of(entry["target"])
        if subject not in histories:
            histories[subject] = {e["id"]: e for e in bus.history(subject)}
        if entry["id"] in histories[subject]:
            yield histories[subject][entry["id"]]


def recorded(store: AuditLog, query: audit.Query, page: int = 1000) -> Iterator[audit.Entry]:
    """Every entry the query matches, oldest first, read a page at a time."""
    marker: str | None = None
    while True:
        found = store.audit_entries(query, marker, page, oldest_first=True)
        yield from found
        if len(found) < page:
            return
        marker = found[-1]["id"]
