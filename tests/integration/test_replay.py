"""Invariant 1: the retained events reproduce every view exactly (audit replay)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from higgins import publishing, settings
from higgins import store as stores
from higgins.processors.model import ContainerState, Status
from higgins.store.base import Store
from higgins.store.sqlite import SqliteStore
from tests.integration.conftest import Api, Higgins, push_to_registry, wait_for

pytestmark = pytest.mark.docker


def replay(server: Higgins, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "higgins.cli", "--config-file", str(server.config), "replay",
         *options], capture_output=True, text=True, timeout=60)


def test_the_log_reproduces_every_view_and_a_tampered_view_is_caught(
        fresh_higgins: Higgins, docker_client: docker.DockerClient) -> None:
    fresh_higgins.start()
    api = Api(fresh_higgins.url)
    running = api.create(name="kept")["uuid"]
    stopped = api.create(name="stopped")["uuid"]
    gone = api.create(name="gone")["uuid"]
    broken = api.create(image="no-such-image:local", image_pull_policy="never")["uuid"]
    for uuid in (running, stopped, gone):
        api.wait_status(uuid, "Running")
    api.action(stopped, "kill")
    api.call("DELETE", f"/v1/containers/{gone}?force=True")
    api.call("PATCH", f"/v1/containers/{running}", json={"name": "renamed"})
    api.wait_status(stopped, "Stopped")
    api.wait_status(broken, "Error")
    api.wait_gone(gone)
    pulled = api.call("POST", "/v1/images", json={"repo": push_to_registry(docker_client),
                                                  "host": fresh_higgins.host}).json()["uuid"]
    template = {"kind": "capsule", "metadata": {"name": "pod"},
                "spec": {"containers": [{"image": "busybox:local", "command": ["sleep", "60"]}]}}
    pod = api.call("POST", "/v1/capsules", json={"template": template}).json()["uuid"]
    wait_for(lambda: api.call("GET", f"/v1/images/{pulled}").json()["image_id"], 60, "pull")
    wait_for(lambda: api.call("GET", f"/v1/capsules/{pod}").json()["status"] == "Running", 60,
             "the capsule")
    assert replay(fresh_higgins, "--check").returncode == 1  # refused: higgins still runs
    fresh_higgins.stop()

    checked = replay(fresh_higgins, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # 4 containers, the host, the image, the capsule and its container
    assert "8 subjects replayed, 0 differ" in checked.stdout

    views = sqlite3.connect(fresh_higgins.workdir / "state" / "views.db")
    with views:
        views.execute("UPDATE containers SET body = replace(body, 'renamed', 'forged')")
    views.close()
    tampered = replay(fresh_higgins, "--check")
    assert tampered.returncode == 1 and running in tampered.stdout

    rebuilt = replay(fresh_higgins, "--into", str(fresh_higgins.workdir / "rebuilt.db"))
    assert rebuilt.returncode == 0 and "rebuilt 8 views" in rebuilt.stdout


@pytest.fixture
def views(fresh_deployment: Higgins) -> Iterator[Store]:
    """The deployment's own views (its SQLite file, or its Cassandra keyspace), read directly."""
    store = stores.by_url(settings.load([], [str(fresh_deployment.config)]).store_url)
    yield store
    store.close()


_UNSETTLED = (Status.CREATING, Status.DELETING, Status.REBUILDING)


def settled(views: Store, uuids: list[str]) -> dict[str, ContainerState] | None:
    """Every container's view, once none of them is in the middle of anything."""
    found = {uuid: views.load_container(uuid) for uuid in uuids}
    if all(s is not None and s.task_state is None and s.status not in _UNSETTLED
           for s in found.values()):
        return {uuid: state for uuid, state in found.items() if state is not None}
    return None


def capture(views: Store, uuids: list[str]) -> tuple[str, dict[str, ContainerState]]:
    """Wait until the views are settled; the moment (after they were read) and the views."""
    captured = wait_for(lambda: settled(views, uuids), 60, "the containers to settle")
    return publishing.utc_now(), captured


def test_replay_as_of_equals_the_views_captured_at_that_time(
        fresh_deployment: Higgins, views: Store, tmp_path: Path) -> None:
    server = fresh_deployment
    server.start()
    api = Api(server.url)
    made = [api.create(name=f"c{i}")["uuid"] for i in range(3)]
    moments = [capture(views, made)]

    api.action(made[0], "stop", "?timeout=1")
    api.call("DELETE", f"/v1/containers/{made[1]}?force=True")
    made.append(api.create(run=False, name="c3")["uuid"])
    moments.append(capture(views, made))

    api.action(made[0], "start")
    api.call("PATCH", f"/v1/containers/{made[2]}", json={"name": "renamed"})
    api.call("DELETE", f"/v1/containers/{made[2]}?stop=True")
    made.append(api.create(name="c4")["uuid"])
    moments.append(capture(views, made))

    api.action(made[4], "kill")  # after the last moment: none of the moments sees it
    api.call("DELETE", f"/v1/containers/{made[0]}?force=True")
    api.wait_gone(made[0])
    api.wait_status(made[4], "Stopped")
    server.stop()  # the embedded log is replayed with Higgins stopped

    intos = [tmp_path / f"as-of-{index}.db" for index in range(len(moments))]
    with contextlib.ExitStack() as running_replays:
        replays = [running_replays.enter_context(subprocess.Popen(  # side by side, one process each
            [sys.executable, "-m", "higgins.cli", "--config-file", str(server.config), "replay",
             "--as-of", moment, "--into", str(into), "--processes", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            for (moment, _), into in zip(moments, intos, strict=True)]
        for (moment, captured), into, running in zip(moments, intos, replays, strict=True):
            output, _ = running.communicate(timeout=60)
            assert running.returncode == 0, output
            past = SqliteStore(into)
            assert {u: past.load_container(u) for u in made} == \
                {u: captured.get(u) for u in made}, f"as of {moment}"
            alive = [s.uuid for s in past.find_containers()]
            assert sorted(alive) == sorted(u for u, s in captured.items()
                                           if s.status is not Status.DELETED)
            past.close()
