"""EDGE: who is calling. With keystone, keystonemiddleware's auth_token has validated the token
and set X-Identity-Status, X-Project-Id, X-User-Id and X-Roles (it strips any the client sent).
With noauth (development), those headers are trusted as they come, falling back to an admin of
a default project."""

from __future__ import annotations

from dataclasses import dataclass

import flask

from higgins.api import errors

DEFAULT_PROJECT = "default"
DEFAULT_USER = "admin"
KEYSTONE = "keystone"


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
    roles = frozenset(r.strip().lower() for r in headers.get("X-Roles", "").split(",")
                      if r.strip())
    if flask.current_app.config.get("HIGGINS_AUTH_STRATEGY") == KEYSTONE:
        if headers.get("X-Identity-Status") != "Confirmed":
            raise errors.ApiError(401, "container.unauthorized", "Authentication required.")
        project = headers.get("X-Project-Id")
        if not project:
            raise errors.ApiError(403, "container.forbidden",
                                  "A project-scoped token is required.")
        return Caller(project, headers.get("X-User-Id", ""), roles)
    return Caller(
        project_id=headers.get("X-Project-Id") or DEFAULT_PROJECT,
        user_id=headers.get("X-User-Id") or DEFAULT_USER,
        roles=_implied(roles) if roles else frozenset({"admin", "member", "reader"}),
    )


# Keystone's default role implications, which a real token arrives with already expanded.
_IMPLIES = {"admin": {"member", "reader"}, "member": {"reader"}}


def _implied(roles: frozenset[str]) -> frozenset[str]:
    return roles.union(*(_IMPLIES.get(role, set()) for role in roles))
