"""EDGE: GET /v1/events: Higgins' audit record, one CADF-like entry per event (written by the
audit processor, higgins/auditing.py), newest first like Nova's instance actions, filtered and
paged; ?watch=true streams new entries as Server-Sent Events until the client goes away.
Side effects: reads the store; a watch holds a server thread while it lasts."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.services import authorize, granted_flag, services
from higgins.faults import ServiceUnavailable
from higgins.processors import audit
from higgins.processors.audit import Entry, Query
from higgins.store.base import AuditLog

LOG = logging.getLogger(__name__)
blueprint = flask.Blueprint("events", __name__, url_prefix="/v1/events")

FILTERS = ("container", "capsule", "project_id", "type", "request_id", "since", "until")
QUERY = ("all_projects", "marker", "limit", "watch", *FILTERS)
MAX_LIMIT = 1000  # also the default, as Nova's osapi_max_limit: a larger limit is lowered
CONFIG_KEY = "HIGGINS_WATCH"  # app.config: a WatchSettings
RETRY_MS = 2000  # how long an EventSource waits before it reconnects


@dataclass(frozen=True)
class WatchSettings:
    max_watches: int = 4  # at once per API process: each holds one of its [api] threads
    max_seconds: float = 900.0  # then the stream ends; EventSource reconnects (Last-Event-ID)
    keepalive_seconds: float = 15.0
    poll_seconds: float = 1.0
    # an entry recorded this long after a newer one was streamed is still streamed (the audit
    # processor's partitions run side by side); resuming re-sends this much before the last id
    lateness_seconds: float = 10.0


@blueprint.record_once
def _setup(state: Any) -> None:
    state.app.extensions["higgins.watches"] = _Watches()


@blueprint.get("", strict_slashes=False)
def index() -> Any:
    query = _query()
    if parsing.query_bool("watch"):
        return _watch(query)
    limit = min(parsing.query_int("limit", MAX_LIMIT, minimum=1) or MAX_LIMIT, MAX_LIMIT)
    marker = flask.request.args.get("marker") or None
    found = _listed(query, marker, limit + 1)
    shown = found[:limit]
    return {"events": shown, "next": _next_url(shown[-1]["id"], limit)
            if len(found) > limit else None}


def _listed(query: Query, marker: str | None, limit: int,
            oldest_first: bool = False) -> list[Entry]:
    try:
        return services().store.audit_entries(query, marker, limit, oldest_first)
    except audit.UnknownMarker as error:
        raise errors.bad_request(f"Marker {marker} is not an event in this listing.") from error


def _next_url(marker: str, limit: int) -> str:
    args = [(k, v) for k, v in flask.request.args.items(multi=True)
            if k not in ("marker", "limit")]
    query = urllib.parse.urlencode([*args, ("limit", str(limit)), ("marker", marker)])
    return f"{flask.request.host_url.rstrip('/')}/v1/events?{query}"


def _query() -> Query:
    """The filters as a Query, within what policy lets the caller see (asked before anything
    about the request is judged); 400 for a bad filter."""
    caller = authorize("events:get_all")
    project = None if granted_flag("all_projects", "events:get_all_all_projects") \
        else caller.project_id
    args = flask.request.args
    asked = args.get("project_id")
    if asked is not None and asked != caller.project_id:
        authorize("events:get_all_all_projects", asked)
    parsing.reject_unknown_query(*QUERY)
    if asked is not None:
        project = asked
    try:
        query = Query(
            project_id=project,
            types=audit.parse_types(args["type"]) if "type" in args else (),
            request_id=_nonempty("request_id"),
            since=audit.parse_time("since", args["since"]) if "since" in args else None,
            until=audit.parse_time("until", args["until"]) if "until" in args else None)
    except audit.InvalidFilter as error:
        raise errors.bad_request(f"Invalid filter: {error}.") from error
    if query.since is not None and query.until is not None and query.since > query.until:
        raise errors.bad_request("Invalid filter: since is after until.")
    return _targeted(query)


def _nonempty(name: str) -> str | None:
    value = flask.request.args.get(name)
    if value is not None and not value.strip():
        raise errors.bad_request(f"Invalid filter: {name} is empty.")
    return value


def _targeted(query: Query) -> Query:
    """container= or capsule= (a uuid, or a name among the live ones the caller sees)."""
    container, capsule = _nonempty("container"), _nonempty("capsule")
    if container is not None and capsule is not None:
        raise errors.bad_request("Invalid filter: give container or capsule, not both.")
    if container is not None:
        return replace(query, target_kind="container", target=_container_uuid(
            container, query.project_id))
    if capsule is not None:
        return replace(query, target_kind="capsule", target=_capsule_uuid(
            capsule, query.project_id))
    return query


def _container_uuid(ident: str, project: str | None) -> str:
    if parsing.is_uuid(ident):  # a deleted container's record is kept: no view needed
        return ident
    named = services().store.find_containers(project_id=project, name=ident)
    return _one([state.uuid for state in named], "Container", ident)


def _capsule_uuid(ident: str, project: str | None) -> str:
    if parsing.is_uuid(ident):
        return ident
    named = [state.uuid for state in services().store.find_capsules(project_id=project)
             if state.name == ident]
    return _one(named, "Capsule", ident)


def _one(uuids: list[str], what: str, ident: str) -> str:
    if not uuids:
        raise errors.not_found(f"{what} {ident} could not be found.")
    if len(uuids) > 1:
        raise errors.conflict(f"Multiple {what.lower()}s exist with the name {ident}. Please "
                              f"use the {what.lower()} uuid instead.", code="container.conflict")
    return uuids[0]


# -- the watch ---------------------------------------------------------------------------------


class _Watches:
    """Watches running in this API process, so a few cannot hold every server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0

    def take(self, most: int) -> bool:
        with self._lock:
            if self.active >= most:
                return False
            self.active += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.active -= 1


def watch_settings(app: flask.Flask) -> WatchSettings:
    found: WatchSettings = app.config.get(CONFIG_KEY) or WatchSettings()
    return found


def _watch(query: Query) -> Any:
    if "limit" in flask.request.args:
        raise errors.bad_request("limit does not apply to a watch; it streams until closed.")
    app = flask.current_app
    settings = watch_settings(app)
    resume = flask.request.headers.get("Last-Event-ID") or flask.request.args.get("marker")
    cursor = _start(services().store, query, resume or None, settings.lateness_seconds)
    watches: _Watches = app.extensions["higgins.watches"]
    if not watches.take(settings.max_watches):
        response = errors.respond(errors.ApiError(
            503, "container.service_unavailable",
            f"This API process already streams {settings.max_watches} watches; try again "
            "later or list GET /v1/events."))
        response.headers["Retry-After"] = str(int(settings.poll_seconds * 10) or 1)
        return response
    released = threading.Event()

    def release() -> None:  # once, whether the stream ended, failed or never started
        if not released.is_set():
            released.set()
            watches.give_back()

    gone = flask.request.environ.get("waitress.client_disconnected")
    response = flask.Response(
        _stream(services().store, query, cursor, settings, gone or (lambda: False)),
        mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold events back
    response.call_on_close(release)
    return response


@dataclass
class _Cursor:
    """How far a watch got: the newest time key streamed, and the ids streamed within the
    lateness window before it (entries there may still arrive, and must not come twice)."""

    newest: str
    seen: dict[str, str] = field(default_factory=dict)  # event id -> time key


def _scope(query: Query) -> Query:
    """What a watch reads: the query's partitions (project, target) and time range. Its
    window moves with the newest entry there, not with the newest that matched the filters:
    a rare type does not make every poll read back to its last match."""
    return replace(query, types=(), request_id=None)


def _start(store: AuditLog, query: Query, resume: str | None, lateness: float) -> _Cursor:
    """Where a watch begins: after `resume` (an event id), from `since`, or after the newest
    entry recorded now."""
    if resume is not None:
        marker = store.audit_entry(resume)
        if marker is None or query.project_id not in (None, audit.project_of(marker)):
            raise errors.bad_request(f"Last-Event-ID {resume} is not an event of this watch.")
        # re-sent: what came after it, and what may have been recorded late just before it
        return _Cursor(audit.sort_key(marker), {resume: audit.sort_key(marker)})
    if query.since is not None:
        return _Cursor(audit.shifted(query.since, lateness))
    newest = store.audit_entries(_scope(query), limit=1)
    if not newest:
        return _Cursor(audit.MIN_KEY)
    cursor = _Cursor(audit.sort_key(newest[0]))
    for _ in _poll(store, query, cursor, lateness):
        pass  # what is already there is not news
    return cursor


def _poll(store: AuditLog, query: Query, cursor: _Cursor, lateness: float,
          page: int = 200) -> Iterator[Entry]:
    """Entries matching `query` not streamed yet, oldest first, page by page: of the scope's
    entries from `lateness` before the newest seen (or from `since`), those not seen yet."""
    lower = query.lower() if cursor.newest == audit.MIN_KEY else \
        max(query.lower(), audit.shifted(cursor.newest, -lateness))
    window, marker = replace(_scope(query), since=lower), None
    while True:
        rows = store.audit_entries(window, marker, page, oldest_first=True)
        for found in rows:
            if found["id"] not in cursor.seen:
                key = audit.sort_key(found)
                cursor.seen[found["id"]] = key
                cursor.newest = max(cursor.newest, key)
                if audit.matches(query, found):
                    yield found
        if len(rows) < page:
            break
        marker = rows[-1]["id"]
    oldest = audit.shifted(cursor.newest, -lateness) if cursor.newest != audit.MIN_KEY \
        else audit.MIN_KEY
    cursor.seen = {i: k for i, k in cursor.seen.items() if k >= oldest}


def _stream(store: AuditLog, query: Query, cursor: _Cursor, settings: WatchSettings,
            gone: Callable[[], bool]) -> Iterator[str]:
    """The SSE stream: every entry as `id:`/`event:`/`data:`, a comment when nothing was sent
    for keepalive_seconds, until max_seconds, `until` has passed, or the client is gone (the
    write of the next keep-alive fails, or waitress says so between polls)."""
    started = last = time.monotonic()
    yield f"retry: {RETRY_MS}\n: watching\n\n"
    while time.monotonic() - started < settings.max_seconds and not gone():
        sent = 0
        try:
            for found in _poll(store, query, cursor, settings.lateness_seconds):
                yield _message(found)
                sent += 1
        except ServiceUnavailable as error:
            LOG.warning("audit watch cannot read the store now (%s); polling again", error)
        if sent or time.monotonic() - last >= settings.keepalive_seconds:
            last = time.monotonic()
            if not sent:
                yield ": keep-alive\n\n"
        if query.until is not None and audit.time_key(_now()) > audit.shifted(
                query.until, settings.lateness_seconds):
            return
        time.sleep(settings.poll_seconds)
    yield ": watch ended; reconnect with Last-Event-ID to resume\n\n"


def _message(found: Entry) -> str:
    return (f"id: {found['id']}\nevent: {found['type']}\n"
            f"data: {json.dumps(found, separators=(',', ':'))}\n\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
