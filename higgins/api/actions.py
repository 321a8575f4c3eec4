"""EDGE: /v1/containers/<id>/container_actions: the actions history, read off the event log."""

from __future__ import annotations

import dataclasses
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.containers import lookup
from higgins.api.services import services
from higgins.processors import actions

blueprint = flask.Blueprint("actions", __name__, url_prefix="/v1/containers")


def _history(ident: str) -> list[actions.Action]:
    state = lookup(ident, "container:actions")
    return actions.history(services().bus.history(state.uuid))


def _summary(action: actions.Action) -> dict[str, Any]:
    body = dataclasses.asdict(action)
    del body["events"]
    return body


@blueprint.get("/<ident>/container_actions")
def index(ident: str) -> Any:
    history = _history(ident)
    parsing.reject_unknown_query()
    return {"containerActions": [_summary(a) for a in reversed(history)]}


@blueprint.get("/<ident>/container_actions/<request_id>")
def show(ident: str, request_id: str) -> Any:
    history = _history(ident)
    parsing.reject_unknown_query()
    for action in history:
        if action.request_id == request_id:
            body = _summary(action)
            body["events"] = [dataclasses.asdict(step) for step in action.events]
            return body
    raise errors.not_found(f"Action {request_id} could not be found.")
