"""EDGE: token validation by keystonemiddleware's auth_token in front of the API, configured
from [keystone_authtoken] of Higgins' INI file. The version documents (/ and /v1) stay open,
as Zun's do: clients discover versions before they have a token."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import flask
from keystonemiddleware import auth_token
from oslo_config import cfg

from higgins.api.identity import KEYSTONE

_OPEN_PATHS = frozenset({"", "/", "/v1", "/v1/", "/v1/openapi.json"})


def require_tokens(app: flask.Flask, conf: cfg.ConfigOpts) -> None:
    """Make `app` accept only requests with a valid Keystone token (version documents aside)."""
    inner = app.wsgi_app
    protected = auth_token.AuthProtocol(inner, {"oslo_config_config": conf})

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "/") in _OPEN_PATHS:
            return inner(environ, start_response)
        return protected(environ, start_response)  # type: ignore[no-any-return]

    app.wsgi_app = guarded  # type: ignore[method-assign]
    app.config["HIGGINS_AUTH_STRATEGY"] = KEYSTONE
