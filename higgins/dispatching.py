"""SHARED (below the wiring): the webhook dispatcher, a consumer of the event log. Each event
goes to the subscriptions of its own project that want it (processors/webhooks.py), tried at
once; a failed try is kept in the store as a pending delivery, due again after the next step
of the retry schedule, and a loop tries what is due. Side effects: reads views and
subscriptions, writes deliveries and attempts, sends HTTP through the `post` it is handed."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from higgins import events
from higgins.faults import ServiceUnavailable
from higgins.processors import webhooks
from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Subscription
from higgins.settings import WebhookSettings
from higgins.store.base import Store

LOG = logging.getLogger(__name__)
# (url, payload, headers, timeout, allowed networks) -> (status, error)
Post = Callable[[str, bytes, Mapping[str, str], float, Sequence[str]],
                tuple[int | None, str | None]]
CLAIM = 60.0  # seconds a claimed retry is held by its dispatcher before another may take it
DUE_PAGE = 100


class Dispatcher:
    def __init__(self, store: Store, settings: WebhookSettings, post: Post,
                 clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random) -> None:
        self._store = store
        self._settings = settings
        self._post = post
        self._clock = clock
        self._jitter = jitter
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="webhooks")

    def handle(self, batch: Sequence[events.Envelope]) -> None:
        """Try every delivery the batch makes; return once each is delivered or kept pending
        (the batch is acknowledged after: a crash before that delivers it again)."""
        work = [pair for envelope in batch for pair in self._deliveries(envelope, {})]
        for future in [self._pool.submit(self.attempt, sub, d) for sub, d in work]:
            future.result()

    def _deliveries(self, envelope: events.Envelope, subscriptions: dict[str, list[Subscription]],
                    ) -> list[tuple[Subscription, Delivery]]:
        project = envelope["project_id"]
        if not project:
            return []  # a host's own report: no project's business, nor any subscription's
        if project not in subscriptions:
            subscriptions[project] = self._store.find_subscriptions(project)
        found = []
        for subscription in subscriptions[project]:
            container = None
            if (webhooks.needs_container(subscription)
                    and events.subject_kind(envelope["subject"]) == "container"):
                container = self._store.load_container(envelope["subject"])
            if not webhooks.wants(subscription, envelope, container):
                continue
            known = self._store.load_delivery(subscription.uuid, envelope["id"])
            if known is None:
                found.append((subscription, Delivery(subscription.uuid, envelope)))
            elif known.state is DeliveryState.PENDING and known.attempts == 0:
                found.append((subscription, known))  # asked for again (a redelivery)
        return found

    def attempt(self, subscription: Subscription, delivery: Delivery) -> Delivery:
        """One try: sign, POST, record the attempt and what the delivery is now; a delivery
        whose schedule ran out disables its subscription, with the reason."""
        now = self._clock()
        payload = webhooks.body(delivery.event)
        headers = webhooks.headers(subscription, delivery.event, now, payload)
        started = time.monotonic()
        status, error = self._post(subscription.url, payload, headers, self._settings.timeout,
                                   self._settings.allowed_networks)
        attempt = Attempt(subscription.uuid, delivery.event_id, delivery.event["type"],
                          delivery.attempts + 1, now, round((time.monotonic() - started) * 1000, 1),
                          status, error)
        self._store.record_attempt(attempt)
        after = webhooks.after(delivery, attempt, self._settings.retry_schedule, self._jitter())
        self._store.save_delivery(after)
        if after.state is DeliveryState.FAILED:
            self._disable(subscription.uuid, webhooks.give_up_reason(after))
        elif not attempt.succeeded:
            LOG.info("webhook %s: %s for event %s; retry %d in %.0f s", subscription.uuid,
                     error, delivery.event_id, after.attempts, after.next_at - now)
        return after

    def _disable(self, uuid: str, reason: str) -> None:
        current = self._store.load_subscription(uuid)
        if current is not None and current.enabled:
            LOG.warning("webhook subscription %s %s", uuid, reason)
            self._store.save_subscription(current.evolve(enabled=False, disabled_reason=reason))

    def retry_due(self) -> int:
        """Claim and try the pending deliveries that are due (one page); how many were tried.
        A delivery of a subscription deleted or disabled since is given up."""
        now = self._clock()
        claimed = [d for d in self._store.due_deliveries(now, DUE_PAGE)
                   if self._store.claim_delivery(d, now + CLAIM)]
        futures = []
        for delivery in claimed:
            subscription = self._store.load_subscription(delivery.subscription)
            if subscription is None or not subscription.enabled:
                self._store.save_delivery(replace(delivery, state=DeliveryState.FAILED,
                                                  last_error="the subscription is disabled"))
                continue
            futures.append(self._pool.submit(self.attempt, subscription,
                                             replace(delivery, next_at=now + CLAIM)))
        for future in futures:
            future.result()
        return len(claimed)

    def retry_loop(self, stop: threading.Event) -> None:
        """Every retry_poll seconds, what is due, until `stop`."""
        while not stop.wait(self._settings.retry_poll):
            try:
                while self.retry_due() == DUE_PAGE and not stop.is_set():
                    pass
            except ServiceUnavailable as error:
                LOG.warning("cannot retry webhook deliveries now (%s); next round", error)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def redeliver(store: Store, subscription: Subscription, found: Sequence[events.Envelope],
              now: float) -> int:
    """Make the events due now for the subscription (manual redelivery), whatever their
    deliveries did before; the dispatchers' retry loops send them. Events it does not want
    (another project's, other types, filtered out) are skipped. How many were made due."""
    count = 0
    for envelope in found:
        container = None
        if webhooks.needs_container(subscription):
            container = store.load_container(envelope["subject"])
        if webhooks.wants(subscription, envelope, container):
            store.save_delivery(Delivery(subscription.uuid, envelope, next_at=now))
            count += 1
    return count
