"""EDGE: the Bus port: a durable, ordered log of events and per-host command streams."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from higgins.events import Envelope, validate
from higgins.faults import ServiceUnavailable

EVENTS = "events"


def partition_of(subject: str, partitions: int) -> int:
    """A subject's partition (RabbitMQ queue, Kafka partition, log writer): stable across
    processes and restarts (Python's hash() is not)."""
    return int.from_bytes(hashlib.blake2b(subject.encode(), digest_size=4).digest()) % partitions


def validate_all(events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]]) -> None:
    """What a publish checks before anything leaves: every envelope, events and commands."""
    for envelope in [*events, *(command for _, command in commands)]:
        validate(envelope)


def command_stream(host: str) -> str:
    return f"commands.{host}"


Handler = Callable[[Envelope], None]
# A batch: envelopes in delivery order, each subject's in its order; handled as a whole (its
# effects committed) before any of it is acknowledged. A single event is a batch of one.
BatchHandler = Callable[[Sequence[Envelope]], None]


def each(handler: Handler) -> BatchHandler:
    """A batch handler that hands the envelopes to `handler` one by one, in order."""

    def handle(batch: Sequence[Envelope]) -> None:
        for envelope in batch:
            handler(envelope)

    return handle


class BusUnavailable(ServiceUnavailable):
    """The broker or the log could not take a publish in time: nothing was acknowledged."""


class Bus(Protocol):
    def publish(
        self, events: Sequence[Envelope], commands: Sequence[tuple[str, Envelope]] = ()
    ) -> list[Envelope]:
        """Append atomically and durably; return the events as recorded (with their per-subject
        seq). An id already recorded is not appended again: its recorded envelope is returned."""

    def history(self, subject: str, after_seq: int = 0) -> list[Envelope]:
        """The subject's events in seq order, after `after_seq`."""

    def subjects(self) -> list[str]:
        """Every subject with events in the retained log (for replay)."""

    def read_log(self, part: int = 0, parts: int = 1) -> Iterator[Envelope]:
        """Every event of the retained log, read a page at a time (for replay): each subject's
        in seq order, as `history` gives them; subjects' events may interleave. With `parts`,
        only the subjects of `part` (0 … parts-1): every subject falls in one part, the same
        in every process, so parts can be read and folded side by side."""

    def consume(
        self,
        consumer: str,
        stream: str,
        handler: BatchHandler,
        stop: threading.Event,
        concurrency: int = 1,
        max_batch: int = 1,
    ) -> None:
        """Deliver the stream to `handler` in batches of up to `max_batch` (what is there: no
        waiting for more) on `concurrency` workers until `stop` is set, resuming after the
        consumer's committed position. One subject's envelopes are handled in order and never
        in two batches at once; a batch is acknowledged (its position committed) only once
        the handler returned, and a position only once everything before it was handled
        (at-least-once: after a crash, unacknowledged envelopes are delivered again)."""

    def serve(self, stop: threading.Event, concurrency: int = 8) -> list[threading.Thread]:
        """Start what this bus needs a processor process to run (the RabbitMQ bus: its log's
        sequencers) until `stop`; the threads started (none for the embedded bus)."""

    def close(self) -> None: ...
