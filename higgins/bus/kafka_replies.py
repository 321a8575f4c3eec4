"""EDGE: the answers sequencers send a Kafka publisher: each publishing process has a reply
topic of its own (`<ns>.replies.<member>`, one partition, kept an hour), named in the headers
of its intake records with a correlation id; the sequencer produces the recorded envelopes
there once they are in the log and the events topic. An answer that does not come in time
(its sequencer died, the partition moved) sends the publisher to the log instead.
Side effects: a topic and a consumer (no group) in the process's Kafka loop."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from higgins.events import Envelope

LOG = logging.getLogger(__name__)

REPLY_TO = "reply_to"
CORRELATION = "correlation"
_KEPT = {"retention.ms": str(3600 * 1000)}


class Replies:
    """Futures of the answers this process waits for, fed by a consumer of its reply topic.
    Every method runs in the bus's loop."""

    def __init__(self, bootstrap: str, namespace: str) -> None:
        member = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.topic = f"{namespace}.replies.{member}"
        self._bootstrap = bootstrap
        self._waiting: dict[str, asyncio.Future[list[Envelope]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Make the topic and read it from its end (before any intake record names it)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(self.topic, 1, 1, topic_configs=_KEPT)])
        except TopicAlreadyExistsError:
            pass
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="latest", fetch_max_wait_ms=50)
        await consumer.start()
        partition = TopicPartition(self.topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)
        self._consumer = consumer
        self._reading = asyncio.get_running_loop().create_task(self._read())

    def expect(self, correlation: str) -> asyncio.Future[list[Envelope]]:
        future: asyncio.Future[list[Envelope]] = asyncio.get_running_loop().create_future()
        self._waiting[correlation] = future
        return future

    def forget(self, correlation: str) -> None:
        self._waiting.pop(correlation, None)

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000)
            except KafkaError as error:
                LOG.warning("reading the reply topic %s: %s", self.topic, error)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    future = self._waiting.pop(headers.get(CORRELATION, b"").decode(), None)
                    if future is not None and not future.done():
                        future.set_result(json.loads(record.value))

    async def stop(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
            await asyncio.gather(self._reading, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([self.topic])
        except KafkaError as error:
            LOG.warning("deleting the reply topic %s: %s", self.topic, error)
        finally:
            await admin.close()
