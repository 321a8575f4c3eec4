"""PURE: webhook subscriptions, deliveries and attempts to and from plain JSON records."""

from __future__ import annotations

import dataclasses
from typing import Any

from higgins.processors.webhooks import Attempt, Delivery, DeliveryState, Secret, Subscription


def subscription_record(subscription: Subscription) -> dict[str, Any]:
    record = dataclasses.asdict(subscription)
    record["event_types"] = list(subscription.event_types)
    record["containers"] = list(subscription.containers)
    record["labels"] = dict(subscription.labels)
    return record


def subscription(record: dict[str, Any]) -> Subscription:
    return Subscription(**{
        **record, "event_types": tuple(record["event_types"]),
        "containers": tuple(record["containers"]),
        "secrets": tuple(Secret(**s) for s in record["secrets"])})


def delivery_record(delivery: Delivery) -> dict[str, Any]:
    record = dataclasses.asdict(delivery)
    record["state"] = str(delivery.state)
    return record


def delivery(record: dict[str, Any]) -> Delivery:
    return Delivery(**{**record, "state": DeliveryState(record["state"])})


def attempt_record(attempt: Attempt) -> dict[str, Any]:
    return dataclasses.asdict(attempt)


def attempt(record: dict[str, Any]) -> Attempt:
    return Attempt(**record)
