"""PURE: restart policies enforced by Higgins, not by Docker: whether an exit calls for a
restart (Docker's rules for no, on-failure[:N], always, unless-stopped), after what backoff, and
the event and delayed start command that record and carry it out."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from higgins import events
from higgins.events import CommandType, EventType
from higgins.processors.model import ContainerState, Outcome, Status


class Policy(enum.StrEnum):
    """Docker's (and Zun's) restart policy names."""

    NO = "no"
    ON_FAILURE = "on-failure"
    ALWAYS = "always"
    UNLESS_STOPPED = "unless-stopped"


@dataclass(frozen=True)
class Backoff:
    """The delay before the n-th restart in a row is base * 2**n seconds, at most `cap` (as
    Docker: 0.1 s doubling; Docker caps at 1 min, Kubernetes at 5). A container that ran for
    `reset_after` seconds before it exited starts again from `base`."""

    base: float = 0.1
    cap: float = 300.0
    reset_after: float = 10.0

    def delay(self, step: int) -> float:
        return min(self.base * 2.0 ** min(step, 64), self.cap)


DEFAULT = Backoff()


@dataclass(frozen=True)
class Restart:
    """A restart an exit calls for: the restart_count it makes, its backoff step and delay."""

    count: int
    step: int
    delay: float


def policy_of(state: ContainerState) -> tuple[Policy, int]:
    """The container's policy and its maximum retry count (0: no limit)."""
    name = state.restart_policy.get("Name") or Policy.NO
    policy = Policy(name) if name in Policy.__members__.values() else Policy.NO
    return policy, int(state.restart_policy.get("MaximumRetryCount") or 0)


def calls_for_restart(state: ContainerState) -> bool:
    """Whether the container's last exit calls for a restart under its policy: on-failure only
    after a non-zero exit and fewer than N restarts; always and unless-stopped after any exit.
    Never when a user stopped or killed it (as Docker's manual stop), nor while a user's action
    is in flight or it is going away."""
    if state.status is not Status.STOPPED or state.task_state is not None \
            or state.manually_stopped or state.host is None:
        return False
    policy, maximum = policy_of(state)
    if policy is Policy.ON_FAILURE:
        failed = state.exit_code is not None and state.exit_code != 0
        return failed and (maximum == 0 or state.restart_count < maximum)
    return policy in (Policy.ALWAYS, Policy.UNLESS_STOPPED)


def decide(state: ContainerState | None, backoff: Backoff = DEFAULT) -> Restart | None:
    """The restart the container's last exit calls for, or None."""
    if state is None or not calls_for_restart(state):
        return None
    fresh = state.restart_count == 0 or _ran_for(state) >= backoff.reset_after
    step = 0 if fresh else state.restart_step + 1
    return Restart(count=state.restart_count + 1, step=step, delay=backoff.delay(step))


def _ran_for(state: ContainerState) -> float:
    """Seconds between its last start and its last exit (0 when either is unknown)."""
    if not state.started_at or not state.finished_at:
        return 0.0
    started = datetime.datetime.fromisoformat(state.started_at)
    finished = datetime.datetime.fromisoformat(state.finished_at)
    return max((finished - started).total_seconds(), 0.0)


def after_exit(state: ContainerState | None, backoff: Backoff = DEFAULT) -> Outcome:
    """The scheduler's reaction to container.stopped: when the policy calls for it,
    container.restart.scheduled (the fold counts it and shows Restarting) and a start command
    for the container's host carrying the delay and the count (the agent starts it after the
    delay only if the view still shows this restart pending)."""
    restart = decide(state, backoff)
    if state is None or state.host is None or restart is None:
        return Outcome()
    data = {"restart_count": restart.count, "backoff_step": restart.step,
            "delay": restart.delay, "exit_code": state.exit_code}
    command = {"restart_count": restart.count, "delay": restart.delay,
               **({"generation": state.generation} if state.generation else {})}
    return Outcome(events=(events.Draft(EventType.RESTART_SCHEDULED, state.uuid, data),),
                   commands=(events.CommandDraft(CommandType.START, state.host, state.uuid,
                                                 command),))


def still_due(state: ContainerState | None, count: int) -> bool:
    """Whether a delayed restart is still to be done when its delay is over: the view still
    shows that very restart pending (nobody started, stopped, deleted or restarted it since)."""
    return state is not None and state.status is Status.RESTARTING \
        and state.task_state is None and state.restart_count == count \
        and not state.manually_stopped
