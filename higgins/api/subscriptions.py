"""EDGE: /v1/subscriptions, Higgins' webhooks: a project's members subscribe a URL to event
types (patterns), read each subscription's delivery log, rotate its signing secret and ask for
events again; the dispatcher (higgins/dispatching.py) delivers. The secret is shown once, when
it is made (create, rotate_secret)."""

from __future__ import annotations

import datetime
import itertools
import os
import time
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from typing import Any

import flask

from higgins import auditing, dispatching, events, sending
from higgins.api import errors, parsing
from higgins.api.identity import current_caller
from higgins.api.services import authorize, granted_flag, services
from higgins.processors import audit, webhooks
from higgins.processors.webhooks import Attempt, Secret, Subscription

blueprint = flask.Blueprint("subscriptions", __name__)
GRACE = 86_400  # seconds a rotated-out secret still signs, unless the request says otherwise
REDELIVER_MAX = 10_000  # events one redelivery request may make due


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _view(subscription: Subscription, secret: str | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "uuid": subscription.uuid, "project_id": subscription.project_id,
        "user_id": subscription.user_id, "url": subscription.url,
        "event_types": list(subscription.event_types),
        "filters": {"containers": list(subscription.containers),
                    "labels": dict(subscription.labels)},
        "enabled": subscription.enabled, "disabled_reason": subscription.disabled_reason,
        "description": subscription.description, "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
        "links": [{"href": f"{flask.request.host_url}v1/subscriptions/{subscription.uuid}",
                   "rel": "self"}],
    }
    if secret is not None:
        shown["secret"] = secret
    return shown


def _checked_url(url: str) -> str:
    reason = sending.refused(url, services().allowed_networks)
    if reason:
        raise errors.bad_request(f"Webhook URL {url!r} is refused: {reason}.")
    return url


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    """The subscription fields a create or update body sets."""
    changes: dict[str, Any] = {}
    if "url" in body:
        changes["url"] = _checked_url(body["url"])
    if "event_types" in body:
        changes["event_types"] = tuple(body["event_types"])
    if "filters" in body:
        changes["containers"] = tuple(body["filters"].get("containers", ()))
        changes["labels"] = dict(body["filters"].get("labels", {}))
    if "description" in body:
        changes["description"] = body["description"]
    if "enabled" in body:
        changes["enabled"] = body["enabled"]
        if body["enabled"]:
            changes["disabled_reason"] = None
    return changes


def _new_secret() -> str:
    return webhooks.secret_from(os.urandom(24))


def _found(uuid: str, rule: str) -> Subscription:
    """The subscription, if the caller may `rule` it (404 when it is another project's and
    the caller is no admin: its existence is not told)."""
    found = services().store.load_subscription(uuid)
    if found is None:
        raise errors.not_found(f"Subscription {uuid} could not be found.")
    try:
        authorize(rule, found.project_id)
    except errors.ApiError:
        if not services().policy.allows("subscription:get", current_caller(), found.project_id):
            raise errors.not_found(f"Subscription {uuid} could not be found.") from None
        raise
    return found


@blueprint.post("/v1/subscriptions")
def create() -> Any:
    caller = authorize("subscription:create", current_caller().project_id)
    parsing.reject_unknown_query()
    body = parsing.json_body()
    parsing.require_valid("subscription_create", body, "subscription")
    secret = _new_secret()
    subscription = Subscription(
        uuid=str(uuidlib.uuid4()), project_id=caller.project_id, user_id=caller.user_id,
        url=body["url"], event_types=(), secrets=(Secret(secret),), created_at=_now(),
    ).evolve(**_changes(body))
    services().store.save_subscription(subscription)
    return _view(subscription, secret), 201


@blueprint.get("/v1/subscriptions")
def list_all() -> Any:
    parsing.reject_unknown_query("all_projects")
    everywhere = granted_flag("all_projects", "subscription:get_all_all_projects")
    project = None if everywhere else authorize("subscription:get_all",
                                                current_caller().project_id).project_id
    return {"subscriptions": [_view(s) for s in services().store.find_subscriptions(project)]}


@blueprint.get("/v1/subscriptions/<subscription_id>")
def show(subscription_id: str) -> Any:
    found = _found(subscription_id, "subscription:get")
    parsing.reject_unknown_query()
    return _view(found)


@blueprint.patch("/v1/subscriptions/<subscription_id>")
def update(subscription_id: str) -> Any:
    current = _found(subscription_id, "subscription:update")
    parsing.reject_unknown_query()
    body = parsing.json_body()
    parsing.require_valid("subscription_update", body, "subscription")
    changed = current.evolve(**_changes(body), updated_at=_now())
    services().store.save_subscription(changed)
    return _view(changed)


@blueprint.delete("/v1/subscriptions/<subscription_id>")
def delete(subscription_id: str) -> Any:
    _found(subscription_id, "subscription:delete")
    parsing.reject_unknown_query()
    services().store.delete_subscription(subscription_id)
    return flask.Response(status=204)


@blueprint.post("/v1/subscriptions/<subscription_id>/rotate_secret")
def rotate_secret(subscription_id: str) -> Any:
    """A new secret (shown this once); the old one keeps signing for `grace_period` seconds
    (default a day; 0 retires it at once), so receivers can switch without a gap."""
    current = _found(subscription_id, "subscription:rotate_secret")
    parsing.reject_unknown_query()
    body = parsing.json_body() if flask.request.get_data().strip() else {}
    parsing.require_valid("subscription_rotate", body, "rotate_secret")
    secret = _new_secret()
    rotated = webhooks.rotated(current, secret, time.time(), body.get("grace_period", GRACE))
    services().store.save_subscription(rotated.evolve(updated_at=_now()))
    return _view(rotated, secret)


def _attempt_view(attempt: Attempt) -> dict[str, Any]:
    at = datetime.datetime.fromtimestamp(attempt.at, datetime.UTC)
    return {"event_id": attempt.event_id, "event_type": attempt.event_type,
            "attempt": attempt.attempt, "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "status_code": attempt.status_code, "latency_ms": attempt.latency_ms,
            "error": attempt.error, "delivered": attempt.succeeded}


@blueprint.get("/v1/subscriptions/<subscription_id>/deliveries")
def deliveries(subscription_id: str) -> Any:
    """The delivery log, newest attempt first."""
    _found(subscription_id, "subscription:get")
    parsing.reject_unknown_query("limit")
    limit = parsing.query_int("limit", 100, minimum=1) or 100
    attempts = services().store.attempts(subscription_id, min(limit, 1000))
    return {"deliveries": [_attempt_view(a) for a in attempts]}


@blueprint.post("/v1/subscriptions/<subscription_id>/redeliver")
def redeliver(subscription_id: str) -> Any:
    """Send one event (`event_id`) or a time range (`since`, `until`) again: 202 with how many
    deliveries were made due; the dispatchers send them."""
    subscription = _found(subscription_id, "subscription:redeliver")
    parsing.reject_unknown_query()
    body = parsing.json_body()
    parsing.require_valid("subscription_redeliver", body, "redeliver")
    if not subscription.enabled:
        raise errors.conflict(f"Subscription {subscription_id} is disabled; enable it first.",
                              "subscription.disabled")
    found = list(_events(subscription, body))
    if not found and "event_id" in body:
        raise errors.not_found(f"Event {body['event_id']} could not be found.")
    count = dispatching.redeliver(services().store, subscription, found, time.time())
    return {"redelivering": count}, 202


def _events(subscription: Subscription, body: dict[str, Any]) -> Iterator[events.Envelope]:
    """The log's envelopes of the subscription's project the body names, oldest first."""
    store = services().store
    if "event_id" in body:
        entries: Iterable[audit.Entry] = [
            e for e in [store.audit_entry(body["event_id"])]
            if e is not None and audit.project_of(e) == subscription.project_id]
    else:
        until = body.get("until")
        try:
            query = audit.Query(project_id=subscription.project_id,
                                since=audit.parse_time("since", body["since"]),
                                until=audit.parse_time("until", until) if until else None)
        except audit.InvalidFilter as error:
            raise errors.bad_request(str(error)) from error
        entries = itertools.islice(auditing.recorded(store, query), REDELIVER_MAX)
    return auditing.envelopes(services().bus, entries)
