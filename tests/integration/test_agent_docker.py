"""The agent against real Docker: redelivered commands, reconcile on start."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from higgins.agents.agent import Agent
from tests.integration.conftest import docker_containers, local_agent, wait_for
from tests.integration.conftest import stamped as command

pytestmark = pytest.mark.docker


@pytest.fixture
def agent(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Agent]:
    with local_agent(tmp_path, docker_client, "redeliver") as made:
        yield made


def results(agent: Agent, subject: str) -> list[str]:
    return [e["type"] for e in agent._bus.history(subject)]  # noqa: SLF001 - the test's own bus


def test_every_command_delivered_twice_has_one_effect_and_no_failure(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    subject = str(uuidlib.uuid4())
    agent._bus.publish([command("container.create.requested", subject, name="x",  # noqa: SLF001
                                image="busybox:local", command=["sleep", "300"])])
    steps: list[tuple[str, dict[str, object]]] = [
        ("agent.container.create", {"name": "x", "image": "busybox:local",
                                    "command": ["sleep", "300"], "run": True,
                                    "project_id": "p"}),
        ("agent.container.pause", {}), ("agent.container.unpause", {}),
        ("agent.container.stop", {"timeout": 1}), ("agent.container.start", {}),
        ("agent.container.kill", {"signal": "SIGKILL"})]
    for kind, data in steps:
        step = command(kind, subject, **data)  # issued when the previous step is done
        agent.handle(step)
        agent.handle(step)  # redelivered: same id, so its results are recorded once
    (container,) = docker_containers(docker_client, subject)
    assert container.status == "exited"
    assert "container.failed" not in results(agent, subject)
    assert results(agent, subject) == [
        "container.create.requested", "container.created", "container.started",
        "container.paused", "container.unpaused", "container.stopped", "container.started",
        "container.stopped"]


def _labelled(client: docker.DockerClient, agent: Agent, subject: str) -> None:
    client.containers.create("busybox:local", ["sleep", "300"], name=f"higgins-{subject}",
                             labels={"higgins.uuid": subject, "higgins.host": agent.host})


def test_reconcile_removes_docker_containers_of_deleted_containers_only(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    deleted, unknown = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    agent._bus.publish([  # noqa: SLF001 - the test's own bus
        command("container.create.requested", deleted, name="x", image="busybox:local",
                command=["sleep", "300"]),
        command("container.delete.requested", deleted, force=True, stop=True),
        command("container.deleted", deleted)])
    _labelled(docker_client, agent, deleted)
    _labelled(docker_client, agent, unknown)
    agent.reconcile()
    assert docker_containers(docker_client, deleted) == []
    assert len(docker_containers(docker_client, unknown)) == 1


def test_a_create_delivered_again_never_runs_the_command_twice(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    subject = str(uuidlib.uuid4())
    agent._bus.publish([command("container.create.requested", subject, name="once",  # noqa: SLF001
                                image="busybox:local", command=["sh", "-c", "exit 3"])])
    create = command("agent.container.create", subject, name="once", image="busybox:local",
                     command=["sh", "-c", "exit 3"], run=True, project_id="p")
    agent.handle(create)
    (container,) = docker_containers(docker_client, subject)
    wait_for(lambda: (container.reload(), container.status == "exited")[1], 10)
    first_start = container.attrs["State"]["StartedAt"]
    agent.handle(create)  # redelivered after the command already ran and exited
    container.reload()
    assert container.attrs["State"]["StartedAt"] == first_start
    assert results(agent, subject)[-1] == "container.stopped"


def test_a_start_delivered_again_never_runs_the_command_twice(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    subject = str(uuidlib.uuid4())
    agent._bus.publish([command("container.create.requested", subject, name="once",  # noqa: SLF001
                                image="busybox:local", command=["sh", "-c", "exit 3"])])
    agent.handle(command("agent.container.create", subject, name="once", image="busybox:local",
                         command=["sh", "-c", "exit 3"], run=False, project_id="p"))
    start = command("agent.container.start", subject)
    agent.handle(start)
    (container,) = docker_containers(docker_client, subject)
    wait_for(lambda: (container.reload(), container.status == "exited")[1], 10)
    first_start = container.attrs["State"]["StartedAt"]
    agent.handle(start)  # redelivered after the command already ran and exited
    container.reload()
    assert container.attrs["State"]["StartedAt"] == first_start
    assert results(agent, subject)[-2:] == ["container.started", "container.stopped"]


def test_reconcile_skips_live_sandboxes_and_removes_one_left_without_members(
        agent: Agent, docker_client: docker.DockerClient) -> None:
    """A capsule's sandbox is no Higgins container: reconcile neither trips over it nor
    keeps one whose members are all gone (a crash between removing them and it)."""
    capsule, member = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    agent._bus.publish([command("container.create.requested", member, name="m",  # noqa: SLF001
                                image="busybox:local", command=["sleep", "300"],
                                capsule_id=capsule)])
    agent.handle(command("agent.container.create", member, name="m", image="busybox:local",
                         command=["sleep", "300"], run=True, project_id="p",
                         capsule_id=capsule))
    sandbox = f"higgins-sandbox-{capsule}"
    assert docker_client.containers.get(sandbox).status == "running"
    agent.reconcile()
    assert docker_client.containers.get(sandbox).status == "running"  # its member still runs
    docker_client.containers.get(f"higgins-{member}").remove(force=True)
    agent.reconcile()
    assert not docker_client.containers.list(all=True, filters={"name": sandbox})
