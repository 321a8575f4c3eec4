"""GET /v1/events: the audit record as the API lists and streams it. No processor runs here, so
each test records the log's events into the audit itself (higgins.auditing.record, the audit
processor's handler)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
import waitress

from higgins import auditing, events, publishing
from higgins.api import events as api_events
from higgins.api.hosts import host_uuid
from higgins.bus.embedded import EmbeddedBus
from higgins.events import EventType
from higgins.processors import audit
from higgins.store.sqlite import SqliteStore
from tests.api.conftest import error_of, running
from tests.api.test_capsules_api import TEMPLATE
from tests.api.test_policy import ADMIN, MEMBER, OTHER_MEMBER, READER

Recorder = Callable[[], None]


@pytest.fixture
def record(bus: EmbeddedBus, store: SqliteStore) -> Recorder:
    """Record every event in the log into the audit, as the audit processor would (again
    for the ones already recorded: recording is idempotent)."""

    def record_all() -> None:
        auditing.record(store, [e for s in bus.subjects() for e in bus.history(s)])

    return record_all


def listed(client: Any, query: str = "", headers: dict[str, str] = MEMBER) -> list[Any]:
    response = client.get(f"/v1/events{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["events"])


def types(entries: list[Any]) -> list[str]:
    return [e["type"] for e in entries]


LIFECYCLE = ["container.started", "container.created", "container.scheduled",
             "container.create.requested"]


def test_a_lifecycle_is_listed_newest_first_with_cadf_fields(
        client: Any, bus: EmbeddedBus, store: SqliteStore, record: Recorder) -> None:
    uuid = running(client, bus, store, headers=MEMBER)
    record()
    body = client.get("/v1/events", headers=MEMBER).get_json()
    assert (types(body["events"]), body["next"]) == (LIFECYCLE, None)
    started, *_, requested = body["events"]
    (logged, *_) = bus.history(uuid)
    assert requested == {
        "id": logged["id"], "type": "container.create.requested", "time": logged["time"],
        "initiator": {"user_id": "member-p1", "project_id": "p1"}, "action": "create",
        "target": {"kind": "container", "uuid": uuid}, "outcome": "pending",
        "request_id": logged["request_id"], "data": logged["data"]}
    assert (started["action"], started["outcome"]) == ("start", "success")


def test_filters_by_container_uuid_or_name_type_request_and_time(
        client: Any, bus: EmbeddedBus, store: SqliteStore, record: Recorder) -> None:
    web = running(client, bus, store, headers=MEMBER, name="web")
    running(client, bus, store, headers=MEMBER, name="db")
    record()
    by_uuid = listed(client, f"?container={web}")
    assert types(by_uuid) == LIFECYCLE and {e["target"]["uuid"] for e in by_uuid} == {web}
    assert listed(client, "?container=web") == by_uuid
    assert types(listed(client, f"?container={web}&type=container.started,*.requested")) == \
        ["container.started", "container.create.requested"]
    assert len(listed(client, "?type=container.*")) == 8
    request_id = by_uuid[-1]["request_id"]
    assert listed(client, f"?request_id={request_id}") == by_uuid
    newest, second, third, oldest = by_uuid
    window = {"container": web, "since": third["time"], "until": second["time"]}
    assert listed(client, "?" + urllib.parse.urlencode(window)) == [second, third]
    # a + left unencoded arrives as a space, and is understood
    assert listed(client, f"?container={web}&since={newest['time']}") == [newest]


def test_a_capsule_is_found_by_uuid_or_name(client: Any, record: Recorder) -> None:
    capsule = client.post("/v1/capsules", json={"template": TEMPLATE}, headers=MEMBER)
    assert capsule.status_code == 202
    record()
    (entry,) = listed(client, "?capsule=pair")
    assert (entry["type"], entry["target"]) == (
        "capsule.create.requested", {"kind": "capsule", "uuid": capsule.get_json()["uuid"]})
    assert listed(client, f"?capsule={capsule.get_json()['uuid']}") == [entry]


def test_a_hosts_entries_name_the_uuid_that_hosts_shows(
        client: Any, bus: EmbeddedBus, record: Recorder) -> None:
    bus.publish([events.Envelope(
        id=publishing.new_id(), type=str(EventType.SERVICE_UPDATED),
        subject=events.host_subject("node-1"), seq=0, time=publishing.utc_now(),
        project_id="p1", user_id="admin-p1", request_id="req-1",
        data={"host": "node-1", "disabled": True})])
    record()
    (entry,) = listed(client, "?type=host.*", headers=ADMIN)
    assert entry["target"] == {"kind": "host", "uuid": host_uuid("node-1"), "name": "node-1"}


def test_pages_follow_the_next_link_with_the_same_filters(
        client: Any, bus: EmbeddedBus, store: SqliteStore, record: Recorder) -> None:
    running(client, bus, store, headers=MEMBER)
    running(client, bus, store, headers=MEMBER)
    record()
    everything = listed(client, "?type=container.*")
    seen, url = [], "/v1/events?type=container.*&limit=3"
    while url:
        body = client.get(url, headers=MEMBER).get_json()
        seen.append(body["events"])
        url = body["next"]
        if url:
            assert "type=container.%2A" in url and "limit=3" in url
    assert [len(page) for page in seen] == [3, 3, 2]
    assert [e for page in seen for e in page] == everything


def test_projects_see_only_their_own_record(
        client: Any, bus: EmbeddedBus, store: SqliteStore, record: Recorder) -> None:
    mine = running(client, bus, store, headers=MEMBER)
    theirs = running(client, bus, store, headers=OTHER_MEMBER)
    record()
    assert {e["target"]["uuid"] for e in listed(client, headers=READER)} == {mine}
    assert {e["target"]["uuid"] for e in listed(client, headers=OTHER_MEMBER)} == {theirs}
    assert listed(client, f"?container={mine}", headers=OTHER_MEMBER) == []
    assert {e["target"]["uuid"] for e in listed(client, "?all_projects=True",
                                                headers=ADMIN)} == {mine, theirs}
    assert {e["target"]["uuid"] for e in listed(client, "?project_id=p2",
                                                headers=ADMIN)} == {theirs}
    assert listed(client, "?project_id=p1", headers=READER) == listed(client, headers=READER)


@pytest.mark.parametrize("query", ["?all_projects=True", "?project_id=p2"])
def test_another_projects_record_is_for_admins(client: Any, query: str) -> None:
    response = client.get(f"/v1/events{query}", headers=MEMBER)
    assert (response.status_code, error_of(response)["detail"]) == (
        403, "Policy doesn't allow events:get_all_all_projects to be performed.")


def test_a_caller_with_no_role_in_the_project_may_not_read_it(client: Any) -> None:
    response = client.get("/v1/events", headers={**MEMBER, "X-Roles": "observer"})
    assert response.status_code == 403


BAD = [
    ("?type=Container.Started", "not an event type"),
    ("?type=container.exploded", "matches no audited event type"),
    ("?type=host.reported", "matches no audited event type"),
    ("?since=yesterday", "since 'yesterday' is not an RFC 3339 time"),
    ("?until=2026-13-01", "not an RFC 3339 time"),
    ("?since=2026-11-24T10:00:00Z&until=2026-11-24T09:00:00Z", "since is after until"),
    ("?limit=0", "not an integer of at least 1"),
    ("?limit=ten", "not an integer of at least 1"),
    ("?marker=6dca4fc1-a457-487b-9d55-dfbe091a1756", "not an event in this listing"),
    ("?request_id=", "request_id is empty"),
    ("?container=&type=container.*", "container is empty"),
    ("?container=a&capsule=b", "not both"),
    ("?subject=x", "Unknown query parameter(s): subject"),
    ("?watch=maybe", "watch"),
    ("?watch=true&limit=5", "limit does not apply to a watch"),
]


@pytest.mark.parametrize(("query", "detail"), BAD, ids=[b[0] for b in BAD])
def test_bad_filters_are_a_400_in_zuns_format(client: Any, query: str, detail: str) -> None:
    response = client.get(f"/v1/events{query}", headers=MEMBER)
    error = error_of(response)
    assert (response.status_code, error["code"]) == (400, "container.invalid_input")
    assert detail in error["detail"]


def test_an_unknown_container_name_is_not_found(client: Any) -> None:
    response = client.get("/v1/events?container=nothing", headers=MEMBER)
    assert (response.status_code, error_of(response)["detail"]) == (
        404, "Container nothing could not be found.")


def test_a_marker_of_another_project_is_refused(
        client: Any, bus: EmbeddedBus, store: SqliteStore, record: Recorder) -> None:
    running(client, bus, store, headers=OTHER_MEMBER)
    record()
    (theirs, *_) = listed(client, headers=OTHER_MEMBER)
    assert client.get(f"/v1/events?marker={theirs['id']}", headers=MEMBER).status_code == 400


# -- the watch (Server-Sent Events) --------------------------------------------------------------

FAST = api_events.WatchSettings(poll_seconds=0.01, keepalive_seconds=0.05, max_seconds=5,
                                lateness_seconds=0)


@pytest.fixture
def fast(app: flask.Flask) -> flask.Flask:
    app.config[api_events.CONFIG_KEY] = FAST
    return app


class Stream:
    """An SSE response read chunk by chunk (each chunk one message or comment)."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, response.get_json()
        assert response.mimetype == "text/event-stream"
        self.response = response
        self._chunks: Iterator[bytes] = iter(response.response)
        self.comments: list[str] = []

    def next_events(self, count: int, within: float = 3.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            text = next(self._chunks).decode()
            fields = dict(line.split(": ", 1) for line in text.strip().split("\n"))
            if "id" in fields:
                data = json.loads(fields["data"])
                assert (fields["id"], fields["event"]) == (data["id"], data["type"])
                found.append(data)
            else:
                self.comments += [line for line in text.split("\n") if line]
        return found

    def close(self) -> None:
        self.response.close()


def watch(client: Any, query: str = "", headers: dict[str, str] = MEMBER) -> Stream:
    return Stream(client.get(f"/v1/events?watch=true{query}", headers=headers,
                             buffered=False))


def test_a_watch_streams_new_entries_not_old_ones(
        fast: flask.Flask, client: Any, bus: EmbeddedBus, store: SqliteStore,
        record: Recorder) -> None:
    running(client, bus, store, headers=MEMBER)
    record()
    stream = watch(client)
    assert stream.next_events(1, within=0.3) == []  # what was there is not news
    uuid = running(client, bus, store, headers=MEMBER)
    record()
    streamed = stream.next_events(4)
    assert types(streamed) == LIFECYCLE[::-1]  # oldest first, as they happened
    assert {e["target"]["uuid"] for e in streamed} == {uuid}
    assert "retry: 2000" in stream.comments and ": watching" in stream.comments
    stream.close()


def test_a_watch_applies_the_filters_and_project(
        fast: flask.Flask, client: Any, bus: EmbeddedBus, store: SqliteStore,
        record: Recorder) -> None:
    stream = watch(client, "&type=container.started")
    running(client, bus, store, headers=OTHER_MEMBER)
    mine = running(client, bus, store, headers=MEMBER)
    record()
    (started,) = stream.next_events(1)
    assert (started["type"], started["target"]["uuid"]) == ("container.started", mine)
    assert stream.next_events(1, within=0.3) == []
    stream.close()


def test_a_watch_resumes_after_the_last_event_id(
        fast: flask.Flask, client: Any, bus: EmbeddedBus, store: SqliteStore,
        record: Recorder) -> None:
    running(client, bus, store, headers=MEMBER)
    record()
    oldest_first = listed(client)[::-1]
    stream = Stream(client.get("/v1/events?watch=true", headers={
        **MEMBER, "Last-Event-ID": oldest_first[1]["id"]}, buffered=False))
    assert stream.next_events(2) == oldest_first[2:]
    stream.close()
    # ?marker= does the same for a client that cannot set headers (an EventSource's first)
    stream = watch(client, f"&marker={oldest_first[2]['id']}")
    assert stream.next_events(1) == oldest_first[3:]
    stream.close()


def test_resuming_resends_what_may_have_been_recorded_late_at_least_once(
        app: flask.Flask, client: Any, bus: EmbeddedBus, store: SqliteStore,
        record: Recorder) -> None:
    app.config[api_events.CONFIG_KEY] = api_events.WatchSettings(
        poll_seconds=0.01, keepalive_seconds=0.05, lateness_seconds=3600)
    running(client, bus, store, headers=MEMBER)
    record()
    oldest_first = listed(client)[::-1]
    stream = Stream(client.get("/v1/events?watch=true", headers={
        **MEMBER, "Last-Event-ID": oldest_first[2]["id"]}, buffered=False))
    assert stream.next_events(3) == [oldest_first[0], oldest_first[1], oldest_first[3]]
    assert stream.next_events(1, within=0.3) == []  # each once
    stream.close()


def test_a_watch_from_since_sends_what_is_there_then_what_comes(
        fast: flask.Flask, client: Any, bus: EmbeddedBus, store: SqliteStore,
        record: Recorder) -> None:
    running(client, bus, store, headers=MEMBER)
    record()
    oldest_first = listed(client)[::-1]
    stream = watch(client, f"&since={oldest_first[2]['time']}".replace("+", "%2B"))
    assert stream.next_events(2) == oldest_first[2:]
    running(client, bus, store, headers=MEMBER)
    record()
    assert types(stream.next_events(4)) == LIFECYCLE[::-1]
    stream.close()


def test_an_idle_watch_sends_keep_alives_and_ends_after_its_longest_time(
        app: flask.Flask, client: Any) -> None:
    app.config[api_events.CONFIG_KEY] = api_events.WatchSettings(
        poll_seconds=0.01, keepalive_seconds=0.05, max_seconds=0.3)
    watches = app.extensions["higgins.watches"]
    stream = watch(client)
    assert watches.active == 1
    assert stream.next_events(1, within=0.2) == [] and ": keep-alive" in stream.comments
    rest = b"".join(stream._chunks).decode()
    assert rest.endswith(": watch ended; reconnect with Last-Event-ID to resume\n\n")
    stream.close()
    assert watches.active == 0


def test_watches_beyond_the_limit_are_a_503_until_one_ends(
        app: flask.Flask, client: Any) -> None:
    app.config[api_events.CONFIG_KEY] = api_events.WatchSettings(max_watches=1,
                                                                 poll_seconds=0.01)
    first = watch(client)
    refused = client.get("/v1/events?watch=true", headers=MEMBER)
    assert (refused.status_code, error_of(refused)["code"]) == (
        503, "container.service_unavailable")
    assert refused.headers["Retry-After"]
    first.close()
    second = watch(client)
    second.close()


# -- the watch under waitress, the server `higgins api` runs -----------------------------------


@pytest.fixture
def served(fast: flask.Flask) -> Iterator[tuple[int, Any]]:
    """The app under waitress as higgins.cli serves it (its defaults), on a free port."""
    server = waitress.create_server(fast, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server.effective_port, server
    server.close()
    thread.join(5)


def _read_until(sock: socket.socket, needle: bytes, within: float) -> bytes:
    sock.settimeout(within)
    received = b""
    deadline = time.monotonic() + within
    while needle not in received and time.monotonic() < deadline:
        received += sock.recv(65536)
    return received


def test_under_waitress_each_entry_is_sent_at_once_and_a_gone_client_frees_its_thread(
        fast: flask.Flask, served: tuple[int, Any], client: Any, bus: EmbeddedBus,
        store: SqliteStore, record: Recorder) -> None:
    port, _ = served
    sock = socket.create_connection(("127.0.0.1", port))
    headers = "".join(f"{k}: {v}\r\n" for k, v in MEMBER.items())
    sock.sendall(f"GET /v1/events?watch=true HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    assert b": watching" in _read_until(sock, b": watching", 2)
    uuid = running(client, bus, store, headers=MEMBER)
    record()
    began = time.monotonic()
    received = _read_until(sock, b"event: container.started", 2)
    assert f'"uuid":"{uuid}"'.encode() in received and time.monotonic() - began < 1
    watches = fast.extensions["higgins.watches"]
    assert watches.active == 1
    sock.close()
    deadline = time.monotonic() + 5  # the next keep-alives' writes fail: the stream is closed
    while watches.active and time.monotonic() < deadline:
        time.sleep(0.02)
    assert watches.active == 0


class Counting:
    """An AuditLog that remembers what each listing asked for."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.asked: list[tuple[Any, int]] = []

    def audit_entry(self, event_id: str) -> Any:
        return self.store.audit_entry(event_id)

    def audit_entries(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        found = self.store.audit_entries(query, *args, **kwargs)
        self.asked.append((query, len(found)))
        return found

    def record_audit(self, entries: Any) -> None:
        self.store.record_audit(entries)


def test_a_watch_for_a_rare_type_reads_only_the_recent_window(store: SqliteStore) -> None:
    def entry(kind: str, second: int) -> Any:
        return audit.entry(events.Envelope(
            id=publishing.new_id(), type=kind, subject=publishing.new_id(), seq=1,
            time=f"2026-11-24T10:{second // 60:02d}:{second % 60:02d}+00:00",
            project_id="p1", user_id="u1", request_id="req-1", data={}))

    store.record_audit([entry("container.lost", 0)] +
                       [entry("container.started", s) for s in range(600, 1200)])
    counting = Counting(store)
    query = audit.Query(project_id="p1", types=("container.lost",))
    cursor = api_events._start(counting, query, None, lateness=10)
    assert list(api_events._poll(counting, query, cursor, 10)) == []
    window, read = counting.asked[-1]  # the 10 s before the newest entry of the project
    assert window.since == "2026-11-24T10:19:49.000000Z" and read == 11
