"""The API's quota combiner: concurrent changes of one project share one store step, a lone
change goes straight through, and a failing step fails every request in it."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from higgins.api.reservations import Reservations
from higgins.faults import ServiceUnavailable
from higgins.processors.quotas import Allocation, Change

ONE = Allocation(1.0, 1, 0, 0.0)


class SteppedBook:
    """A quota book whose first step waits until the test lets it go: meanwhile, others queue."""

    def __init__(self, fail: bool = False) -> None:
        self.steps: list[list[str]] = []
        self.entered = threading.Event()
        self.go = threading.Event()
        self.fail = fail

    def change_allocations(self, project_id: str,
                           changes: Sequence[Change]) -> list[list[str]]:
        self.steps.append([c.uuid for c in changes])
        if len(self.steps) == 1:
            self.entered.set()
            assert self.go.wait(10)
        if self.fail:
            raise ServiceUnavailable("store away")
        return [[] if c.uuid != "over" else ["containers"] for c in changes]


def run(reservations: Reservations, uuids: list[str]) -> dict[str, object]:
    answers: dict[str, object] = {}

    def one(uuid: str) -> None:
        try:
            answers[uuid] = reservations.change("p", Change(uuid, ONE))
        except ServiceUnavailable as error:
            answers[uuid] = error

    threads = [threading.Thread(target=one, args=(uuid,)) for uuid in uuids]
    for thread in threads:
        thread.start()
    answers["_threads"] = threads
    return answers


def settle(answers: dict[str, object]) -> dict[str, object]:
    for thread in answers.pop("_threads"):  # type: ignore[attr-defined]
        thread.join(10)
    return answers


def queued(reservations: Reservations, count: int) -> None:
    deadline = time.monotonic() + 10
    while sum(map(len, reservations._queued.values())) < count:  # noqa: SLF001 - test seam
        assert time.monotonic() < deadline, "requests did not queue"
        time.sleep(0.001)


def test_a_lone_change_is_one_step_of_its_own() -> None:
    book = SteppedBook()
    book.go.set()
    assert Reservations(book).change("p", Change("a", ONE)) == []
    assert book.steps == [["a"]]


def test_changes_that_queue_behind_a_step_share_the_next_one() -> None:
    book = SteppedBook()
    reservations = Reservations(book)
    first = run(reservations, ["first"])
    assert book.entered.wait(10)
    rest = run(reservations, ["a", "b", "over", "c"])
    queued(reservations, 4)
    book.go.set()
    assert settle(first) == {"first": []}
    assert settle(rest) == {"a": [], "b": [], "over": ["containers"], "c": []}
    assert book.steps[0] == ["first"]
    assert sorted(book.steps[1]) == ["a", "b", "c", "over"] and len(book.steps) == 2


def test_a_failed_step_fails_each_of_its_requests_and_the_next_step_still_runs() -> None:
    book = SteppedBook(fail=True)
    reservations = Reservations(book)
    first = run(reservations, ["first"])
    assert book.entered.wait(10)
    rest = run(reservations, ["a", "b"])
    queued(reservations, 2)
    book.go.set()
    answers = settle(first) | settle(rest)
    assert all(isinstance(answer, ServiceUnavailable) for answer in answers.values())
    assert len(book.steps) == 2


@pytest.mark.parametrize("count", [1, 8, 64])
def test_every_request_is_answered_under_any_concurrency(count: int) -> None:
    book = SteppedBook()
    book.go.set()
    answers = settle(run(Reservations(book), [f"c{n}" for n in range(count)]))
    assert answers == {f"c{n}": [] for n in range(count)}
    assert sorted(u for step in book.steps for u in step) == sorted(answers)
