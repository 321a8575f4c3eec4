"""EDGE: consuming a Kafka topic for the Kafka bus: one faust-streaming app per consumer group
(the app id is the group), whose one agent takes the topic in batches and hands each to the
synchronous handler. Side effects: a Kafka consumer group membership, offset commits.

At-least-once, in each subject's order:
  - the agent takes up to `max_batch` records at once (what is there, `_WITHIN` seconds at
    most), splits them by subject into `concurrency` lanes (a subject always in the same lane,
    in the order of its partition), hands the lanes to the handler side by side in threads,
    and only once every lane returned lets the stream acknowledge the batch;
  - faust commits an offset only when every record before it in its partition was
    acknowledged, every `_COMMIT_SECONDS` and when partitions are revoked or the app stops;
    a crash in between delivers the unacknowledged and uncommitted records again;
  - a lane whose handler keeps failing for a reason other than a service being away is
    retried one record at a time, and the record that still fails is dead-lettered to
    `<ns>.dead-letters` (with the group and error in its headers), so the stream goes on;
  - two processes of a group share the topic's partitions; when one dies, Kafka gives its
    partitions to the others after the session timeout (`_SESSION_SECONDS`)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Sequence
from typing import Any

import faust

from higgins import events as ev
from higgins.bus.base import BatchHandler, partition_of
from higgins.bus.failures import TRANSIENT
from higgins.bus.kafka import METADATA_SECONDS
from higgins.bus.workers import handle_until_done
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

_WITHIN = 0.005  # seconds a batch waits for more records once one is there
_COMMIT_SECONDS = 0.5
_SESSION_SECONDS = 10.0
_HEARTBEAT_SECONDS = 1.0
_POISON_TRIES = 5
_START_SECONDS = 60.0


def consume(bootstrap: str, topic: str, group: str, handler: BatchHandler,
            stop: threading.Event, concurrency: int = 1, max_batch: int = 1,
            dead_letters: str = "") -> None:
    """Run the group's faust app in this thread until `stop` (see the module's docstring); an
    app that crashes (Kafka went away, and faust gives up on it) is started afresh."""
    delay = 0.5
    while not stop.is_set():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(_run(bootstrap, topic, group, handler, stop, concurrency,
                                         max(1, max_batch), dead_letters))
        except Exception as error:  # noqa: BLE001 - start again on any loss of Kafka
            LOG.warning("the %s consumer lost Kafka (%s); starting again", group, error)
        finally:
            loop.close()
        stop.wait(delay)
        delay = min(delay * 2, 5.0)


def _app(bootstrap: str, group: str, datadir: str) -> faust.App:
    return faust.App(
        group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
        datadir=datadir,  # (faust makes one even with tables in memory; default: the cwd)
        # the bus creates its topics itself (faust ignores a topic missing when it starts)
        autodiscover=False, topic_allow_declare=False, topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=_COMMIT_SECONDS, broker_session_timeout=_SESSION_SECONDS,
        broker_heartbeat_interval=_HEARTBEAT_SECONDS, stream_wait_empty=False,
        consumer_metadata_max_age_ms=int(METADATA_SECONDS * 1000),
        producer_acks=-1, producer_linger=0.0)


async def _run(bootstrap: str, topic: str, group: str, handler: BatchHandler,
               stop: threading.Event, concurrency: int, max_batch: int,
               dead_letters: str) -> None:
    datadir = tempfile.mkdtemp(prefix=f"higgins-faust-{group}-")
    app = _app(bootstrap, group, datadir)
    source = app.topic(topic, key_type=bytes, value_type=bytes, value_serializer="raw",
                       key_serializer="raw")
    dead = app.topic(dead_letters, value_serializer="raw") if dead_letters else None
    loop = asyncio.get_running_loop()

    async def lane(envelopes: list[Envelope]) -> bool:
        """Handle a lane: False when stopped before it was (nothing of it is acknowledged)."""
        failed = await loop.run_in_executor(None, _handle_lane, handler, envelopes, stop)
        if failed is None:
            return False
        for envelope, error in failed:
            LOG.error("dead-lettered %s %s after %d failed tries", envelope["type"],
                      envelope["id"], _POISON_TRIES,
                      extra={"event_id": envelope["id"], "uuid": envelope["subject"]})
            if dead is not None:
                await dead.send(value=json.dumps(envelope).encode(),
                                headers={"group": group.encode(), "error": error.encode()})
        return True

    @app.agent(source, name=f"{group}.handle")
    async def handle(stream: Any) -> None:
        # noack_take: the batch is acknowledged here, after its handling, never by faust on
        # its own (take() acknowledges in a finally, even when the agent is cancelled)
        async for taken in stream.noack_take(max_batch, within=_WITHIN):
            lanes: list[list[Envelope]] = [[] for _ in range(concurrency)]
            for event in taken:
                envelope = _parse(event.value)
                if envelope is not None:
                    lanes[partition_of(envelope["subject"], concurrency)].append(envelope)
                elif dead is not None:
                    await dead.send(value=event.value, headers={
                        "group": group.encode(), "error": b"not a valid envelope"})
            done = await asyncio.gather(*(lane(envelopes) for envelopes in lanes if envelopes))
            if not all(done):
                return  # stopping: what was not handled is delivered again
            for event in taken:
                await stream.ack(event)

    try:
        # faust's start can hang rather than fail (a broker that refuses the group's settings)
        await asyncio.wait_for(app.start(), _START_SECONDS)
        LOG.info("consuming %s as group %s", topic, group)
        while not stop.is_set() and not app.should_stop and not app._crashed.is_set():
            await asyncio.sleep(0.05)
        if app._crashed.is_set() and not stop.is_set():
            LOG.warning("the %s consumer crashed (%s); starting again", group,
                        app.crash_reason)
    finally:
        await app.stop()
        shutil.rmtree(datadir, ignore_errors=True)


def _parse(value: bytes) -> Envelope | None:
    try:
        envelope: Envelope = json.loads(value)
        ev.validate(envelope)
    except (ValueError, ev.InvalidEvent) as error:
        LOG.error("dead-lettered a record that is not a valid envelope (%s): %.200r", error,
                  value)
        return None
    return envelope


def _handle_lane(handler: BatchHandler, envelopes: list[Envelope],
                 stop: threading.Event) -> list[tuple[Envelope, str]] | None:
    """Handle one lane (retrying while services are away): the envelopes that are poison,
    each with its error, when the lane keeps failing for another reason; None when stopped
    before it was handled."""
    handled = _handled(handler, envelopes, stop)
    if handled is None:
        return None
    if handled:
        return []
    if len(envelopes) == 1:
        return [(envelopes[0], "the handler kept failing")]
    failed: list[tuple[Envelope, str]] = []
    for one in envelopes:
        alone = _handle_lane(handler, [one], stop)
        if alone is None:
            return None
        failed += alone
    return failed


def _handled(handler: BatchHandler, envelopes: Sequence[Envelope],
             stop: threading.Event) -> bool | None:
    """True: handled; False: poison; None: stopped while retrying (left unacknowledged)."""
    poisoned = False

    def gives_up(error: Exception, tries: int) -> bool:
        nonlocal poisoned
        poisoned = tries >= _POISON_TRIES and not isinstance(error, TRANSIENT)
        return poisoned

    if handle_until_done(handler, envelopes, stop, gives_up):
        return True
    return False if poisoned else None
