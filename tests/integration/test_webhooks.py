"""Webhooks end to end, on each backend with real Docker: a receiver on 127.0.0.1 verifies every
signature with the Standard Webhooks library and sees every event of its project's containers
at least once, and none of another project's; a receiver that fails and recovers gets the
backlog; a dispatcher killed mid-delivery loses nothing."""

from __future__ import annotations

import datetime
import itertools
import subprocess
import sys
from typing import Any

from higgins.api.identity import DEFAULT_PROJECT
from tests.integration.conftest import ALSO_KAFKA, EMBEDDED_ONLY, Api, Higgins, wait_for
from tests.integration.receiver import Receiver

ROUND = 0.5  # seconds: more than a retry round's spread (retry_poll = 0.2 in conftest)
OTHER_PROJECT = {"X-Project-Id": "webhooks-other", "X-User-Id": "u-other", "X-Roles": "member"}


def _subscribe(api: Api, receiver: Receiver, **body: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/subscriptions",
                        json={"url": receiver.url, "event_types": ["container.*"], **body})
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    receiver.secret = made["secret"]
    return made


def _lifecycle(api: Api, name: str) -> str:
    """Create-and-run, stop, delete: a container's whole life; its uuid."""
    uuid = str(api.create(name=name)["uuid"])
    api.wait_status(uuid, "Running")
    assert api.action(uuid, "stop").status_code == 202
    api.wait_status(uuid, "Stopped")
    assert api.call("DELETE", f"/v1/containers/{uuid}").status_code == 204
    api.wait_gone(uuid)
    return uuid


def _logged(server: Higgins, uuid: str) -> list[str]:
    """The ids of the container's events in the log, in order."""
    bus = server.open_bus()
    try:
        return [event["id"] for event in bus.history(uuid)]
    finally:
        bus.close()


def _delivered(receiver: Receiver, ids: list[str], timeout: float = 60) -> None:
    wait_for(lambda: set(ids) <= {r.id for r in receiver.accepted()}, timeout,
             f"{len(ids)} events delivered")


@ALSO_KAFKA
def test_every_event_reaches_its_projects_subscriber_signed_and_no_other_project(
        higgins: Higgins) -> None:
    api, other = Api(higgins.url), Api(higgins.url, OTHER_PROJECT)
    with Receiver() as mine, Receiver() as theirs:
        made = _subscribe(api, mine)
        _subscribe(other, theirs, event_types=["*"])
        uuid = _lifecycle(api, "hooked")
        ids = _logged(higgins, uuid)
        assert len(ids) >= 6  # requested, scheduled, created, started, stop..., deleted
        _delivered(mine, ids)
        assert mine.forged == [] and theirs.forged == []
        assert {r.event["project_id"] for r in mine.received} == {DEFAULT_PROJECT}
        assert not {r.id for r in theirs.received} & set(ids)
        first = next(r for r in mine.received if r.id == ids[0])
        assert first.type == "container.create.requested" and first.event["subject"] == uuid
        log = api.call("GET", f"/v1/subscriptions/{made['uuid']}/deliveries").json()
        assert {d["event_id"] for d in log["deliveries"] if d["delivered"]} >= set(ids)
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


@EMBEDDED_ONLY
def test_filters_pick_the_events_of_one_container(higgins: Higgins) -> None:
    api = Api(higgins.url)
    with Receiver() as hooks:
        made = _subscribe(api, hooks, event_types=["container.started", "container.deleted"],
                          filters={"containers": ["filtered-in"]})
        kept, dropped = _lifecycle(api, "filtered-in"), _lifecycle(api, "filtered-out")
        wanted = [i for i, e in zip(_logged(higgins, kept), _events(higgins, kept), strict=True)
                  if e in ("container.started", "container.deleted")]
        _delivered(hooks, wanted)
        assert {r.event["subject"] for r in hooks.received} == {kept}
        assert dropped not in {r.event["subject"] for r in hooks.received}
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


def _events(server: Higgins, uuid: str) -> list[str]:
    bus = server.open_bus()
    try:
        return [event["type"] for event in bus.history(uuid)]
    finally:
        bus.close()


def test_a_receiver_that_fails_then_recovers_gets_the_backlog_in_retry_order(
        higgins: Higgins) -> None:
    api = Api(higgins.url)
    with Receiver(status=500) as hooks:
        made = _subscribe(api, hooks)
        uuid = _lifecycle(api, "backlog")
        ids = _logged(higgins, uuid)
        wait_for(lambda: set(ids) <= {r.id for r in hooks.received}, 60, "first attempts")
        failed = api.call("GET", f"/v1/subscriptions/{made['uuid']}/deliveries").json()
        assert any(d["status_code"] == 500 and not d["delivered"]
                   for d in failed["deliveries"])
        hooks.status = 204
        _delivered(hooks, ids, timeout=60)
        arrived = [r.id for r in hooks.accepted()]
        log = api.call("GET", f"/v1/subscriptions/{made['uuid']}/deliveries?limit=1000").json()
        retried = {d["event_id"]: d for d in log["deliveries"] if d["delivered"]}
        assert set(retried) == set(ids)  # none skipped
        assert all(d["attempt"] >= 2 for d in retried.values())  # each came on a retry
        # as the retries fell due: a retry made later arrived later (those of one round of
        # the retry loop are sent at once, so within a round the order is free)
        tried = [datetime.datetime.fromisoformat(retried[i]["at"]).timestamp() for i in arrived]
        assert all(later >= earlier - ROUND for earlier, later in itertools.pairwise(tried))
        shown = api.call("GET", f"/v1/subscriptions/{made['uuid']}").json()
        assert shown["enabled"] is True
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


@EMBEDDED_ONLY
def test_a_subscription_whose_retries_run_out_is_disabled_with_the_reason(
        higgins: Higgins) -> None:
    api = Api(higgins.url)
    with Receiver(status=503) as hooks:
        made = _subscribe(api, hooks, event_types=["container.create.requested"])
        api.create(name="never-delivered", run=False)

        def disabled() -> dict[str, Any] | None:
            shown: dict[str, Any] = api.call("GET", f"/v1/subscriptions/{made['uuid']}").json()
            return shown if not shown["enabled"] else None

        shown = wait_for(disabled, 60, "the subscription to be disabled")
        assert "6 failed attempts" in shown["disabled_reason"]  # 1 + the 5 retries configured
        assert "HTTP 503" in shown["disabled_reason"]
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


@EMBEDDED_ONLY
def test_a_manual_redelivery_sends_the_event_again(higgins: Higgins) -> None:
    api = Api(higgins.url)
    with Receiver() as hooks:
        made = _subscribe(api, hooks)
        uuid = str(api.create(name="again", run=False)["uuid"])
        first = _logged(higgins, uuid)[0]
        _delivered(hooks, [first])
        wait_for(lambda: api.call("GET", f"/v1/events?container={uuid}").json()["events"],
                 30, "the audit record")
        answer = api.call("POST", f"/v1/subscriptions/{made['uuid']}/redeliver",
                          json={"event_id": first})
        assert answer.status_code == 202 and answer.json() == {"redelivering": 1}
        wait_for(lambda: [r.id for r in hooks.accepted()].count(first) >= 2, 30,
                 "the event sent again")
        api.call("DELETE", f"/v1/containers/{uuid}")
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


def test_killing_the_dispatcher_mid_delivery_loses_nothing(fresh_deployment: Higgins) -> None:
    server = fresh_deployment
    server.start()
    api = Api(server.url)
    with Receiver(delay=0.3) as hooks:  # slow: the kill lands while deliveries are in flight
        _subscribe(api, hooks)
        uuids = [str(api.create(name=f"killed-{i}", run=False)["uuid"]) for i in range(6)]
        wait_for(lambda: len(hooks.received) >= 2, 30, "deliveries under way")
        kill = getattr(server, "kill9_role", None)
        if kill is not None:
            kill("processor")  # the dispatcher's process, alone
        else:
            server.kill9()  # embedded: the one process
        server.start()
        for uuid in uuids:
            api.wait_status(uuid, "Created", timeout=60)
        ids = [i for uuid in uuids for i in _logged(server, uuid)]
        _delivered(hooks, ids, timeout=90)
        assert hooks.forged == []


def _replay(server: Higgins, *options: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(server.config), "replay",
         "--redeliver", *options], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@EMBEDDED_ONLY
def test_replay_redelivers_a_time_range_to_a_subscription(higgins: Higgins) -> None:
    api = Api(higgins.url)
    with Receiver() as hooks:
        made = _subscribe(api, hooks, event_types=["container.create.requested"])
        since = datetime.datetime.now(datetime.UTC).isoformat()
        uuids = [str(api.create(name=f"ranged-{i}", run=False)["uuid"]) for i in range(3)]
        firsts = [_logged(higgins, uuid)[0] for uuid in uuids]
        _delivered(hooks, firsts)
        wait_for(lambda: len(_audited(api, uuids)) == 3, 30, "the audit record")
        until = datetime.datetime.now(datetime.UTC).isoformat()
        printed = _replay(higgins, "--from", since, "--to", until,
                          "--subscription", made["uuid"])
        assert printed.startswith("3 deliveries due again")
        wait_for(lambda: all([r.id for r in hooks.accepted()].count(i) >= 2 for i in firsts),
                 30, "the range sent again")
        for uuid in uuids:
            api.call("DELETE", f"/v1/containers/{uuid}")
        api.call("DELETE", f"/v1/subscriptions/{made['uuid']}")


def _audited(api: Api, uuids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        e for uuid in uuids for e in api.call(
            "GET", f"/v1/events?container={uuid}&type=container.create.requested").json()["events"]]
    return found
