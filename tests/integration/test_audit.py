"""The audit record end to end, on each backend with real Docker: GET /v1/events lists what the
log recorded of a container, newest first, with its CADF-like fields; filters narrow it; a
member of another project sees none of it; a watch streams new entries as they are recorded."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import requests

from higgins.api.identity import DEFAULT_PROJECT
from tests.integration.conftest import ALSO_KAFKA, V140, Api, Higgins, wait_for

OTHER = {"X-Project-Id": "audit-other", "X-User-Id": "u-other", "X-Roles": "member"}
ADMIN = {"X-Project-Id": "admins", "X-User-Id": "root", "X-Roles": "admin"}


def _logged(server: Higgins, uuid: str) -> list[dict[str, Any]]:
    bus = server.open_bus()
    try:
        return [dict(event) for event in bus.history(uuid)]
    finally:
        bus.close()


def _events(api: Api, query: str) -> list[dict[str, Any]]:
    response = api.call("GET", f"/v1/events?{query}")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def test_the_audit_record_is_the_log_newest_first_filtered_and_scoped(higgins: Higgins) -> None:
    api = Api(higgins.url)
    uuid = str(api.create(name="audited")["uuid"])
    api.wait_status(uuid, "Running")
    logged = _logged(higgins, uuid)
    listed = wait_for(lambda: (found := _events(api, f"container={uuid}")) and
                      len(found) == len(logged) and found, 30, "every event audited")
    assert {e["id"] for e in listed} == {e["id"] for e in logged}
    times = [e["time"] for e in listed]  # newest first (events of one moment: by id)
    assert times == sorted(times, reverse=True)
    first = next(e for e in listed if e["id"] == logged[0]["id"])
    assert first["type"] == "container.create.requested" and first["action"] == "create"
    assert first["outcome"] == "pending"
    assert first["target"] == {"kind": "container", "uuid": uuid}
    assert first["initiator"]["project_id"] == DEFAULT_PROJECT
    assert all(e["outcome"] == "success" for e in listed if e["type"] == "container.started")

    by_name = _events(api, "container=audited")
    assert [e["id"] for e in by_name][:len(listed)] == [e["id"] for e in listed]
    started = _events(api, f"container={uuid}&type=container.started")
    assert [e["type"] for e in started] == ["container.started"]
    requested = _events(api, f"container={uuid}&type=container.*.requested")
    assert [e["id"] for e in requested] == [first["id"]]
    same_request = _events(api, f"request_id={first['request_id']}")
    assert first["id"] in [e["id"] for e in same_request]
    paged = api.call("GET", f"/v1/events?container={uuid}&limit=2").json()
    assert [e["id"] for e in paged["events"]] == [e["id"] for e in listed[:2]]
    assert paged["next"]

    other = Api(higgins.url, OTHER)
    assert uuid not in {e["target"]["uuid"] for e in _events(other, "")}
    assert _events(other, f"container={uuid}") == []
    assert other.call("GET", "/v1/events?container=audited").status_code == 404  # by name
    assert other.call("GET", "/v1/events?all_projects=True").status_code == 403
    admin = Api(higgins.url, ADMIN)
    everywhere = _events(admin, f"all_projects=True&container={uuid}")
    assert [e["id"] for e in everywhere] == [e["id"] for e in listed]
    assert api.call("GET", "/v1/events?since=yesterday").status_code == 400
    api.call("DELETE", f"/v1/containers/{uuid}?force=True")


@ALSO_KAFKA
def test_a_watch_streams_entries_as_they_are_recorded(higgins: Higgins) -> None:
    api = Api(higgins.url)
    seen: list[dict[str, Any]] = []
    stream = requests.get(f"{higgins.url}/v1/events?watch=true&type=container.started",
                          headers={**V140}, stream=True, timeout=60)
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")

    def watch() -> None:
        with contextlib.suppress(requests.RequestException, AttributeError, ValueError):
            for line in stream.iter_lines(decode_unicode=True):  # until closed below
                if line and line.startswith("data:"):
                    seen.append(json.loads(line.removeprefix("data:")))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    uuid = str(api.create(name="watched")["uuid"])
    try:
        wait_for(lambda: any(e["target"]["uuid"] == uuid for e in seen), 30,
                 "container.started streamed")
        assert all(e["type"] == "container.started" for e in seen)
    finally:
        stream.close()
        api.call("DELETE", f"/v1/containers/{uuid}?force=True")
