"""SHARED (below the wiring): the audit processor's batch handler, a consumer of the event log
that appends each audited event's entry (processors/audit.py) to the store's audit record.
Side effects: writes the audit record through the store it is handed."""

from __future__ import annotations

from collections.abc import Sequence

from higgins import events
from higgins.processors import audit
from higgins.store.base import AuditLog

BATCH = 256  # events the audit takes at once when they are queued (as the fold does)


def record(store: AuditLog, batch: Sequence[events.Envelope]) -> None:
    """The batch's entries in one write (one transaction, or every write sent before any is
    awaited). At-least-once: a redelivered batch writes the same rows (keyed by event id)."""
    entries = [audit.entry(envelope) for envelope in batch if audit.audited(envelope)]
    if entries:
        store.record_audit(entries)
