"""PURE: webhook subscriptions and their deliveries: which events a subscription gets, the
Standard Webhooks message and signature, and the retry schedule a delivery follows until it is
delivered or given up (and its subscription disabled)."""

from __future__ import annotations

import base64
import enum
import fnmatch
import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from higgins import events
from higgins.processors.model import ContainerState

SECRET_PREFIX = "whsec_"
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: the Standard Webhooks reference schedule
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.2  # a retry waits its step times 1 ± JITTER/2, so failed receivers are not stampeded
# addresses a webhook may never reach unless an operator allows them: loopback, private,
# link-local (the cloud's metadata service, 169.254.169.254 and fd00:ec2::254), multicast...
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


@dataclass(frozen=True)
class Secret:
    value: str  # whsec_<base64>
    expires_at: float | None = None  # epoch seconds; None: the current secret


@dataclass(frozen=True)
class Subscription:
    uuid: str
    project_id: str
    user_id: str
    url: str
    event_types: tuple[str, ...]
    secrets: tuple[Secret, ...]
    created_at: str
    enabled: bool = True
    containers: tuple[str, ...] = ()  # uuids or names; empty: every container
    labels: Mapping[str, str] = field(default_factory=dict)  # all must match; empty: any
    description: str = ""
    disabled_reason: str | None = None
    updated_at: str | None = None

    def evolve(self, **changes: Any) -> Subscription:
        return replace(self, **changes)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the schedule ran out


@dataclass(frozen=True)
class Delivery:
    """One event for one subscription: its attempts so far and when the next is due."""

    subscription: str
    event: events.Envelope
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    next_at: float = 0.0
    last_status: int | None = None
    last_error: str | None = None

    @property
    def event_id(self) -> str:
        return self.event["id"]


@dataclass(frozen=True)
class Attempt:
    """What one try at a delivery gave: an HTTP status (2xx: delivered) or an error."""

    subscription: str
    event_id: str
    event_type: str
    attempt: int
    at: float
    latency_ms: float
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# -- which events ----------------------------------------------------------------------------

def valid_pattern(pattern: str) -> bool:
    """An exact type (`container.started`) or a glob over its dotted parts (`container.*`)."""
    return bool(pattern) and all(part and set(part) <= set("abcdefghijklmnopqrstuvwxyz_*")
                                 for part in pattern.split("."))


def wants(subscription: Subscription, envelope: events.Envelope,
          container: ContainerState | None = None) -> bool:
    """Whether the event goes to the subscription: enabled, of its project (never another's),
    a type it asked for, and its container filters hold (`container`: the event's container
    view when the subscription filters by name or labels)."""
    if not subscription.enabled or envelope["project_id"] != subscription.project_id:
        return False
    if not any(fnmatch.fnmatchcase(envelope["type"], p) for p in subscription.event_types):
        return False
    if subscription.containers and not _named(subscription.containers, envelope, container):
        return False
    if subscription.labels:
        labels = container.labels if container is not None else {}
        return all(labels.get(key) == value for key, value in subscription.labels.items())
    return True


def needs_container(subscription: Subscription) -> bool:
    """Whether matching needs the container's view (names and labels are not in the event)."""
    return bool(subscription.labels) or any(not _is_uuid(c) for c in subscription.containers)


def _named(wanted: Iterable[str], envelope: events.Envelope,
           container: ContainerState | None) -> bool:
    names = {envelope["subject"]} | ({container.name} if container is not None else set())
    return any(name in names for name in wanted)


def _is_uuid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


# -- the message -----------------------------------------------------------------------------

def body(envelope: events.Envelope) -> bytes:
    """Standard Webhooks' payload: type, timestamp, data (the event as the log keeps it)."""
    return json.dumps({"type": envelope["type"], "timestamp": envelope["time"],
                       "data": dict(envelope)},
                      separators=(",", ":")).encode()


def signing_secrets(subscription: Subscription, now: float) -> list[Secret]:
    """The current secret and the rotated-out ones still in their grace period."""
    return [s for s in subscription.secrets if s.expires_at is None or s.expires_at > now]


def signature(secrets: Sequence[Secret], message_id: str, timestamp: int,
              payload: bytes) -> str:
    """`webhook-signature`: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret,
    space-separated (during a rotation's grace period receivers may hold either secret)."""
    signed = f"{message_id}.{timestamp}.".encode() + payload
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s.value), signed, hashlib.sha256).digest()).decode()
        for s in secrets)


def headers(subscription: Subscription, envelope: events.Envelope, now: float,
            payload: bytes) -> dict[str, str]:
    timestamp = int(now)
    return {"content-type": "application/json", "webhook-id": envelope["id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(signing_secrets(subscription, now), envelope["id"],
                                           timestamp, payload)}


def secret_from(random_bytes: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def rotated(subscription: Subscription, new_secret: str, now: float,
            grace: float) -> Subscription:
    """The new secret current; the old current one signs too until `grace` seconds from now."""
    kept = [Secret(s.value, now + grace if s.expires_at is None else s.expires_at)
            for s in signing_secrets(subscription, now) if grace > 0]
    return subscription.evolve(secrets=(Secret(new_secret), *kept))


# -- retries ---------------------------------------------------------------------------------

def after(delivery: Delivery, attempt: Attempt, schedule: Sequence[float],
          jitter: float) -> Delivery:
    """The delivery once `attempt` is done; `jitter` in [0, 1) spreads the next retry.
    Failed: no step of the schedule is left."""
    count = delivery.attempts + 1
    if attempt.succeeded:
        return replace(delivery, state=DeliveryState.DELIVERED, attempts=count,
                       last_status=attempt.status_code, last_error=None)
    failed = replace(delivery, attempts=count, last_status=attempt.status_code,
                     last_error=attempt.error or f"HTTP {attempt.status_code}")
    if count > len(schedule):
        return replace(failed, state=DeliveryState.FAILED)
    wait = schedule[count - 1] * (1 + JITTER * (jitter - 0.5))
    return replace(failed, next_at=attempt.at + wait)


def give_up_reason(delivery: Delivery) -> str:
    return (f"disabled after {delivery.attempts} failed attempts to deliver event "
            f"{delivery.event_id} ({delivery.event['type']}): {delivery.last_error}")


# -- where a webhook may go ------------------------------------------------------------------

def refused_address(address: str, allowed: Sequence[str]) -> str | None:
    """Why a webhook may not reach `address` (None: it may). Loopback, private, link-local
    (metadata), multicast, reserved and unspecified addresses are refused unless one of the
    operator's `allowed` networks (CIDRs) holds the address."""
    ip = ipaddress.ip_address(address)
    if any(ip in ipaddress.ip_network(network, strict=False) for network in allowed):
        return None
    if ip in _METADATA:
        return "the metadata service"
    for reason, flagged in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                            ("multicast", ip.is_multicast), ("private", ip.is_private),
                            ("reserved", ip.is_reserved), ("unspecified", ip.is_unspecified)):
        if flagged:
            return f"a {reason} address"
    return None
