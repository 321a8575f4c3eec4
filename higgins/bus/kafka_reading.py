"""EDGE: reading the retained events topic from its start (replay, `higgins replay --check` and
`--as-of`), without a consumer group: nothing is committed, nobody's position moves.
Side effects: a Kafka consumer for the length of the read."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from higgins.events import Envelope

_PAGE = 2000
_DONE = object()


def read_topic(bootstrap: str, topic: str, partitions: int, part: int = 0,
               parts: int = 1) -> Iterator[Envelope]:
    """The envelopes of the topic's partitions p with p % parts == part, from the start to the
    end as it stood when the read began; within a partition a subject's events come in seq
    order, and one re-sent by a sequencer that took a partition over is given once."""
    pages: queue.Queue[object] = queue.Queue(maxsize=8)
    mine = [TopicPartition(topic, p) for p in range(partitions) if p % parts == part]
    reader = threading.Thread(target=_read, args=(bootstrap, mine, pages), daemon=True,
                              name="kafka-read-log")
    reader.start()
    last: dict[str, int] = {}
    while (page := pages.get()) is not _DONE:
        if isinstance(page, BaseException):
            raise page
        assert isinstance(page, list)
        for envelope in page:
            subject, seq = envelope["subject"], envelope["seq"]
            if seq > last.get(subject, 0):
                last[subject] = seq
                yield envelope
    reader.join()


def _read(bootstrap: str, mine: list[TopicPartition], pages: queue.Queue[object]) -> None:
    import asyncio

    try:
        asyncio.run(_pages(bootstrap, mine, pages))
    except BaseException as error:  # noqa: BLE001 - handed to the reading thread
        pages.put(error)
    else:
        pages.put(_DONE)


async def _pages(bootstrap: str, mine: list[TopicPartition],
                 pages: queue.Queue[object]) -> None:
    import asyncio

    if not mine:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=_PAGE,
                                fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    try:
        consumer.assign(mine)
        ends = await consumer.end_offsets(mine)
        left = {tp for tp in mine if ends[tp] > 0}
        for tp in mine:
            consumer.seek(tp, 0)  # (seek_to_beginning of a fresh assignment reads nothing)
        loop = asyncio.get_running_loop()
        while left:
            batches = await consumer.getmany(*left, timeout_ms=1000, max_records=_PAGE)
            page: list[Envelope] = []
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        page.append(json.loads(record.value))
                if records and records[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
            if page:
                await loop.run_in_executor(None, pages.put, page)
    finally:
        await consumer.stop()
