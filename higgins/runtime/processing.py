"""WIRING: the processors as bus consumers: consume -> load current state -> pure function ->
publish the outcome (ids derived from the cause) -> the bus commits the position."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Sequence

from higgins import auditing, events, folding, publishing, sending, settling
from higgins.bus.base import EVENTS, BatchHandler, Bus, each
from higgins.dispatching import Dispatcher
from higgins.faults import ServiceUnavailable
from higgins.notifying import Notifier
from higgins.processors import (
    capsules,
    healing,
    hosts,
    images,
    placement,
    quotas,
    restarts,
    scheduling,
)
from higgins.processors.model import ContainerState, Outcome
from higgins.runtime import claiming
from higgins.settings import NotificationSettings, Settings, WebhookSettings
from higgins.store.base import Store

LOG = logging.getLogger(__name__)
_ROUTINE = frozenset({str(events.EventType.HOST_REPORTED)})
FOLD_BATCH = 256  # events the fold takes at once when they are queued (no waiting for more)


def event_groups(notifications: NotificationSettings) -> tuple[str, ...]:
    """The event consumers a deployment runs (each a consumer group on the bus, whose queues
    must exist before anything is published): the notifier only when notifications go
    somewhere."""
    return (*Processors.GROUPS, *(("notifier",) if notifications.url else ()))


class Processors:
    """fold: every event into the views. scheduler: place creates, route actions to hosts.
    audit: append each event's entry to the audit record (GET /v1/events).
    webhooks: deliver events to subscriptions (and retry what is due). notifier: Telemetry
    notifications (when configured; the audit-period exists too). quotas: settle quota
    allocations against the views every `settle_interval` seconds. hosts: declare down the
    hosts silent for `service_down_time`, their containers Unknown, and ask to heal those
    due ([scheduler] heal_after). log: what the bus needs
    done by a processor (RabbitMQ: number and record what publishers sent; nothing on the
    embedded bus). Some process must run it: `all` does."""

    GROUPS = ("fold", "scheduler", "audit", "webhooks")  # event consumers always there
    NAMES = (*GROUPS, "notifier", "quotas", "hosts", "log")

    def __init__(self, bus: Bus, store: Store, service_down_time: float = 60.0,
                 quota: quotas.Defaults | None = None,
                 settle_interval: float = 60.0,
                 webhooks: WebhookSettings | None = None,
                 notifications: NotificationSettings | None = None,
                 scheduler: placement.Config = placement.DEFAULT,
                 backoff: restarts.Backoff = restarts.DEFAULT) -> None:
        self.bus = bus
        self.store = store
        self.service_down_time = service_down_time  # a host silent this long gets nothing new
        self.scheduler = scheduler  # [scheduler]: filters, weighers, allocation ratios
        self.backoff = backoff  # [restart]: the delays of restarts a restart policy calls for
        self.quota = quota or quotas.Defaults()
        self.settle_interval = settle_interval
        self._folds = folding.Folds(bus, store)
        self.dispatcher = Dispatcher(store, webhooks or WebhookSettings(), sending.post)
        self.notifications = notifications or NotificationSettings()
        self.notifier: Notifier | None = None
        if self.notifications.url:
            from higgins.bus.notifications import NotificationPublisher

            given = self.notifications
            publisher = NotificationPublisher(given.url, given.exchange, given.topics,
                                              given.publisher_id, given.durable)
            self.notifier = Notifier(bus, store, publisher.send)

    @classmethod
    def configured(cls, bus: Bus, store: Store, settings: Settings) -> Processors:
        return cls(bus, store, settings.api.service_down_time, settings.quota,
                   settings.quota_settle_interval, settings.webhooks, settings.notifications,
                   settings.scheduler, settings.restart)

    def fold(self, batch: Sequence[events.Envelope]) -> None:
        """A batch into the views: folded in memory, each subject's view written once."""
        for envelope in batch:
            # an agent's heartbeat every report_interval is routine: not for the console
            level = logging.DEBUG if envelope["type"] in _ROUTINE else logging.INFO
            LOG.log(level, "event %s", envelope["type"], extra={
                "uuid": envelope["subject"], "event_id": envelope["id"],
                "request_id": envelope["request_id"], "event_type": envelope["type"]})
        self._folds.batch(batch)

    def schedule(self, envelope: events.Envelope) -> None:
        kind = events.subject_kind(envelope["subject"])
        if kind == "host":
            return
        if kind == "image":
            outcome = images.route(self._folds.image(envelope), envelope)
        elif kind == "capsule":
            outcome = self._schedule_capsule(envelope)
        else:
            outcome = self._schedule_container(envelope)
        publishing.publish_outcome(self.bus, envelope, outcome)

    def _schedule_container(self, envelope: events.Envelope) -> Outcome:
        """A create placed with its claim written first (runtime/claiming.py); a deleted
        container's claim given back, a resized one's set to its new limits; the rest routed
        to the container's host."""
        state = self._folds.container(envelope)
        claiming.release(self.store, scheduling.release_of(state, envelope))
        claiming.resize(self.store, envelope["subject"], scheduling.resize_of(state, envelope))
        if envelope["type"] not in (events.EventType.CREATE_REQUESTED,
                                    events.EventType.HEAL_REQUESTED):
            return scheduling.schedule(state, (), envelope, backoff=self.backoff)
        hosts = self.store.list_hosts()
        return claiming.placed(self.store, hosts, lambda ledgers: scheduling.schedule(
            state, hosts, envelope, self.service_down_time, self.scheduler, ledgers),
            claiming.container_failure(envelope["subject"]))

    def _schedule_capsule(self, envelope: events.Envelope) -> Outcome:
        """A capsule placed as one claim (written first); its claim given back when it is
        asked to go."""
        capsule = self._folds.capsule(envelope)
        claiming.release(self.store, capsules.release_of(capsule, envelope))
        if envelope["type"] != events.EventType.CAPSULE_CREATE_REQUESTED:
            return capsules.schedule(capsule, (), envelope)
        hosts = self.store.list_hosts()
        return claiming.placed(self.store, hosts, lambda ledgers: capsules.schedule(
            capsule, hosts, envelope, self.service_down_time, self.scheduler, ledgers),
            claiming.capsule_failure(envelope["subject"]))

    def settle_quotas(self, stop: threading.Event) -> None:
        """Every settle_interval: expire reservations whose create never reached the log and
        settle the rest against the views (higgins/settling.py), until `stop`."""
        while not stop.wait(self.settle_interval):
            try:
                settling.settle_all(self.store, self.quota, time.time())
            except ServiceUnavailable as error:
                LOG.warning("cannot settle quotas now (%s); next round", error)

    def watch_hosts(self, stop: threading.Event) -> None:
        """Every few seconds until `stop`: declare the silent hosts down, and heal what is
        due (more than one process may: the effects' ids derive from what was found, so the
        log records them once)."""
        interval = min(10.0, max(0.2, self.service_down_time / 4))
        while not stop.wait(interval):
            try:
                self.declare_silent_hosts()
                self.heal_due()
            except ServiceUnavailable as error:
                LOG.warning("cannot watch the hosts now (%s); next round", error)

    def declare_silent_hosts(self) -> list[str]:
        """Publish, for each host silent for `service_down_time`, its containers Unknown and
        then the host down; the names of those hosts."""
        now = publishing.utc_now()
        silent = hosts.silent(self.store.list_hosts(), now, self.service_down_time)
        if not silent:
            return []
        containers = {state.uuid: state for state in self.store.find_containers()}
        for host in silent:
            finding = f"{host.name}/{host.reported_at}"
            unreachable, down = hosts.down_outcome(host, list(containers.values()))
            sealed = [_found(draft, finding, now, containers[draft.subject])
                      for draft in unreachable]
            if sealed:
                self.bus.publish(sealed)  # the containers first: the agent, back, sees them
            self.bus.publish([_found(down, finding, now, None)])
            LOG.warning("host %s is down: no report since %s; %d containers Unknown",
                        host.name, host.reported_at, len(sealed))
        return [host.name for host in silent]

    def heal_due(self) -> list[str]:
        """Ask to heal each container due (processors/healing.py: Unknown on a host down for
        [scheduler] heal_after, or forced down, with a restart policy or auto_heal); their
        uuids. A down host is read from its log first: one that reported since heals nothing
        (and the fold voids a heal that comes after its agent reported the container)."""
        now = publishing.utc_now()
        listed = self.store.list_hosts()
        if all(host.down_since is None for host in listed):
            return []
        current = [folding.current_host(self.bus, self.store, host.name)
                   if host.down_since is not None else host for host in listed]
        containers = {state.uuid: state for state in self.store.find_containers()}
        heals = healing.due([host for host in current if host is not None],
                            list(containers.values()), now, self.scheduler.heal_after)
        if heals:
            self.bus.publish([_found(heal.draft, f"heal/{heal.finding}", now,
                                     containers[heal.draft.subject]) for heal in heals])
        for heal in heals:
            LOG.warning("healing: %s", heal.draft.data["reason"],
                        extra={"uuid": heal.draft.subject})
        return [heal.draft.subject for heal in heals]

    def run(self, stop: threading.Event, names: tuple[str, ...] = NAMES,
            concurrency: int = 1) -> list[threading.Thread]:
        """Consume the event stream with `concurrency` workers per processor (one container's
        events are still handled one at a time, in order)."""
        handlers: dict[str, tuple[BatchHandler, int]] = {
            "fold": (self.fold, FOLD_BATCH), "scheduler": (each(self.schedule), 1),
            "audit": (functools.partial(auditing.record, self.store), auditing.BATCH),
            "webhooks": (self.dispatcher.handle, 64)}
        if self.notifier is not None:
            handlers["notifier"] = (self.notifier.handle, 256)
        threads = [
            threading.Thread(target=self.bus.consume,
                             args=(name, EVENTS, handlers[name][0], stop, concurrency,
                                   handlers[name][1]),
                             daemon=True, name=f"processor-{name}")
            for name in names if name in handlers
        ]
        if "quotas" in names:
            threads.append(threading.Thread(target=self.settle_quotas, args=(stop,),
                                            daemon=True, name="processor-quotas"))
        if "hosts" in names:
            threads.append(threading.Thread(target=self.watch_hosts, args=(stop,),
                                            daemon=True, name="processor-hosts"))
        if "webhooks" in names:
            threads.append(threading.Thread(target=self.dispatcher.retry_loop, args=(stop,),
                                            daemon=True, name="processor-webhook-retries"))
        if "notifier" in names and self.notifier is not None:
            threads.append(threading.Thread(
                target=self.notifier.audit_periods,
                args=(stop, self.notifications.exists_interval), daemon=True,
                name="processor-audit-periods"))
        for thread in threads:
            thread.start()
        if "log" in names:
            threads += self.bus.serve(stop, max(concurrency, 8))  # started by the bus
        return threads


# namespace of the ids of a down finding's events: one per (host, last report, subject), so
# watchers that find the same silence publish the same events, which the log records once
_HOST_DOWN = uuid.UUID("6f1d2a4e-3c1b-4f0e-9a57-2b8d7c6e5f41")


def _found(draft: events.Draft, finding: str, now: str,
           owner: ContainerState | None) -> events.Envelope:
    """An event of a down finding, attributed to the container's owner (its audit, webhooks
    and notifications go to its project), to nobody for the host's."""
    event_id = str(uuid.uuid5(_HOST_DOWN, f"{finding}/{draft.subject}"))
    cause = events.Envelope(
        id=event_id, type=str(events.EventType.HOST_DOWN), subject="", seq=0, time="",
        project_id=owner.project_id if owner else "", user_id=owner.user_id if owner else "",
        request_id=f"req-{event_id}", data={})
    return events.seal(draft, event_id=event_id, time=now, cause=cause)
