"""Invariant 1: the retained events reproduce every view exactly (audit replay)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import docker
import pytest

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
