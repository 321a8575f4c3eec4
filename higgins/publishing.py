"""SHARED (below the edges, above the ports): new ids and times, and a pure outcome sealed
(ids derived from its cause) and published in one atomic append through the Bus it is handed."""

from __future__ import annotations

import datetime
import uuid
from collections import Counter

from higgins import events
from higgins.bus.base import Bus, command_stream
from higgins.processors.model import Outcome


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


def new_id() -> str:
    return str(uuid.uuid4())


def publish_outcome(bus: Bus, cause: events.Envelope, outcome: Outcome) -> list[events.Envelope]:
    """Effects get ids derived from the cause, so handling the cause twice records them once."""
    if not outcome.events and not outcome.commands:
        return []
    counts: Counter[str] = Counter()
    now = utc_now()

    def seal(draft: events.Draft | events.CommandDraft) -> events.Envelope:
        kind = str(draft.type)
        counts[kind] += 1
        event_id = events.derived_id(cause["id"], counts[kind], kind)
        return events.seal(draft, event_id=event_id, time=now, cause=cause)

    sealed_events = [seal(d) for d in outcome.events]
    sealed_commands = [(command_stream(c.host), seal(c)) for c in outcome.commands]
    return bus.publish(sealed_events, sealed_commands)
