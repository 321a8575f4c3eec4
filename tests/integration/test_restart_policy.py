"""Restart policies enforced by Higgins on real Docker: Docker's own policy is off, an exit the
policy names is restarted by Higgins (an event each, counted in restart_count), on-failure:N
gives up after N, and neither policy `no` nor a user's stop brings a container back."""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from higgins.agents.agent import Agent
from higgins.bus.base import Bus
from higgins.events import EventType
from higgins.processors import containers
from higgins.processors.model import ContainerState
from tests.integration.conftest import (
    Api,
    Higgins,
    docker_containers,
    local_agent,
    wait_for,
)
from tests.integration.conftest import stamped as recorded

pytestmark = pytest.mark.docker

QUIET_SECONDS = 2.0  # how long "nothing more happens" is watched: 5x the third backoff (0.4 s)


@pytest.fixture
def bus(higgins: Higgins) -> Iterator[Bus]:
    opened = higgins.open_bus()
    yield opened
    opened.close()


def folded(bus: Bus, uuid: str) -> ContainerState:
    state = containers.fold_all(None, bus.history(uuid))
    assert state is not None
    return state


def restarts_recorded(bus: Bus, uuid: str) -> list[dict[str, Any]]:
    return [e["data"] for e in bus.history(uuid) if e["type"] == EventType.RESTART_SCHEDULED]


def status_of(api: Api, uuid: str) -> str | None:
    shown = api.show(uuid)
    return shown["status"] if shown else None


def stays(probe: Any, seconds: float = QUIET_SECONDS) -> bool:
    """Whether `probe()` stays true for `seconds` (what must not happen has time to)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not probe():
            return False
        time.sleep(0.1)
    return True


def test_on_failure_2_restarts_a_failing_container_twice_then_leaves_it_stopped(
        api: Api, bus: Bus, docker_client: docker.DockerClient) -> None:
    uuid = api.create(command=["sh", "-c", "exit 1"],
                      restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})["uuid"]
    wait_for(lambda: len(restarts_recorded(bus, uuid)) == 2, 30, "two restarts")
    shown = api.wait_status(uuid, "Stopped")
    assert shown["status_detail"] == "Exited (1)"
    assert stays(lambda: status_of(api, uuid) == "Stopped")
    state = folded(bus, uuid)
    assert (state.restart_count, state.status) == (2, "Stopped")
    assert [r["restart_count"] for r in restarts_recorded(bus, uuid)] == [1, 2]
    assert [r["delay"] for r in restarts_recorded(bus, uuid)] == [0.1, 0.2]  # backing off
    starts = [e for e in bus.history(uuid) if e["type"] == EventType.STARTED]
    assert len(starts) == 3  # the run and two restarts
    (container,) = docker_containers(docker_client, uuid)
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"  # Docker's is off


def test_always_starts_again_a_container_killed_behind_its_back(
        api: Api, bus: Bus, docker_client: docker.DockerClient) -> None:
    uuid = api.create(restart_policy={"Name": "always"})["uuid"]
    api.wait_status(uuid, "Running")
    (container,) = docker_containers(docker_client, uuid)
    assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"
    first_start = container.attrs["State"]["StartedAt"]
    container.kill()  # SIGKILL: exits 137, and Docker leaves it exited
    wait_for(lambda: restarts_recorded(bus, uuid), 30, "a restart")
    api.wait_status(uuid, "Running")
    container.reload()
    assert container.status == "running"
    assert container.attrs["State"]["StartedAt"] != first_start
    (restart,) = restarts_recorded(bus, uuid)
    assert (restart["restart_count"], restart["exit_code"]) == (1, 137)
    assert folded(bus, uuid).restart_count == 1


def test_policy_no_leaves_an_exited_container_stopped(api: Api, bus: Bus) -> None:
    uuid = api.create(command=["sh", "-c", "exit 1"], restart_policy={"Name": "no"})["uuid"]
    api.wait_status(uuid, "Stopped")
    assert stays(lambda: status_of(api, uuid) == "Stopped")
    assert restarts_recorded(bus, uuid) == []


def test_a_container_the_user_stopped_stays_stopped_under_always(api: Api, bus: Bus) -> None:
    uuid = api.create(restart_policy={"Name": "always"})["uuid"]
    api.wait_status(uuid, "Running")
    assert api.action(uuid, "stop", "?timeout=1").status_code == 202
    api.wait_status(uuid, "Stopped")
    assert stays(lambda: status_of(api, uuid) == "Stopped")
    assert restarts_recorded(bus, uuid) == []
    assert api.action(uuid, "start").status_code == 202  # a user's start: the policy again
    api.wait_status(uuid, "Running")


# -- the agent's side: the delay waited on a timer, the restart done only while still due ------


@pytest.fixture
def agent(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Agent]:
    with local_agent(tmp_path, docker_client, "restarts") as made:
        yield made


def exited_always(agent: Agent, docker_client: docker.DockerClient) -> str:
    """A container with policy always that ran, exited behind Higgins' back, and whose restart
    (the first) is scheduled."""
    subject = str(uuidlib.uuid4())
    bus = agent._bus  # noqa: SLF001 - the test's own bus
    bus.publish([recorded("container.create.requested", subject, name="x",
                          image="busybox:local", command=["sleep", "300"],
                          restart_policy={"Name": "always", "MaximumRetryCount": "0"}),
                 recorded("container.scheduled", subject, host=agent.host)])
    agent.handle(recorded("agent.container.create", subject, name="x", image="busybox:local",
                          command=["sleep", "300"], run=True, project_id="p"))
    (container,) = docker_containers(docker_client, subject)
    container.kill()

    def exit_reported() -> bool:
        agent.check(subject)  # what the agent's watcher does on Docker's "die"
        return types(agent, subject)[-1] == "container.stopped"

    wait_for(exit_reported, 10, "the exit reported")
    bus.publish([recorded("container.restart.scheduled", subject, restart_count=1,
                          backoff_step=0, delay=0.5, exit_code=137)])
    return subject


def types(agent: Agent, subject: str) -> list[str]:
    return [e["type"] for e in agent._bus.history(subject)]  # noqa: SLF001


def test_the_agent_starts_a_due_restart_after_its_delay_without_holding_a_worker(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    subject = exited_always(agent, docker_client)
    began = time.monotonic()
    agent.handle(recorded("agent.container.start", subject, restart_count=1, delay=0.5))
    assert time.monotonic() - began < 0.4  # acknowledged at once: a timer waits, not a worker
    assert types(agent, subject)[-1] == "container.restart.scheduled"
    wait_for(lambda: types(agent, subject)[-1] == "container.started", 10, "the restart")
    assert time.monotonic() - began >= 0.5
    (container,) = docker_containers(docker_client, subject)
    assert container.status == "running"


def test_the_agent_drops_a_restart_the_user_overtook_during_its_delay(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    subject = exited_always(agent, docker_client)
    agent.handle(recorded("agent.container.start", subject, restart_count=1, delay=0.5))
    agent._bus.publish([recorded("container.stop.requested", subject)])  # noqa: SLF001
    assert stays(lambda: types(agent, subject)[-1] == "container.stop.requested", 1.5)
    (container,) = docker_containers(docker_client, subject)
    assert container.status == "exited"
