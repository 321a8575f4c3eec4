"""PURE: frozen values shared by the processors (container and host state, commands, outcomes)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from higgins.events import CommandDraft, Draft, Envelope
from higgins.processors.claims import Ledger

V = TypeVar("V")


def folded(fold: Callable[[V | None, Envelope], V | None], history: Iterable[Envelope],
           state: V | None = None) -> V | None:
    """`state` with each event of `history` folded in, in order (any subject kind's fold)."""
    for envelope in history:
        state = fold(state, envelope)
    return state


class Status(enum.StrEnum):
    """Zun's container statuses (zun.common.consts)."""

    CREATING = "Creating"
    CREATED = "Created"
    RUNNING = "Running"
    STOPPED = "Stopped"
    PAUSED = "Paused"
    RESTARTING = "Restarting"
    DELETING = "Deleting"
    DELETED = "Deleted"
    ERROR = "Error"
    UNKNOWN = "Unknown"
    REBUILDING = "Rebuilding"
    DEAD = "Dead"


class TaskState(enum.StrEnum):
    """Zun's task states: what the container is doing right now."""

    CREATING = "container_creating"
    STARTING = "container_starting"
    STOPPING = "container_stopping"
    REBOOTING = "container_rebooting"
    PAUSING = "container_pausing"
    UNPAUSING = "container_unpausing"
    KILLING = "container_killing"
    DELETING = "container_deleting"
    REBUILDING = "container_rebuilding"


class Action(enum.StrEnum):
    """User actions on a container; names follow Zun's VALID_STATES keys."""

    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    KILL = "kill"
    DELETE = "delete"
    DELETE_FORCE = "delete_force"
    DELETE_AFTER_STOP = "delete_after_stop"
    LOGS = "logs"
    EXECUTE = "execute"
    UPDATE = "update"
    RENAME = "rename"
    TOP = "top"
    STATS = "stats"
    REBUILD = "rebuild"
    GET_ARCHIVE = "get_archive"
    PUT_ARCHIVE = "put_archive"
    COMMIT = "commit"
    RESIZE = "resize"  # the TTY's size
    EXECUTE_RESIZE = "execute_resize"
    RESIZE_CONTAINER = "resize_container"  # cpu and memory (1.19), as update
    NETWORK_ATTACH = "network_attach"
    NETWORK_DETACH = "network_detach"
    NETWORK_LIST = "network_list"
    ADD_SECURITY_GROUP = "add_security_group"
    REMOVE_SECURITY_GROUP = "remove_security_group"


_FIELDS: dict[type, frozenset[str]] = {}


def _evolved(state: V, changes: dict[str, Any]) -> V:
    """`dataclasses.replace` without its call of __init__ (the fold evolves a 40-field state
    twice per event; replace was most of a replay's CPU). Only fields may change, as there."""
    cls = type(state)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))  # type: ignore[arg-type]
    if not changes.keys() <= names:
        raise TypeError(f"{cls.__name__} has no field {sorted(changes.keys() - names)}")
    copy = object.__new__(cls)
    copy.__dict__.update(state.__dict__)  # frozen: set below __setattr__, as __init__ does
    copy.__dict__.update(changes)
    return copy


@dataclass(frozen=True)
class ContainerState:
    """The fold of one container's events: what the API shows and the processors decide on."""

    uuid: str
    seq: int
    project_id: str
    user_id: str
    name: str
    image: str
    status: Status
    created_at: str
    updated_at: str | None = None
    command: tuple[str, ...] = ()
    cpu: float | None = None
    memory: int | None = None  # MiB, as Zun stores it
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    hostname: str | None = None
    restart_policy: dict[str, str] = field(default_factory=dict)
    auto_remove: bool = False
    auto_heal: bool = False  # Zun's flag: re-create it when it is lost (Higgins: its host down)
    interactive: bool = False
    tty: bool = False
    image_pull_policy: str | None = None
    # Zun's image drivers: docker (a registry), or glance: the Glance image it was made from,
    # as the create resolved it for the caller (id, name, size, checksum to verify)
    image_driver: str = "docker"
    glance_image: dict[str, Any] = field(default_factory=dict)
    # Neutron: the networks or ports asked for (resolved by the API for the caller), the
    # security groups (names as given, ids as resolved); once the agent bound its ports,
    # Zun's addresses (network id -> [{addr, version, port, subnet_id, preserve_on_delete}])
    # and the ports to release with it
    nets: list[dict[str, Any]] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)
    security_group_ids: list[str] = field(default_factory=list)
    addresses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)
    # Zun's exposed_ports ({"80/tcp": {}}) and the security group made to open them, deleted
    # with the container
    exposed_ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    exposed_group: str | None = None
    # Cinder: the volumes asked for (id, destination, whether Higgins made it and so deletes
    # it with the container), and once the agent attached them, where each is mounted on the
    # host and its Cinder attachment
    volumes: list[dict[str, Any]] = field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = field(default_factory=list)
    requested_host: str | None = None  # Zun 1.39: an admin's choice of host
    injected_files: dict[str, str] = field(default_factory=dict)  # path -> base64 (Zun 1.25)
    capsule_id: str | None = None  # the capsule whose network namespace it shares
    # where the tenant asked it placed: Zun's scheduler hints (label:<key>, same_host,
    # different_host), an availability zone, and disk in GB claimed on the host
    hints: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    disk: int | None = None
    # its restart policy, as Higgins enforces it (processors/restarts.py): restarts since a
    # user last started it (Docker's RestartCount), the backoff step of the last one, when it
    # last started and exited, and whether a user stopped or killed it (Docker's manual stop)
    restart_count: int = 0
    restart_step: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    manually_stopped: bool = False
    entrypoint: tuple[str, ...] = ()
    run: bool = False
    status_reason: str | None = None
    task_state: TaskState | None = None
    host: str | None = None
    container_id: str | None = None  # the runtime's id (Docker's)
    exit_code: int | None = None
    launched_at: str | None = None  # first started (Telemetry's launched_at)
    deleted_at: str | None = None
    # which incarnation runs it: bumped each time it is healed (re-created on another host);
    # events from an older one (its old host, back late) change nothing
    generation: int = 0

    def evolve(self, **changes: Any) -> ContainerState:
        return _evolved(self, changes)


@dataclass(frozen=True)
class HostState:
    """The fold of one host's reports: capacity the scheduler places against."""

    name: str
    seq: int
    cpus: float
    memory_mb: int
    runtimes: tuple[str, ...]
    reported_at: str
    driver_version: str = ""
    architecture: str = ""
    os_type: str = ""
    os: str = ""
    kernel_version: str = ""
    disk_total_gb: int = 0
    availability_zone: str = "nova"
    agent_url: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # [agent] labels, for LabelFilter
    tunnel_ip: str | None = None  # where other hosts send this host's VXLAN traffic (Neutron)
    # Zun's compute service of the host: the admin's switches, and the agent's reports
    disabled: bool = False
    disabled_reason: str | None = None
    forced_down: bool = False
    deleted: bool = False
    report_count: int = 0
    created_at: str = ""
    # heartbeats: when the host was found silent (None while it reports), and how many times
    # it was (its agent reconciles when this grows: its containers were marked Unknown)
    down_since: str | None = None
    down_count: int = 0

    def evolve(self, **changes: Any) -> HostState:
        return replace(self, **changes)

    @property
    def schedulable(self) -> bool:
        return not (self.disabled or self.forced_down or self.deleted)


class ImageStatus(enum.StrEnum):
    """Where an image on a host is (Higgins' own; Zun keeps no status for images)."""

    PULLING = "Pulling"
    PRESENT = "Present"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETED = "Deleted"


@dataclass(frozen=True)
class ImageState:
    """The fold of one image's events: an image pulled onto, or committed on, one host."""

    uuid: str
    seq: int
    project_id: str
    user_id: str
    repo: str
    tag: str
    host: str
    status: ImageStatus
    created_at: str
    updated_at: str | None = None
    image_pull_policy: str | None = None
    image_id: str | None = None  # Docker's id, once the host has it
    size: int | None = None  # bytes
    status_reason: str | None = None
    container_uuid: str | None = None  # the container it was committed from

    def evolve(self, **changes: Any) -> ImageState:
        return replace(self, **changes)


@dataclass(frozen=True)
class CapsuleState:
    """The fold of one capsule's events. Its containers are containers of their own; what
    the capsule adds is one host and one network namespace for all of them."""

    uuid: str
    seq: int
    project_id: str
    user_id: str
    name: str | None
    created_at: str
    containers: tuple[dict[str, Any], ...]  # the member specs, each with its uuid
    restart_policy: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    updated_at: str | None = None
    host: str | None = None
    failed_reason: str | None = None
    deleting: bool = False

    def evolve(self, **changes: Any) -> CapsuleState:
        return replace(self, **changes)

    @property
    def member_uuids(self) -> tuple[str, ...]:
        return tuple(str(member["uuid"]) for member in self.containers)

    @property
    def cpu(self) -> float:
        return float(sum(member.get("cpu") or 0 for member in self.containers))

    @property
    def memory(self) -> int:
        return int(sum(member.get("memory") or 0 for member in self.containers))


@dataclass(frozen=True)
class Refusal:
    """A command that is not valid now; the API maps it to Zun's 409."""

    action: str
    uuid: str
    status: Status

    @property
    def detail(self) -> str:
        return f"Cannot {self.action} container {self.uuid} in {self.status} state."


@dataclass(frozen=True)
class Outcome:
    """What a processor asks the runtime to do: new events, and commands for host agents.
    `claims`: host ledgers with this outcome's claims in them, each to be written only over
    the version it was made from (version - 1) before anything is published; a lost write
    means scheduling again. Only made when the scheduler is handed ledgers."""

    events: tuple[Draft, ...] = ()
    commands: tuple[CommandDraft, ...] = ()
    claims: tuple[Ledger, ...] = ()
