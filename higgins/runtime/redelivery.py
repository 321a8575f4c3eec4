"""WIRING: `higgins replay --redeliver`: the events of a time range sent out again, to one
webhook subscription (made due: the running dispatchers deliver them) or as Telemetry
notifications (sent from here, with the message ids they had: consumers can drop repeats).
The range is read from the audit record; each event whole from the log."""

from __future__ import annotations

import time
from collections.abc import Iterator

from higgins import auditing, dispatching, events
from higgins.bus.base import Bus
from higgins.notifying import Notifier
from higgins.processors import audit
from higgins.settings import NotificationSettings
from higgins.store.base import Store

BATCH = 256  # events per notifier batch


def logged(bus: Bus, store: Store, since: str, until: str,
           project_id: str | None = None) -> Iterator[events.Envelope]:
    """The log's events stamped in [since, until] (of one project, or all), oldest first."""
    query = audit.Query(project_id=project_id, since=audit.parse_time("since", since),
                        until=audit.parse_time("until", until))
    return auditing.envelopes(bus, auditing.recorded(store, query))


def to_subscription(bus: Bus, store: Store, subscription_id: str, since: str,
                    until: str) -> int:
    """Make the range due for the subscription; how many deliveries."""
    subscription = store.load_subscription(subscription_id)
    if subscription is None:
        raise LookupError(f"no subscription {subscription_id}")
    found = logged(bus, store, since, until, subscription.project_id)
    return dispatching.redeliver(store, subscription, list(found), time.time())


def as_notifications(bus: Bus, store: Store, given: NotificationSettings, since: str,
                     until: str) -> int:
    """Send the range's notifications again; how many events were gone through."""
    if not given.url:
        raise LookupError("notifications go nowhere: set [notifications] url")
    from higgins.bus.notifications import NotificationPublisher

    publisher = NotificationPublisher(given.url, given.exchange, given.topics,
                                      given.publisher_id, given.durable)
    notifier, batch, count = Notifier(bus, store, publisher.send), [], 0
    try:
        for envelope in logged(bus, store, since, until):
            batch.append(envelope)
            if len(batch) == BATCH:
                notifier.handle(batch)
                count, batch = count + len(batch), []
        notifier.handle(batch)
        return count + len(batch)
    finally:
        publisher.close()
