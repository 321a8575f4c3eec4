"""EDGE: the agent's image work: pull and remove images on this host (Zun's /v1/images), and
commit a container into a new local image. Side effects: Docker calls.
Each returns the events to report; a refusal by Docker is reported, never raised."""

from __future__ import annotations

from typing import Any

from higgins import events
from higgins.agents.docker_driver import DockerDriver, DriverError
from higgins.agents.glance_images import GlanceImages
from higgins.events import CommandType, EventType

Drafts = list[events.Draft]


def run(driver: DockerDriver, host: str, command: events.Envelope,
        glance: GlanceImages | None = None) -> Drafts:
    """The events that report one image command (a pull or a delete) or a commit."""
    kind, subject, data = command["type"], command["subject"], command["data"]
    if kind == CommandType.IMAGE_PULL:
        return _pull(driver, subject, data)
    if kind == CommandType.IMAGE_DELETE:
        return _delete(driver, subject, data)
    if kind == CommandType.COMMIT:
        return _commit(driver, host, subject, data, glance)
    raise ValueError(f"not an image command: {kind}")


def is_image_work(command: events.Envelope) -> bool:
    return command["type"] in (CommandType.IMAGE_PULL, CommandType.IMAGE_DELETE,
                               CommandType.COMMIT)


def _pull(driver: DockerDriver, subject: str, data: dict[str, Any]) -> Drafts:
    try:
        image_id, size = driver.pull_image(data["repo"], data["tag"],
                                           data.get("image_pull_policy"))
    except DriverError as error:
        return [events.Draft(EventType.IMAGE_PULL_FAILED, subject, {"reason": str(error)})]
    return [events.Draft(EventType.IMAGE_PULLED, subject, {"image_id": image_id, "size": size})]


def _delete(driver: DockerDriver, subject: str, data: dict[str, Any]) -> Drafts:
    try:
        driver.remove_image(f"{data['repo']}:{data['tag']}", data.get("image_id"))
    except DriverError as error:
        return [events.Draft(EventType.IMAGE_DELETE_FAILED, subject, {"reason": str(error)})]
    return [events.Draft(EventType.IMAGE_DELETED, subject, {})]


def _commit(driver: DockerDriver, host: str, uuid: str, data: dict[str, Any],
            glance: GlanceImages | None) -> Drafts:
    """The container's action finishes (committed or commit.failed), and a committed image
    begins its own history on the image's subject. With glance, the image is uploaded into
    the Glance image the API reserved before the commit counts as done."""
    image_uuid = data["image_uuid"]
    try:
        image_id, size = driver.commit(uuid, data["repository"], data["tag"])
        if data.get("glance"):
            if glance is None:
                raise DriverError(f"Host {host} has no Glance configured to upload into.")
            glance.upload(image_uuid, f"{data['repository']}:{data['tag']}")
    except DriverError as error:
        return [events.Draft(EventType.COMMIT_FAILED, uuid,
                             {"image_uuid": image_uuid, "reason": str(error)})]
    image = {"repo": data["repository"], "tag": data["tag"], "host": host,
             "image_id": image_id, "size": size, "container_uuid": uuid}
    return [events.Draft(EventType.COMMITTED, uuid, {"image_uuid": image_uuid,
                                                      "image_id": image_id}),
            events.Draft(EventType.IMAGE_COMMITTED, events.image_subject(image_uuid), image)]
