"""The Bus port's read of the whole retained log (`read_log`, what replay folds), run against
every adapter: the embedded SQLite log, and RabbitMQ with the Cassandra log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from higgins import events
from higgins.bus import embedded
from higgins.bus.base import Bus, command_stream
from higgins.bus.cassandra_log import CassandraLog
from tests.contract.test_bus import envelope


def by_subject(read: Iterator[events.Envelope]) -> dict[str, list[events.Envelope]]:
    found: dict[str, list[events.Envelope]] = {}
    for event in read:
        found.setdefault(event["subject"], []).append(event)
    return found


def publish_interleaved(bus: Bus) -> dict[str, list[events.Envelope]]:
    """Three rounds over four subjects (a host's among them); each subject's history."""
    subjects = ["a", "b", "c", events.host_subject("h1")]
    for round_ in range(3):
        bus.publish([envelope(s, exit_code=round_) for s in subjects])
    return {s: bus.history(s) for s in subjects}


def test_an_empty_log_reads_as_nothing(bus: Bus) -> None:
    assert list(bus.read_log()) == []


def test_every_event_is_read_once_each_subjects_in_seq_order(bus: Bus) -> None:
    histories = publish_interleaved(bus)
    assert by_subject(bus.read_log()) == histories
    assert [e["seq"] for e in histories["a"]] == [1, 2, 3]


def test_commands_recorded_with_events_are_not_read(bus: Bus) -> None:
    command = envelope("a", kind="agent.container.start")
    bus.publish([envelope("a")], [(command_stream("h1"), command)])
    assert [e["type"] for e in bus.read_log()] == ["container.stopped"]


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_parts_split_the_subjects_and_together_are_the_whole_log(bus: Bus, parts: int) -> None:
    histories = publish_interleaved(bus)
    read = [by_subject(bus.read_log(part, parts)) for part in range(parts)]
    assert sum(len(mine) for mine in read) == len(histories)  # no subject in two parts
    assert {s: h for mine in read for s, h in mine.items()} == histories


def test_a_log_longer_than_a_page_is_read_whole(bus: Bus, monkeypatch: pytest.MonkeyPatch,
                                                ) -> None:
    monkeypatch.setattr(embedded, "_LOG_PAGE", 2)  # the embedded log's page; Cassandra's 5,000
    histories = publish_interleaved(bus)
    assert by_subject(bus.read_log()) == histories


@pytest.fixture
def log() -> Iterator[CassandraLog]:
    adapter = CassandraLog("cassandra://127.0.0.1:9042/higgins_contract_log")
    adapter.truncate()
    yield adapter
    adapter.close()


@pytest.mark.cassandra
def test_the_cassandra_log_reads_as_history_does_past_a_deposed_writers_late_rows(
        log: CassandraLog) -> None:
    first = log.writer(log.take_lease(0, "first"))
    first.append([envelope("s", exit_code=1)])
    second = log.writer(log.take_lease(0, "second"))
    second.append([envelope("s", exit_code=2)])
    first.append([envelope("s", exit_code=99)])  # seq 2 under the old epoch: overwritten
    first.append([envelope("s", exit_code=98)])  # seq 3 under the old epoch: past the end
    second.append([envelope("t", exit_code=7)])
    assert by_subject(log.read_log()) == {"s": log.history("s"), "t": log.history("t")}
    assert [e["data"]["exit_code"] for e in log.history("s")] == [1, 2]
