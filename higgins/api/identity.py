"""EDGE: who is calling. noauth mode trusts X-Project-Id / X-User-Id / X-Roles (the headers
keystonemiddleware sets after validating a token), falling back to a default project."""

from __future__ import annotations

from dataclasses import dataclass

import flask

DEFAULT_PROJECT = "default"
DEFAULT_USER = "admin"


@dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def current_caller() -> Caller:
    headers = flask.request.headers
    roles = {r.strip().lower() for r in headers.get("X-Roles", "").split(",") if r.strip()}
    return Caller(
        project_id=headers.get("X-Project-Id") or DEFAULT_PROJECT,
        user_id=headers.get("X-User-Id") or DEFAULT_USER,
        roles=frozenset(roles or {"admin", "member", "reader"}),
    )
