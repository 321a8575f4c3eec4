"""schemas/ is the one source of truth: every schema is valid and every type has one."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from higgins import events
from higgins.events import CommandType, EventType
from tests.unit.conftest import envelope

SCHEMAS = sorted(events.SCHEMA_DIR.rglob("*.json"))


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: str(p.relative_to(events.SCHEMA_DIR)))
def test_every_schema_file_is_a_valid_json_schema(path: Path) -> None:
    schema = json.loads(path.read_text())
    jsonschema.validators.validator_for(schema).check_schema(schema)


@pytest.mark.parametrize("kind", list(EventType), ids=str)
def test_every_event_type_has_a_schema(kind: EventType) -> None:
    assert (events.SCHEMA_DIR / "events" / f"{kind}.json").is_file()


@pytest.mark.parametrize("kind", list(CommandType), ids=str)
def test_every_command_type_has_a_schema(kind: CommandType) -> None:
    assert (events.SCHEMA_DIR / "commands" / f"{kind}.json").is_file()


def test_a_well_formed_envelope_validates() -> None:
    events.validate(envelope("container.stopped", 2, exit_code=0))


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda e: e.pop("request_id"), id="missing-envelope-field"),
        pytest.param(lambda e: e.update(seq="two"), id="seq-not-integer"),
        pytest.param(lambda e: e["data"].update(exit_code="zero"), id="data-wrong-type"),
        pytest.param(lambda e: e["data"].update(colour="red"), id="data-unknown-field"),
    ],
)
def test_a_broken_envelope_is_refused(broken: object) -> None:
    bad = envelope("container.stopped", 2, exit_code=0)
    broken(bad)  # type: ignore[operator]
    with pytest.raises(events.InvalidEvent):
        events.validate(bad)


def test_derived_ids_are_stable_and_distinct() -> None:
    cause = "6dca4fc1-a457-487b-9d55-dfbe091a1756"
    assert events.derived_id(cause, 1, "a") == events.derived_id(cause, 1, "a")
    assert len({events.derived_id(cause, i, k) for i in (1, 2) for k in ("a", "b")}) == 4
