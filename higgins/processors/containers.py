"""PURE: the container lifecycle: decide(state, action) -> event | Refusal; fold(state, event)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors import networks
from higgins.processors.model import (
    Action,
    ContainerState,
    Outcome,
    Refusal,
    Status,
    TaskState,
    folded,
)

S = Status

# Zun's valid-state matrix (zun/compute/api.py VALID_STATES), for the actions Higgins has.
VALID_STATES: Mapping[Action, frozenset[Status]] = {
    Action.START: frozenset({S.CREATED, S.STOPPED, S.ERROR}),
    Action.STOP: frozenset({S.RUNNING, S.RESTARTING}),  # Restarting: Higgins' own backoff
    Action.REBOOT: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.ERROR}),
    Action.PAUSE: frozenset({S.RUNNING}),
    Action.UNPAUSE: frozenset({S.PAUSED}),
    Action.KILL: frozenset({S.RUNNING}),
    Action.DELETE: frozenset({S.CREATED, S.ERROR, S.STOPPED, S.DELETED, S.DEAD}),
    Action.DELETE_FORCE: frozenset(
        {S.CREATED, S.CREATING, S.ERROR, S.RUNNING, S.STOPPED, S.UNKNOWN, S.DELETED,
         S.DEAD, S.RESTARTING, S.REBUILDING, S.DELETING}
    ),
    Action.DELETE_AFTER_STOP: frozenset(
        {S.RUNNING, S.CREATED, S.ERROR, S.STOPPED, S.DELETED, S.DEAD, S.RESTARTING}
    ),
    Action.LOGS: frozenset({S.CREATED, S.ERROR, S.PAUSED, S.RUNNING, S.STOPPED, S.UNKNOWN}),
    Action.EXECUTE: frozenset({S.RUNNING}),
    Action.UPDATE: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.PAUSED}),
    Action.RENAME: frozenset(s for s in Status if s not in (S.DELETING, S.DELETED)),
    Action.TOP: frozenset({S.RUNNING}),
    Action.REBUILD: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.ERROR}),
    Action.GET_ARCHIVE: frozenset({S.CREATED, S.PAUSED, S.RUNNING, S.STOPPED}),
    Action.PUT_ARCHIVE: frozenset({S.CREATED, S.PAUSED, S.RUNNING, S.STOPPED}),
    Action.STATS: frozenset({S.RUNNING}),
    Action.COMMIT: frozenset({S.RUNNING, S.STOPPED, S.PAUSED}),
    Action.RESIZE: frozenset({S.RUNNING}),
    Action.EXECUTE_RESIZE: frozenset({S.RUNNING}),
    Action.RESIZE_CONTAINER: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.PAUSED}),
    Action.NETWORK_ATTACH: frozenset({S.CREATED, S.RUNNING, S.STOPPED}),
    Action.NETWORK_DETACH: frozenset({S.CREATED, S.RUNNING, S.STOPPED}),
    Action.NETWORK_LIST: frozenset(s for s in Status if s not in (S.DELETED,)),
    Action.ADD_SECURITY_GROUP: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.PAUSED}),
    Action.REMOVE_SECURITY_GROUP: frozenset({S.CREATED, S.RUNNING, S.STOPPED, S.PAUSED}),
}

_REQUESTED: Mapping[Action, EventType] = {
    Action.START: EventType.START_REQUESTED,
    Action.STOP: EventType.STOP_REQUESTED,
    Action.REBOOT: EventType.REBOOT_REQUESTED,
    Action.PAUSE: EventType.PAUSE_REQUESTED,
    Action.UNPAUSE: EventType.UNPAUSE_REQUESTED,
    Action.KILL: EventType.KILL_REQUESTED,
    Action.DELETE: EventType.DELETE_REQUESTED,
    Action.DELETE_FORCE: EventType.DELETE_REQUESTED,
    Action.DELETE_AFTER_STOP: EventType.DELETE_REQUESTED,
    Action.RENAME: EventType.RENAMED,
    Action.UPDATE: EventType.UPDATE_REQUESTED,
    Action.REBUILD: EventType.REBUILD_REQUESTED,
    Action.COMMIT: EventType.COMMIT_REQUESTED,
    Action.NETWORK_ATTACH: EventType.NETWORK_ATTACH_REQUESTED,
    Action.NETWORK_DETACH: EventType.NETWORK_DETACH_REQUESTED,
    Action.ADD_SECURITY_GROUP: EventType.SECURITY_GROUP_ADD_REQUESTED,
    Action.REMOVE_SECURITY_GROUP: EventType.SECURITY_GROUP_REMOVE_REQUESTED,
}


def check(state: ContainerState, action: Action) -> Refusal | None:
    """Refuse an action the current status does not allow (Zun's 409)."""
    if state.status in VALID_STATES[action]:
        return None
    verb = "delete" if action in (Action.DELETE_FORCE, Action.DELETE_AFTER_STOP) else action
    return Refusal(action=str(verb), uuid=state.uuid, status=state.status)


def decide(
    state: ContainerState, action: Action, params: Mapping[str, Any] | None = None
) -> events.Draft | Refusal:
    """The event a user's action records, or why it may not happen now."""
    refusal = check(state, action)
    if refusal is not None:
        return refusal
    data = dict(params or {})
    if action in (Action.DELETE, Action.DELETE_FORCE, Action.DELETE_AFTER_STOP):
        data = {"force": action == Action.DELETE_FORCE, "stop": action != Action.DELETE}
    if action is Action.REBUILD:
        # As Zun: the rebuilt container runs again if it was running when asked.
        kept = ("image", "image_driver", "glance_image") if data.get("image") else ()
        data = {**{key: data[key] for key in kept if key in data},
                "run": state.status is S.RUNNING}
    return events.Draft(_REQUESTED[action], state.uuid, data)


def created_state(envelope: events.Envelope) -> ContainerState:
    """The first state of a container, from its container.create.requested event."""
    spec = envelope["data"]
    return ContainerState(
        uuid=envelope["subject"],
        seq=envelope["seq"],
        project_id=envelope["project_id"],
        user_id=envelope["user_id"],
        name=spec["name"],
        image=spec["image"],
        status=Status.CREATING,
        task_state=TaskState.CREATING,
        created_at=envelope["time"],
        command=tuple(spec.get("command") or ()),
        entrypoint=tuple(spec.get("entrypoint") or ()),
        cpu=spec.get("cpu"),
        memory=spec.get("memory"),
        environment=dict(spec.get("environment") or {}),
        labels=dict(spec.get("labels") or {}),
        workdir=spec.get("workdir"),
        hostname=spec.get("hostname"),
        restart_policy=dict(spec.get("restart_policy") or {}),
        auto_remove=bool(spec.get("auto_remove")),
        auto_heal=bool(spec.get("auto_heal")),
        interactive=bool(spec.get("interactive")),
        tty=bool(spec.get("tty")),
        image_pull_policy=spec.get("image_pull_policy"),
        image_driver=spec.get("image_driver") or "docker",
        glance_image=dict(spec.get("glance_image") or {}),
        nets=[dict(net) for net in spec.get("nets") or ()],
        security_groups=list(spec.get("security_groups") or ()),
        security_group_ids=list(spec.get("security_group_ids") or ()),
        volumes=[dict(v) for v in spec.get("volumes") or ()],
        exposed_ports=dict(spec.get("exposed_ports") or {}),
        exposed_group=spec.get("exposed_group"),
        requested_host=spec.get("requested_host"),
        injected_files=dict(spec.get("injected_files") or {}),
        capsule_id=spec.get("capsule_id"),
        hints=dict(spec.get("hints") or {}),
        availability_zone=spec.get("availability_zone"),
        disk=spec.get("disk"),
        run=bool(spec.get("run")),
    )


Folder = Callable[[ContainerState, Mapping[str, Any]], ContainerState]


def _settled(status: Status) -> Folder:
    def apply(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
        if state.status in (S.DELETING, S.DELETED):
            return state  # late news about a container on its way out changes nothing
        return state.evolve(status=status, task_state=None, status_reason=None)

    return apply


def _requested(task: TaskState) -> Folder:
    def apply(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
        return state.evolve(task_state=task)

    return apply


def _stop_requested(task: TaskState) -> Folder:
    """A user's stop or kill: the restart policy leaves it stopped (Docker's manual stop)."""
    def apply(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
        return state.evolve(task_state=task, manually_stopped=True)

    return apply


def _start_requested(task: TaskState) -> Folder:
    """A user's start (or reboot): the restart policy applies again, its count from zero
    (as Docker resets RestartCount on a start)."""
    def apply(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
        return state.evolve(task_state=task, manually_stopped=False, restart_count=0,
                            restart_step=0)

    return apply


def _restart_scheduled(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    """Higgins restarts it after a backoff: Restarting (as Docker shows it meanwhile), counted
    once (a restart of a count already counted, or for a container no longer stopped by
    itself, changes nothing)."""
    if state.status is not S.STOPPED or state.task_state is not None or state.manually_stopped \
            or data["restart_count"] <= state.restart_count:
        return state
    return state.evolve(status=S.RESTARTING, restart_count=data["restart_count"],
                        restart_step=data["backoff_step"])


def _scheduled(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    return state.evolve(host=data["host"])


def _created(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    state = state.evolve(container_id=data["container_id"], host=data.get("host", state.host))
    if "ports" in data:
        state = state.evolve(addresses=dict(data.get("addresses") or {}),
                             ports=list(data["ports"]))
    if "volume_mounts" in data:
        state = state.evolve(volume_mounts=list(data["volume_mounts"]))
    if state.status in (S.DELETING, S.DELETED):
        return state
    task = TaskState.STARTING if state.run else None
    return state.evolve(status=S.CREATED, task_state=task, status_reason=None)


def _stopped(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    state = _settled(S.STOPPED)(state, data)
    return state.evolve(exit_code=data.get("exit_code"))


def _failed(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    return state.evolve(status=S.ERROR, task_state=None, status_reason=data["reason"])


def _lost(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    if state.status in (S.DELETING, S.DELETED):
        return state.evolve(status=S.DELETED, task_state=None)
    return state.evolve(status=S.ERROR, task_state=None, status_reason=data["reason"])


def _unreachable(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    """Its host went silent: Unknown (as Kubernetes shows a pod of a lost node) until the
    host's agent reports what Docker shows, which any settled status then replaces."""
    if state.status in (S.DELETING, S.DELETED, S.ERROR):
        return state
    return state.evolve(status=S.UNKNOWN, task_state=None, status_reason=data["reason"])


def _heal_requested(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    """Its host is down: it is made again on another host as its next generation (the
    scheduler places it). Void when it is no longer Unknown on that host (its agent reported
    it again first, or it is being deleted) or that generation came already."""
    if state.status is not S.UNKNOWN or state.host != data["host"] \
            or data["generation"] <= state.generation:
        return state
    return state.evolve(generation=data["generation"], host=None, container_id=None,
                        status=S.CREATING, task_state=TaskState.CREATING,
                        status_reason=data["reason"], exit_code=None)


def _renamed(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    return state.evolve(name=data["name"])


def _updated(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    changes = {k: data[k] for k in ("cpu", "memory") if data.get(k) is not None}
    return state.evolve(**changes)


def _rebuild_requested(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    image = {} if "image" not in data else {
        "image": data["image"], "image_driver": data.get("image_driver") or "docker",
        "glance_image": dict(data.get("glance_image") or {})}
    return state.evolve(status=S.REBUILDING, task_state=TaskState.REBUILDING,
                        manually_stopped=False, restart_count=0, restart_step=0, **image)


def _rebuilt(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    if state.status in (S.DELETING, S.DELETED):
        return state.evolve(container_id=data["container_id"])
    return state.evolve(container_id=data["container_id"], task_state=None, status_reason=None,
                        status=S.RUNNING if data["running"] else S.CREATED, exit_code=None)


def _delete_requested(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    return state.evolve(status=S.DELETING, task_state=TaskState.DELETING)


def _deleted(state: ContainerState, data: Mapping[str, Any]) -> ContainerState:
    return state.evolve(status=S.DELETED, task_state=None)


_FOLDERS: Mapping[str, Folder] = {
    EventType.SCHEDULED: _scheduled,
    EventType.CREATED: _created,
    EventType.STARTED: _settled(S.RUNNING),
    EventType.STOPPED: _stopped,
    EventType.PAUSED: _settled(S.PAUSED),
    EventType.UNPAUSED: _settled(S.RUNNING),
    EventType.FAILED: _failed,
    EventType.LOST: _lost,
    EventType.UNREACHABLE: _unreachable,
    EventType.HEAL_REQUESTED: _heal_requested,
    EventType.DELETED: _deleted,
    EventType.START_REQUESTED: _start_requested(TaskState.STARTING),
    EventType.STOP_REQUESTED: _stop_requested(TaskState.STOPPING),
    EventType.REBOOT_REQUESTED: _start_requested(TaskState.REBOOTING),
    EventType.PAUSE_REQUESTED: _requested(TaskState.PAUSING),
    EventType.UNPAUSE_REQUESTED: _requested(TaskState.UNPAUSING),
    EventType.KILL_REQUESTED: _stop_requested(TaskState.KILLING),
    EventType.DELETE_REQUESTED: _delete_requested,
    EventType.RENAMED: _renamed,
    EventType.UPDATED: _updated,
    EventType.REBUILD_REQUESTED: _rebuild_requested,
    EventType.REBUILT: _rebuilt,
    EventType.RESTART_SCHEDULED: _restart_scheduled,
    EventType.NETWORK_CHANGED: networks.changed,
}


def fold(state: ContainerState | None, envelope: events.Envelope) -> ContainerState | None:
    """Apply one event. Idempotent (an event at or below state.seq is ignored) and total:
    an event that arrives in a state it no longer fits leaves the status alone."""
    if envelope["type"] == EventType.CREATE_REQUESTED:
        return state if state is not None else created_state(envelope)
    if state is None or envelope["seq"] <= state.seq:
        return state
    if envelope["data"].get("generation", state.generation) < state.generation:
        return state.evolve(seq=envelope["seq"])  # from an older incarnation: late, ignored
    folder = _FOLDERS.get(envelope["type"])
    new = folder(state, envelope["data"]) if folder else state
    return new.evolve(seq=envelope["seq"], updated_at=envelope["time"],
                      **_times(state, new, envelope["time"]))


def _times(before: ContainerState, after: ContainerState, time: str) -> dict[str, str]:
    """launched_at (first Running) and deleted_at (Deleted), as Telemetry bills them;
    started_at and finished_at (the last time it became Running, Stopped), as Docker shows."""
    times = {}
    if after.launched_at is None and after.status is S.RUNNING:
        times["launched_at"] = time
    if after.status is S.RUNNING and before.status not in (S.RUNNING, S.PAUSED):
        times["started_at"] = time
    if after.status is S.STOPPED and before.status is not S.STOPPED:
        times["finished_at"] = time
    if after.deleted_at is None and after.status is S.DELETED:
        times["deleted_at"] = time
    return times


def fold_all(state: ContainerState | None, history: list[events.Envelope]) -> ContainerState | None:
    return folded(fold, history, state)


_COMMANDS: Mapping[str, CommandType] = {
    EventType.START_REQUESTED: CommandType.START,
    EventType.STOP_REQUESTED: CommandType.STOP,
    EventType.REBOOT_REQUESTED: CommandType.REBOOT,
    EventType.PAUSE_REQUESTED: CommandType.PAUSE,
    EventType.UNPAUSE_REQUESTED: CommandType.UNPAUSE,
    EventType.KILL_REQUESTED: CommandType.KILL,
    EventType.DELETE_REQUESTED: CommandType.DELETE,
    EventType.UPDATE_REQUESTED: CommandType.UPDATE,
    EventType.REBUILD_REQUESTED: CommandType.REBUILD,
    EventType.COMMIT_REQUESTED: CommandType.COMMIT,
    EventType.NETWORK_ATTACH_REQUESTED: CommandType.NETWORK,
    EventType.NETWORK_DETACH_REQUESTED: CommandType.NETWORK,
    EventType.SECURITY_GROUP_ADD_REQUESTED: CommandType.NETWORK,
    EventType.SECURITY_GROUP_REMOVE_REQUESTED: CommandType.NETWORK,
}


def route(state: ContainerState | None, envelope: events.Envelope) -> Outcome:
    """Turn a requested action into a command for the agent on the container's host.
    A container never placed has nothing on a host: deleting it is immediate."""
    command = _COMMANDS.get(envelope["type"])
    if command is None or state is None:
        return Outcome()
    if state.host is None:
        if command is CommandType.DELETE:
            return Outcome(events=(events.Draft(EventType.DELETED, state.uuid, {}),))
        return Outcome()
    data = dict(envelope["data"])
    if state.generation:
        data["generation"] = state.generation  # its events tell which incarnation they are of
    if command in (CommandType.DELETE, CommandType.COMMIT):
        data["container_id"] = state.container_id
    if command is CommandType.DELETE and state.capsule_id is not None:
        data["capsule_id"] = state.capsule_id
    if command is CommandType.DELETE and state.ports:
        data["ports"] = list(state.ports)  # released with it
    if command is CommandType.DELETE and state.exposed_group:
        data["exposed_group"] = state.exposed_group  # deleted with it, after its ports
    if command is CommandType.DELETE and (state.volume_mounts or state.volumes):
        data["volume_mounts"] = _mounts_to_release(state)
    if command is CommandType.REBUILD:
        data = {**create_command(state, state.host).data, "run": data["run"],
                "container_id": state.container_id}
    if command is CommandType.NETWORK:
        data = {**networks.command_data(state, envelope), **(
            {"generation": state.generation} if state.generation else {})}
    return Outcome(commands=(events.CommandDraft(command, state.host, state.uuid, data),))


def _mounts_to_release(state: ContainerState) -> list[dict[str, Any]]:
    """The volumes to unmount, detach and (those Higgins made) delete with the container: as
    attached, or as asked for when the agent never reported them attached."""
    attached = {m["volume_id"] for m in state.volume_mounts}
    return [*state.volume_mounts,
            *(dict(v) for v in state.volumes if v["volume_id"] not in attached)]


def create_command(state: ContainerState, host: str) -> events.CommandDraft:
    """What the agent needs to make (and with run=true, start) the container."""
    spec = {
        "name": state.name,
        "image": state.image,
        "command": list(state.command),
        "entrypoint": list(state.entrypoint),
        "cpu": state.cpu,
        "memory": state.memory,
        "environment": dict(state.environment),
        "labels": dict(state.labels),
        "workdir": state.workdir,
        "hostname": state.hostname,
        "restart_policy": dict(state.restart_policy),
        "auto_remove": state.auto_remove,
        "interactive": state.interactive,
        "tty": state.tty,
        "image_pull_policy": state.image_pull_policy,
        **({"image_driver": "glance", "glance_image": dict(state.glance_image)}
           if state.image_driver == "glance" else {}),
        **({"nets": list(state.nets), "security_group_ids": list(state.security_group_ids)}
           if state.nets else {}),
        **({"volumes": list(state.volumes), "volume_mounts": list(state.volume_mounts)}
           if state.volumes else {}),
        "run": state.run,
        "project_id": state.project_id,
        "injected_files": dict(state.injected_files),
        **({"capsule_id": state.capsule_id} if state.capsule_id is not None else {}),
        **({"generation": state.generation} if state.generation else {}),
    }
    return events.CommandDraft(CommandType.CREATE, host, state.uuid, spec)
