"""EDGE: the host agent: run commands from this host's stream on Docker, report what happened,
watch Docker for what happens on its own, and reconcile on start.
Side effects: Docker calls, bus publishes, reads views."""

from __future__ import annotations

import base64
import io
import logging
import tarfile
import threading
from collections.abc import Callable, Mapping
from typing import Any

from higgins import events, folding, publishing
from higgins.agents import image_commands, reconcile, stats
from higgins.agents.docker_driver import DockerDriver, DriverError
from higgins.agents.openstack_parts import OpenStackParts
from higgins.agents.reconcile import Observed, Tracked
from higgins.bus.base import Bus, command_stream, each
from higgins.events import CommandType, EventType
from higgins.processors import restarts
from higgins.processors.model import Outcome, Status
from higgins.store.base import Store

LOG = logging.getLogger(__name__)

Drafts = list[events.Draft]
_KILL_SETTLE_SECONDS = 2.0
_LATE_START_TRIES = 10  # a delayed restart that fails on I/O is tried again, every second


class Agent:
    def __init__(self, host: str, bus: Bus, store: Store, driver: DockerDriver,
                 availability_zone: str = "nova", url: str = "",
                 labels: Mapping[str, str] | None = None,
                 reserved_memory_mb: int = 0, openstack: OpenStackParts | None = None) -> None:
        self.host = host
        self.availability_zone = availability_zone
        self.labels = dict(labels or {})  # [agent] labels, reported for the LabelFilter
        self.reserved_memory_mb = reserved_memory_mb  # [agent] reserved_host_memory_mb
        self.url = url  # where the API reaches calls.create_app(self); "" when in-process
        self._bus = bus
        self._store = store
        self._driver = driver
        self._openstack = openstack or OpenStackParts(host)  # Glance, Neutron, Cinder
        self._tracked: dict[str, Tracked] = {}
        self._origins: dict[str, events.Envelope] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._seen_down = 0  # how many times this host was found down, as last reconciled
        self._fence_again = False  # one more fencing pass at the next report (see fence)
        self._handlers: dict[str, Callable[[str, dict[str, Any]], Drafts]] = {
            CommandType.CREATE: self._create,
            CommandType.START: self._simple("start", EventType.STARTED),
            CommandType.STOP: self._stop,
            CommandType.REBOOT: self._reboot,
            CommandType.PAUSE: self._simple("pause", EventType.PAUSED),
            CommandType.UNPAUSE: self._simple("unpause", EventType.UNPAUSED),
            CommandType.KILL: self._kill,
            CommandType.DELETE: self._delete,
            CommandType.UPDATE: self._update,
            CommandType.REBUILD: self._rebuild,
            CommandType.NETWORK: self._network,
        }

    # -- lifecycle ---------------------------------------------------------------------------

    def report(self) -> None:
        """Announce this host and its capacity (host.reported)."""
        inventory = self._driver.inventory()
        memory_mb = max(inventory.memory_mb - self.reserved_memory_mb, 0)
        data = {"host": self.host, "cpus": inventory.cpus, "memory_mb": memory_mb,
                "runtimes": list(inventory.runtimes), "driver_version": inventory.version,
                "disk_total_gb": inventory.disk_total_gb,
                "availability_zone": self.availability_zone, "agent_url": self.url,
                "labels": dict(self.labels), **inventory.platform}
        data.update(self._openstack.report_fields())
        self._bus.publish([_origin(EventType.HOST_REPORTED, events.host_subject(self.host), data)])

    def reconcile(self) -> None:
        """Bring the views to Docker's truth for every container on this host, after removing
        the Docker containers whose Higgins container was deleted or healed elsewhere."""
        view = self._store.load_host(self.host)  # first: a finding after this is seen later
        self._seen_down = view.down_count if view else 0
        self.fence()
        self._fence_again = True
        for capsule_id in self._driver.sandboxes():
            with self._lock(events.capsule_subject(capsule_id)):
                self._driver.remove_sandbox_if_unused(capsule_id)  # left by a crash mid-delete
        for stored in self._store.find_containers():
            state = folding.current_container(self._bus, self._store, stored.uuid)
            if state and state.host == self.host and state.container_id:
                self._tracked[state.uuid] = Tracked(state.status, state.auto_remove,
                                                    state.generation)
                self._openstack.remember(state.uuid, state.ports)
                self.check(state.uuid)

    def fence(self) -> None:
        """Remove, before anything is reported about them, the Docker containers on this host
        whose Higgins container was deleted, or healed while this host was down (it lives on
        another host now, or is a newer generation): never two running at once once this
        agent acts. Run at each reconcile and once more at the next report, as a heal asked
        for just before this host reported again may land after the first pass read it."""
        for observed in self._driver.managed():
            state = folding.current_container(self._bus, self._store, observed.uuid)
            if state is None:
                LOG.warning("Docker container labelled for this host is not in this log; "
                            "left alone", extra={"uuid": observed.uuid, "host": self.host})
            elif state.status is Status.DELETED:
                LOG.warning("removing Docker container of a deleted container",
                            extra={"uuid": observed.uuid})
                self._driver.remove(observed.uuid, force=True)
            elif reconcile.superseded(state, self.host, observed):
                LOG.warning("removing Docker container (generation %d) of a container healed "
                            "away from this host (now generation %d on %s)",
                            observed.generation, state.generation, state.host or "no host yet",
                            extra={"uuid": observed.uuid})
                with self._lock(observed.uuid):
                    self._tracked.pop(observed.uuid, None)  # its removal is nobody's news
                    self._driver.remove(observed.uuid, force=True)

    def run(self, stop: threading.Event, concurrency: int = 4,
            report_interval: float = 10.0) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._report_every, args=(stop, report_interval),
                             daemon=True, name="agent-report"),
            threading.Thread(target=self._bus.consume, daemon=True, name=f"agent-{self.host}",
                             args=(f"agent.{self.host}", command_stream(self.host),
                                   each(self.handle), stop, concurrency)),
            threading.Thread(target=self._watch, args=(stop,), daemon=True, name="agent-watch"),
        ]
        for thread in threads:
            thread.start()
        return threads

    def _report_every(self, stop: threading.Event, interval: float) -> None:
        """Report again every `interval` seconds: the heartbeat that keeps this host's service
        `up` (Zun's services API) and its inventory current."""
        while not stop.wait(interval):
            try:
                self.report()
                self._reconcile_if_found_down()
                self._openstack.after_report()
            except Exception:  # noqa: BLE001 - a missed heartbeat must not end the next ones
                LOG.exception("host report failed; trying again next interval")

    def _reconcile_if_found_down(self) -> None:
        """If this host was declared down since the last reconcile (its reports stopped: the
        agent was frozen, cut off or gone), its containers were marked Unknown: report what
        Docker shows for each again."""
        view = self._store.load_host(self.host)
        if view is not None and view.down_count > self._seen_down:
            LOG.warning("this host was found down (%d times); reconciling its containers",
                        view.down_count)
            self.reconcile()
        elif self._fence_again:
            self._fence_again = False
            self.fence()

    def _watch(self, stop: threading.Event) -> None:
        for uuid in self._driver.watch(stop):
            try:
                self.check(uuid)
            except Exception:  # noqa: BLE001 - one bad observation must not stop the watcher
                LOG.exception("failed to check container", extra={"uuid": uuid})

    # -- commands ----------------------------------------------------------------------------

    def handle(self, command: events.Envelope, waited: bool = False) -> None:
        uuid = command["subject"]
        LOG.info("command %s", command["type"], extra={
            "uuid": uuid, "event_id": command["id"], "request_id": command["request_id"]})
        if image_commands.is_image_work(command):
            with self._lock(uuid):
                drafts = image_commands.run(self._driver, self.host, command,
                                            self._openstack.glance)
                publishing.publish_outcome(self._bus, command, Outcome(events=tuple(drafts)))
            return
        if not waited and float(command["data"].get("delay") or 0) > 0:
            self._start_later(command, float(command["data"]["delay"]))
            return
        with self._lock(uuid):
            try:
                drafts = self._run(command)
            except DriverError as error:
                drafts = [events.Draft(EventType.FAILED, uuid, {"reason": str(error)})]
            drafts = self._stamped(uuid, command, drafts)
            before = self._tracked.get(uuid, Tracked(Status.CREATING))
            publishing.publish_outcome(self._bus, command, Outcome(events=tuple(drafts)))
            self._track(uuid, drafts, before)

    def _stamped(self, uuid: str, command: events.Envelope, drafts: Drafts) -> Drafts:
        """The results with the generation they are about: the command's, else the one of the
        Docker container this agent made or found (unknown: left unstamped, as current)."""
        generation = command["data"].get("generation")
        if generation is None and uuid in self._tracked:
            generation = self._tracked[uuid].generation
        if generation is None:
            return drafts
        return [reconcile.stamped(draft, int(generation)) for draft in drafts]

    def _run(self, command: events.Envelope) -> Drafts:
        uuid, kind = command["subject"], command["type"]
        if "restart_count" in command["data"] \
                and not self._restart_due(uuid, command["data"]["restart_count"]):
            return []
        if kind in reconcile.SETTLING_COMMANDS:
            observed = self._driver.inspect(uuid)
            done = reconcile.already_done(kind, uuid, observed, command["time"])
            if done is not None:
                return done
        return self._handlers[kind](uuid, command["data"])

    def _start_later(self, command: events.Envelope, delay: float, tries: int = 0) -> None:
        """A restart its policy called for, after its backoff, on a timer: no worker waits,
        and the command is acknowledged now (if this agent stops first, its reconcile finds
        the container Restarting but exited in Docker, and reports the exit again)."""
        timer = threading.Timer(delay, self._start_late, (command, tries))
        timer.daemon = True
        timer.start()

    def _start_late(self, command: events.Envelope, tries: int) -> None:
        try:
            self.handle(command, waited=True)
        except Exception:  # noqa: BLE001 - on a timer's thread: logged, tried again
            LOG.exception("delayed restart failed", extra={"uuid": command["subject"]})
            if tries + 1 < _LATE_START_TRIES:
                self._start_later(command, 1.0, tries + 1)

    def _restart_due(self, uuid: str, count: int) -> bool:
        """Whether the container's view still shows this restart pending (nobody started,
        stopped, deleted or restarted it during the backoff)."""
        due = restarts.still_due(folding.current_container(self._bus, self._store, uuid), count)
        if not due:
            LOG.info("restart %d no longer due", count, extra={"uuid": uuid})
        return due

    def _lock(self, uuid: str) -> threading.Lock:
        """The lock that keeps one container's commands and observations in sequence."""
        return self._locks.setdefault(uuid, threading.Lock())

    def _track(self, uuid: str, drafts: Drafts, before: Tracked) -> None:
        if not drafts:
            return  # nothing reported: nothing changes (nor comes back, when it was dropped)
        for draft in drafts:
            before = reconcile.tracked_after(draft, before)
        if before.status is Status.DELETED:
            self._tracked.pop(uuid, None)
            self._origins.pop(uuid, None)
        else:
            self._tracked[uuid] = before

    def _create(self, uuid: str, spec: dict[str, Any]) -> Drafts:
        self._tracked[uuid] = Tracked(Status.CREATING, bool(spec.get("auto_remove")),
                                      int(spec.get("generation") or 0))
        spec = self._with_image(spec)
        if spec.get("capsule_id"):
            with self._lock(events.capsule_subject(spec["capsule_id"])):
                self._driver.ensure_sandbox(spec["capsule_id"], spec.get("project_id", ""))
        network = self._openstack.connect(uuid, spec)
        try:
            spec = self._openstack.mount(uuid, spec)
            container_id, made_now = self._driver.create(uuid, spec)
        except DriverError:
            self._openstack.undo(uuid, network, spec)
            raise
        if spec.get("injected_files"):
            # Before any start, and again on a redelivery: writing the same files is harmless.
            self._driver.put_archive(uuid, "/", injected_tar(spec["injected_files"]))
        created: dict[str, Any] = {"container_id": container_id, "host": self.host}
        if network is not None:
            created.update(addresses=network.addresses, ports=network.ports)
        if spec.get("volume_mounts"):
            created["volume_mounts"] = spec["volume_mounts"]
        drafts = [events.Draft(EventType.CREATED, uuid, created)]
        if not spec.get("run"):
            return drafts
        if not made_now:
            observed = self._driver.inspect(uuid)
            if observed is not None and observed.state != "created":
                # Delivered again after it was started: report, never run the command twice.
                return [*drafts, *reconcile.reported_start(uuid, observed)]
        try:
            self._driver.act(uuid, "start")
        except DriverError as error:
            return [*drafts, events.Draft(EventType.FAILED, uuid, {"reason": str(error)})]
        return [*drafts, events.Draft(EventType.STARTED, uuid, {})]


    def _rebuild(self, uuid: str, spec: dict[str, Any]) -> Drafts:
        """Zun's rebuild: remove the runtime container, create it anew from the (maybe new)
        image, and start it if it was running. Delivered again after it was done (Docker holds
        a container other than the one being replaced), it reports what is there instead."""
        observed = self._driver.inspect(uuid)
        if observed is not None and spec.get("container_id") and \
                observed.container_id != spec["container_id"]:
            return [_rebuilt(uuid, observed.container_id, observed.state == "running")]
        spec = self._with_image(spec)
        self._driver.remove(uuid, force=True)
        container_id, _ = self._driver.create(uuid, spec)
        if spec.get("injected_files"):
            self._driver.put_archive(uuid, "/", injected_tar(spec["injected_files"]))
        if spec.get("run"):
            self._driver.act(uuid, "start")
        return [_rebuilt(uuid, container_id, bool(spec.get("run")))]

    def _network(self, uuid: str, data: dict[str, Any]) -> Drafts:
        """Zun's network actions: reported as changed, or failed with the reason."""
        try:
            changed = self._openstack.change_network(uuid, data)
        except DriverError as error:
            return [events.Draft(EventType.NETWORK_CHANGE_FAILED, uuid, {"reason": str(error)})]
        return [events.Draft(EventType.NETWORK_CHANGED, uuid, changed)]

    def _with_image(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec, its image now on this host: pulled by Docker, or loaded from Glance (the
        spec then names the local copy)."""
        local = self._openstack.image(spec)
        if local is not None:
            return {**spec, "image": local}
        self._driver.ensure_image(spec["image"], spec.get("image_pull_policy"))
        return spec

    def _simple(self, verb: str, result: EventType) -> Callable[[str, dict[str, Any]], Drafts]:
        def run(uuid: str, data: dict[str, Any]) -> Drafts:
            self._driver.act(uuid, verb)
            return [events.Draft(result, uuid, {})]

        return run

    def _stop(self, uuid: str, data: dict[str, Any]) -> Drafts:
        self._driver.act(uuid, "stop", timeout=int(data.get("timeout", 10)))
        return [self._stopped(uuid)]

    def _reboot(self, uuid: str, data: dict[str, Any]) -> Drafts:
        self._driver.act(uuid, "restart", timeout=int(data.get("timeout", 10)))
        return [events.Draft(EventType.STARTED, uuid, {})]

    def _kill(self, uuid: str, data: dict[str, Any]) -> Drafts:
        signal = data.get("signal") or "SIGKILL"
        self._driver.act(uuid, "kill", signal=signal)
        observed = self._wait_exit(uuid)
        if observed is None or observed.state != "exited":
            return []  # the process caught the signal; the watcher reports what it does next
        return [events.Draft(EventType.STOPPED, uuid, {"exit_code": observed.exit_code})]

    def _wait_exit(self, uuid: str) -> Observed | None:
        deadline = threading.Event()
        observed = self._driver.inspect(uuid)
        waited = 0.0
        while observed is not None and observed.state == "running" and waited < \
                _KILL_SETTLE_SECONDS:
            deadline.wait(0.05)
            waited += 0.05
            observed = self._driver.inspect(uuid)
        return observed

    def _stopped(self, uuid: str) -> events.Draft:
        observed = self._driver.inspect(uuid)
        exit_code = observed.exit_code if observed else None
        return events.Draft(EventType.STOPPED, uuid, {"exit_code": exit_code})

    def _update(self, uuid: str, data: dict[str, Any]) -> Drafts:
        """A refused update leaves the container as it was: update.failed, not Error."""
        try:
            self._driver.update(uuid, data.get("cpu"), data.get("memory"))
        except DriverError as error:
            return [events.Draft(EventType.UPDATE_FAILED, uuid, {"reason": str(error)})]
        return [events.Draft(EventType.UPDATED, uuid, dict(data))]

    def _delete(self, uuid: str, data: dict[str, Any]) -> Drafts:
        if data.get("stop") and not data.get("force"):
            observed = self._driver.inspect(uuid)
            if observed is not None and observed.state in ("running", "paused", "restarting"):
                self._driver.act(uuid, "stop")
        self._driver.remove(uuid, force=bool(data.get("force")))
        self._openstack.release(uuid, data)
        if data.get("capsule_id"):
            # the last of a capsule's containers to go takes its sandbox along
            with self._lock(events.capsule_subject(data["capsule_id"])):
                self._driver.remove_sandbox_if_unused(data["capsule_id"])
        return [events.Draft(EventType.DELETED, uuid, {})]

    # -- observation -------------------------------------------------------------------------

    def check(self, uuid: str) -> None:
        """Publish the difference between Docker and what this agent last reported, if any."""
        with self._lock(uuid):
            tracked = self._tracked.get(uuid)
            if tracked is None:
                return
            draft = reconcile.observe(uuid, tracked, self._driver.inspect(uuid))
            if draft is None:
                return
            draft = reconcile.stamped(draft, tracked.generation)
            cause = self._origin(uuid)
            if cause is None:
                self._tracked.pop(uuid, None)  # not in this log: nothing to report it to
                return
            envelope = events.seal(draft, event_id=publishing.new_id(),
                                   time=publishing.utc_now(), cause=cause)
            self._bus.publish([envelope])
            self._track(uuid, [draft], tracked)
            LOG.info("observed change", extra={"uuid": uuid, "event_type": str(draft.type)})

    def _origin(self, uuid: str) -> events.Envelope | None:
        """What an observation is attributed to: the container's owner, a request of its own."""
        if uuid not in self._origins:
            history = self._bus.history(uuid)
            if not history:
                return None
            self._origins[uuid] = {**history[0], "request_id": "req-" + publishing.new_id()}
        return self._origins[uuid]

    def logs(self, uuid: str, **options: Any) -> str:
        return self._driver.logs(uuid, **options)

    def execute(self, uuid: str, command: list[str], run: bool) -> dict[str, Any]:
        return self._driver.execute(uuid, command, run)

    def top(self, uuid: str, ps_args: str | None) -> dict[str, Any]:
        return self._driver.top(uuid, ps_args)

    def stats(self, uuid: str, name: str) -> dict[str, Any]:
        return stats.summarise(name, self._driver.stats(uuid))

    def answer(self, call: str, uuid: str, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous call by name, with a JSON body and a JSON answer (tars travel as
        base64): what the API's AgentDirectory.call reaches, in-process or over HTTP."""
        if call == "get_archive":
            tar, stat = self._driver.get_archive(uuid, body["path"])
            return {"data": base64.b64encode(tar).decode("ascii"), "stat": stat}
        if call == "put_archive":
            self._driver.put_archive(uuid, body["path"], base64.b64decode(body["data"]))
            return {}
        if call == "resize":
            self._driver.resize_tty(uuid, int(body["h"]), int(body["w"]), body.get("exec_id"))
            return {}
        raise ValueError(f"no agent call {call!r}")


def _rebuilt(uuid: str, container_id: str, running: bool) -> events.Draft:
    return events.Draft(EventType.REBUILT, uuid, {"container_id": container_id,
                                                  "running": running})


def injected_tar(files: dict[str, str]) -> bytes:
    """A tar (for Docker's put_archive at /) holding each injected file at its path."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, content in sorted(files.items()):
            data = base64.b64decode(content)
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _origin(kind: EventType, subject: str, data: dict[str, Any]) -> events.Envelope:
    return events.Envelope(
        id=publishing.new_id(), type=str(kind), subject=subject, seq=0,
        time=publishing.utc_now(), project_id="", user_id="",
        request_id="req-" + publishing.new_id(), data=data,
    )
