"""EDGE: the Kafka bus: the retained `<ns>.events` topic is the event log every consumer group
reads and replays; the Cassandra event log (bus/cassandra_log.py) numbers each subject's events
and is the per-subject index Kafka has no place for (history, recorded-by-id).
Side effects: Kafka producers, consumers and topic creation; Cassandra reads and writes.

URL: kafka://host:port[,host:port]/namespace; every topic and group name starts with the
namespace (default `higgins`), so deployments can share a cluster.

publish(events, commands), in this order:
  1. the events go, as one record per partition (the subject's partition, bus/amqp's hash), to
     `<ns>.intake`, from an idempotent producer with acks=all: once acknowledged they are on
     every in-sync replica, so nothing acknowledged can be lost from here on;
  2. that partition's sequencer (`serve`, run by `higgins processor`: the member of the
     `<ns>.sequencer` group Kafka assigned the partition to, holding its log lease, a new
     epoch for every assignment) numbers them, appends them to the Cassandra log, produces each
     recorded envelope to the same partition of `<ns>.events` (keyed by subject: one
     container's events in order), and only then commits the intake offset;
  3. publish returns the recorded envelopes (with their seq), read from the log by id, then
     sends each command to its host's topic `<ns>.commands.<host>` (keyed by subject), acked.
A sequencer that dies before committing leaves the intake records to the partition's next
owner, which finds what was recorded already (by id) and produces it again: consumers are
idempotent by (subject, seq), so the duplicate in the topic changes nothing.

The sequencer and publisher use aiokafka directly: the sequencer must take the partition's log
lease on every assignment and produce before it commits, which faust's agents (acked by the
stream, committed by faust on its own timer) do not let a caller order. The event consumer
groups are faust apps (bus/kafka_consuming.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from higgins import events as ev
from higgins.bus.base import EVENTS, BatchHandler, BusUnavailable, partition_of, validate_all
from higgins.bus.cassandra_log import CassandraLog, LogWriter
from higgins.bus.kafka_replies import CORRELATION, REPLY_TO, Replies
from higgins.events import Envelope

LOG = logging.getLogger(__name__)

COMMAND_PREFIX = "commands."
_PUBLISH_DEADLINE_SECONDS = 30.0
_CATCH_UP_SECONDS = 10.0
_SEQUENCER_BATCH = 256  # intake records of one partition recorded in one append
# How old a consumer's cluster metadata may get (aiokafka's default: 5 minutes). A member
# that joins while the broker does not list the topic yet (a broker just restarted, still
# loading its partitions) gets none of its partitions, and the group rebalances only once a
# member's metadata shows the topic: this bounds how long the group stays idle.
METADATA_SECONDS = 5.0
_RETAINED = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
# How long a publisher waits for its answer before it looks in the log itself (the answer
# may be lost with its sequencer, or the partition may be moving to another).
_ANSWER_PATIENCE_SECONDS = 0.5
T = TypeVar("T")
# (topic, partition, key, value) or with headers: (..., [(name, value)])
Record = tuple[str, int | None, bytes | None, bytes] | tuple[
    str, int | None, bytes | None, bytes, list[tuple[str, bytes]]]


def parse_url(url: str) -> tuple[str, str]:
    """(bootstrap servers, namespace) of kafka://host:port[,host:port]/namespace."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "kafka" or not parsed.netloc:
        raise ValueError(f"not a Kafka URL: {url!r} (kafka://host:port/namespace)")
    namespace = parsed.path.strip("/") or "higgins"
    if not all(c.isalnum() or c in "._-" for c in namespace):
        raise ValueError(f"a Kafka namespace is letters, digits, '.', '_' and '-': {namespace!r}")
    return parsed.netloc, namespace


def delete_namespace(bootstrap: str, namespace: str) -> list[str]:
    """Delete every topic of a namespace (a deployment's whole log: for tests, benchmarks and
    an operator tearing a deployment down); the topics deleted."""
    return asyncio.run(_delete_namespace(bootstrap, namespace))


async def _delete_namespace(bootstrap: str, namespace: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            await admin.delete_topics(mine)
        return mine
    finally:
        await admin.close()


class Loop:
    """One asyncio loop in a daemon thread: where a process's Kafka clients live, called from
    the synchronous rest of Higgins."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True, name=name)
        self._thread.start()

    def run(self, work: Awaitable[T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(_awaited(work), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.loop.close()


async def _awaited(work: Awaitable[T]) -> T:
    return await work


class Names:
    """The topic and group names of one namespace."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.intake = f"{namespace}.intake"
        self.events = f"{namespace}.{EVENTS}"
        self.dead = f"{namespace}.dead-letters"
        self.sequencer = f"{namespace}.sequencer"

    def commands(self, host: str) -> str:
        return f"{self.namespace}.{COMMAND_PREFIX}{host}"

    def group(self, consumer: str) -> str:
        return f"{self.namespace}.{consumer}"


class KafkaBus:
    def __init__(self, url: str, log: CassandraLog, partitions: int = 8) -> None:
        self.url = url
        self.bootstrap, namespace = parse_url(url)
        self.names = Names(namespace)
        self.log = log
        self.partitions = partitions
        self._replies: Replies | None = None  # made at the first publish of events
        self._starting = threading.Lock()
        self._renewing = threading.Lock()
        self._loop = Loop(f"kafka-{namespace}")
        try:
            self._loop.run(self._create_topics(), _PUBLISH_DEADLINE_SECONDS)
            self._producer = self._loop.run(self._start_producer(), _PUBLISH_DEADLINE_SECONDS)
        except (KafkaError, OSError, concurrent.futures.TimeoutError) as error:
            self._loop.close()
            log.close()
            raise BusUnavailable(f"Kafka at {self.bootstrap} is unavailable: {error}") from error
        except ValueError:  # topics made for another partition count
            self._loop.close()
            log.close()
            raise

    async def _create_topics(self, *more: NewTopic) -> None:
        """The intake and the retained events topic, `partitions` each, before any publish:
        their partition count is the bus's (a subject's partition must not move)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            wanted = [NewTopic(self.names.intake, self.partitions, 1),
                      NewTopic(self.names.events, self.partitions, 1, topic_configs=_RETAINED),
                      NewTopic(self.names.dead, 1, 1, topic_configs=_RETAINED), *more]
            existing = set(await admin.list_topics())
            for topic in wanted:
                if topic.name not in existing:
                    try:
                        await admin.create_topics([topic])
                    except TopicAlreadyExistsError:
                        pass  # another process made it meanwhile
            for _ in range(100):  # a topic just made may show no partitions for a moment
                described = await admin.describe_topics([self.names.intake, self.names.events])
                if all(topic["partitions"] for topic in described):
                    break
                await asyncio.sleep(0.1)
            for topic in described:
                count = len(topic["partitions"])
                if count != self.partitions:
                    raise ValueError(
                        f"topic {topic['topic']} has {count} partitions, [bus] partitions "
                        f"says {self.partitions}: they must agree (a subject's partition would "
                        f"move)")
        finally:
            await admin.close()

    # -- publishing ----------------------------------------------------------------------

    async def _start_producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=0,
                                    request_timeout_ms=int(_PUBLISH_DEADLINE_SECONDS * 1000))
        await producer.start()
        return producer

    async def _produce(self, records: Sequence[Record]) -> None:
        """Send (topic, partition, key, value[, headers]) records and wait until each is
        acknowledged."""
        producer = self._producer
        sent = [await producer.send(record[0], record[3], key=record[2], partition=record[1],
                                    headers=record[4] if len(record) > 4 else None)
                for record in records]
        await asyncio.gather(*sent)

    def _send(self, records: Sequence[Record]) -> None:
        try:
            self._loop.run(self._produce(records), _PUBLISH_DEADLINE_SECONDS)
        except (KafkaError, OSError, concurrent.futures.TimeoutError) as error:
            self._renew_producer(error)
            raise BusUnavailable(f"Kafka is unavailable: {error!r}") from error

    def _renew_producer(self, error: BaseException) -> None:
        """Replace a producer whose send failed or timed out: after a broker restart aiokafka's
        idempotent producer can stay stuck on what it had in flight (the next publish, retried
        by its caller, gets the new one). Best effort: if Kafka is still away, the old one
        stays."""
        if not isinstance(error, concurrent.futures.TimeoutError | KafkaError):
            return
        with self._renewing:
            old = self._producer
            try:
                self._producer = self._loop.run(self._start_producer(), 10)
            except (KafkaError, OSError, concurrent.futures.TimeoutError):
                return
            LOG.warning("replaced the Kafka producer after %r", error)
            try:
                self._loop.run(old.stop(), 5)
            except (KafkaError, OSError, concurrent.futures.TimeoutError):
                pass  # a stuck producer is dropped all the same

    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        validate_all(events, commands)
        recorded = self._record(events) if events else []
        if commands:
            self._send([(self.names.commands(stream.removeprefix(COMMAND_PREFIX)), None,
                         command["subject"].encode(), json.dumps(command).encode())
                        for stream, command in commands])
        return recorded

    def _record(self, events: Sequence[Envelope]) -> list[Envelope]:
        """Send the events to their partitions' sequencers (one record per partition, in
        order) and wait for their answers; what is not answered in time is looked for in the
        log until it is there."""
        by_partition: dict[int, list[Envelope]] = {}
        for envelope in events:
            by_partition.setdefault(partition_of(envelope["subject"], self.partitions),
                                    []).append(envelope)
        try:
            with self._starting:  # one reply topic per process, made at its first publish
                if self._replies is None:
                    replies = Replies(self.bootstrap, self.names.namespace)
                    self._loop.run(replies.start(), _PUBLISH_DEADLINE_SECONDS)
                    self._replies = replies
            answered = self._loop.run(self._ask(by_partition), _PUBLISH_DEADLINE_SECONDS)
        except (KafkaError, OSError, concurrent.futures.TimeoutError) as error:
            self._renew_producer(error)
            raise BusUnavailable(f"Kafka is unavailable: {error!r}") from error
        if len(answered) == len(events):
            return [answered[e["id"]] for e in events]
        ids = [e["id"] for e in events]
        deadline = time.monotonic() + _PUBLISH_DEADLINE_SECONDS
        delay = 0.005
        while time.monotonic() < deadline:
            found = self.log.recorded_all(ids)
            if all(found):
                return [e for e in found if e is not None]
            time.sleep(delay)
            delay = min(delay * 1.5, 0.05)
        raise BusUnavailable("no sequencer recorded the events in time (is a `higgins "
                             "processor` running?); they are in the intake topic and will be "
                             "recorded")

    async def _ask(self, by_partition: dict[int, list[Envelope]]) -> dict[str, Envelope]:
        """Produce one intake record per partition naming this process's reply topic; the
        recorded envelopes (by id) answered within `_ANSWER_PATIENCE_SECONDS`."""
        replies = self._replies
        assert replies is not None
        asked = {uuid.uuid4().hex: sent for sent in by_partition.values()}
        answers = [replies.expect(correlation) for correlation in asked]
        try:
            await self._produce([
                (self.names.intake, partition, None, json.dumps(sent).encode(),
                 [(REPLY_TO, replies.topic.encode()), (CORRELATION, correlation.encode())])
                for (correlation, sent), partition in zip(asked.items(), by_partition,
                                                          strict=True)])
            await asyncio.wait(answers, timeout=_ANSWER_PATIENCE_SECONDS)
        finally:
            for correlation in asked:
                replies.forget(correlation)
        return {e["id"]: e for answer in answers if answer.done() and not answer.cancelled()
                for e in answer.result()}

    # -- the log -------------------------------------------------------------------------

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        return self.log.history(subject, after_seq)

    def subjects(self) -> list[str]:
        return sorted(self.log.subjects())

    def read_log(self, part: int = 0, parts: int = 1) -> Iterator[Envelope]:
        """The events topic from its start to its end once what was acknowledged before the
        call is in it (the sequencers caught up with the intake, `_CATCH_UP_SECONDS` at
        most): the partitions of `part` (a subject lives in one partition), each subject's
        events once, in seq order."""
        from higgins.bus.kafka_reading import read_topic

        try:
            self._loop.run(self._caught_up(), _CATCH_UP_SECONDS + 10)
        except (KafkaError, OSError, concurrent.futures.TimeoutError) as error:
            raise BusUnavailable(f"Kafka is unavailable: {error!r}") from error
        return read_topic(self.bootstrap, self.names.events, self.partitions, part, parts)

    async def _caught_up(self) -> None:
        """Wait until the sequencer group committed the intake up to its end as it is now."""
        intake = [TopicPartition(self.names.intake, p) for p in range(self.partitions)]
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                    group_id=self.names.sequencer, enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(intake)
            deadline = time.monotonic() + _CATCH_UP_SECONDS
            while True:
                behind = [tp for tp in intake
                          if ends[tp] > (await consumer.committed(tp) or 0)]
                if not behind:
                    return
                if time.monotonic() > deadline:
                    LOG.warning("the sequencers are behind on %d intake partitions (is a "
                                "`higgins processor` running?); reading the events topic as "
                                "it is", len(behind))
                    return
                await asyncio.sleep(0.05)
        finally:
            await consumer.stop()

    # -- the sequencers --------------------------------------------------------------------

    def serve(self, stop: threading.Event, concurrency: int = 8) -> list[threading.Thread]:
        """Run this process's share of the log's sequencers (Kafka assigns each intake
        partition to one member of the sequencer group) until `stop`."""
        sequencer = _Sequencer(self, stop)
        thread = threading.Thread(target=sequencer.run, daemon=True, name="bus-sequencer")
        thread.start()
        return [thread]

    # -- consuming -----------------------------------------------------------------------

    def consume(self, consumer: str, stream: str, handler: BatchHandler,
                stop: threading.Event, concurrency: int = 1, max_batch: int = 1) -> None:
        """Events arrive as their sequencer recorded them (with their seq): no read-back."""
        from higgins.bus.kafka_consuming import consume

        if stream == EVENTS:
            topic, group = self.names.events, self.names.group(consumer)
        else:
            host = stream.removeprefix(COMMAND_PREFIX)
            topic, group = self.names.commands(host), self.names.group(f"agent.{host}")
            # before its agent starts (faust ignores a topic missing then), and with the
            # partitions of the bus (a container's commands stay in one, in order)
            self._loop.run(self._create_topics(NewTopic(topic, self.partitions, 1)),
                           _PUBLISH_DEADLINE_SECONDS)
        consume(self.bootstrap, topic, group, handler, stop, concurrency, max_batch,
                self.names.dead)

    def close(self) -> None:
        try:
            if self._replies is not None:
                self._loop.run(self._replies.stop(), 10)
            self._loop.run(self._producer.stop(), 10)
        except (KafkaError, OSError, concurrent.futures.TimeoutError) as error:
            LOG.warning("closing the Kafka producer: %s", error)
        self._loop.close()
        self.log.close()


class _Sequencer(ConsumerRebalanceListener):  # type: ignore[misc]
    """The `<ns>.sequencer` group member of one process: for each intake partition Kafka gives
    it, a new log lease (so a deposed owner's late writes are fenced) and one LogWriter."""

    def __init__(self, bus: KafkaBus, stop: threading.Event) -> None:
        self._bus = bus
        self._stop = stop
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._writers: dict[int, LogWriter] = {}

    # ConsumerRebalanceListener: a partition given anew is written under a new lease
    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            self._writers.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self._writers.pop(tp.partition, None)

    def run(self) -> None:
        loop = Loop("kafka-sequencer")
        try:
            while not self._stop.is_set():
                try:
                    loop.run(self._session())
                except (KafkaError, OSError) as error:
                    LOG.warning("the sequencer lost Kafka (%s); starting again", error)
                    self._writers.clear()
                    self._stop.wait(1.0)
        finally:
            loop.close()

    async def _session(self) -> None:
        bus = self._bus
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bus.bootstrap, group_id=bus.names.sequencer,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=10_000, heartbeat_interval_ms=1_000,
            metadata_max_age_ms=int(METADATA_SECONDS * 1000),
            max_poll_records=_SEQUENCER_BATCH * 4)
        consumer.subscribe([bus.names.intake], listener=self)
        producer = AIOKafkaProducer(bootstrap_servers=bus.bootstrap, acks="all",
                                    enable_idempotence=True, linger_ms=0)
        await consumer.start()
        await producer.start()
        LOG.info("sequencing %s into %s", bus.names.intake, bus.names.events)
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=100,
                                                 max_records=_SEQUENCER_BATCH * 4)
                await asyncio.gather(*(self._record(consumer, producer, tp, records)
                                       for tp, records in batches.items()))
        finally:
            await producer.stop()
            await consumer.stop()

    async def _record(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                      tp: TopicPartition, records: list[Any]) -> None:
        loop = asyncio.get_running_loop()
        sent: list[Envelope] = []
        asking: list[tuple[dict[str, bytes], int, int]] = []  # headers, first, count
        for record in records:
            try:
                envelopes = json.loads(record.value)
                if not isinstance(envelopes, list) or not envelopes:
                    raise ValueError("an intake record is a non-empty list of envelopes")
                for envelope in envelopes:
                    ev.validate(envelope)
            except (ValueError, TypeError, ev.InvalidEvent) as error:
                LOG.error("dead-lettered an intake record that is not a list of envelopes "
                          "(%s): %.200r", error, record.value)
                await producer.send_and_wait(self._bus.names.dead, record.value)
                continue
            headers = dict(record.headers or ())
            if REPLY_TO in headers:
                asking.append((headers, len(sent), len(envelopes)))
            sent.extend(envelopes)
        if sent:
            writer = self._writers.get(tp.partition)
            if writer is None:
                epoch = await loop.run_in_executor(None, self._bus.log.take_lease,
                                                   tp.partition, self._owner)
                LOG.info("writing the log of partition %d (lease epoch %d)", tp.partition,
                         epoch)
                writer = self._writers[tp.partition] = self._bus.log.writer(epoch)
            recorded = await loop.run_in_executor(None, writer.append, sent)
            if tp not in consumer.assignment():
                LOG.warning("lost intake partition %d while appending; leaving it to its "
                            "next owner", tp.partition)
                return
            acks = [await producer.send(self._bus.names.events, json.dumps(e).encode(),
                                        key=e["subject"].encode(), partition=tp.partition)
                    for e in recorded]
            await asyncio.gather(*acks)
            answers = [await producer.send(
                headers[REPLY_TO].decode(), json.dumps(recorded[first:first + count]).encode(),
                headers=[(CORRELATION, headers[CORRELATION])])
                for headers, first, count in asking]
            # a lost answer only sends its publisher to the log
            await asyncio.gather(*answers, return_exceptions=True)
        await consumer.commit({tp: records[-1].offset + 1})
