"""EDGE: the Flask application factory: Zun's v1 API over Higgins' bus and store."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import flask

from higgins import settings as config
from higgins.api import (
    actions,
    auth,
    bodies,
    capsules,
    containers,
    errors,
    events,
    glance,
    host_calls,
    hosts,
    images,
    microversions,
    missing,
    network_actions,
    openapi,
    quotas,
    subscriptions,
    versions,
    zun_services,
)
from higgins.api.policy import Policy
from higgins.api.services import AgentDirectory, Services
from higgins.bus.base import Bus
from higgins.processors.quotas import Defaults as QuotaDefaults
from higgins.store.base import Store

LOG = logging.getLogger("higgins.api")
_SLASHES = re.compile(r"/{2,}")


def create_app(bus: Bus, store: Store, agents: AgentDirectory,
               policy: Policy | None = None,
               quota: QuotaDefaults | None = None,
               service_down_time: float = 60.0,
               max_request_body_size: int = bodies.DEFAULT_MAX_BYTES,
               allowed_networks: tuple[str, ...] = (),
               openstack: config.OpenStackSettings | None = None) -> flask.Flask:
    """The API; noauth until auth.require_tokens() puts Keystone in front of it."""
    app = flask.Flask("higgins")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["higgins"] = Services(bus=bus, store=store, agents=agents,
                                         policy=policy or Policy(),
                                         quota=quota or QuotaDefaults(),
                                         service_down_time=service_down_time,
                                         allowed_networks=allowed_networks,
                                         openstack=openstack or config.OpenStackSettings())
    app.url_map.strict_slashes = False
    app.wsgi_app = _collapse_slashes(app.wsgi_app)  # type: ignore[method-assign]
    errors.register(app)
    app.register_blueprint(versions.blueprint)
    app.register_blueprint(containers.blueprint)
    app.register_blueprint(host_calls.blueprint)
    app.register_blueprint(actions.blueprint)
    app.register_blueprint(hosts.blueprint)
    app.register_blueprint(images.blueprint)
    app.register_blueprint(glance.blueprint)
    app.register_blueprint(network_actions.blueprint)
    app.register_blueprint(capsules.blueprint)
    app.register_blueprint(quotas.blueprint)
    app.register_blueprint(events.blueprint)
    app.register_blueprint(subscriptions.blueprint)
    app.register_blueprint(zun_services.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(missing.blueprint)
    app.before_request(_begin)
    app.before_request(bodies.limiter(max_request_body_size))
    app.after_request(_finish)
    return app


def configured_app(settings: config.Settings, bus: Bus, store: Store,
                   agents: AgentDirectory) -> flask.Flask:
    """The API as the INI file says: policy overrides from [oslo_policy], and Keystone tokens
    (keystonemiddleware, [keystone_authtoken]) when [api] auth_strategy = keystone."""
    library = config.library_config(settings)
    app = create_app(bus, store, agents, Policy(library), settings.quota,
                     settings.api.service_down_time, settings.api.max_request_body_size,
                     settings.webhooks.allowed_networks, settings.openstack)
    if settings.api.auth_strategy == "keystone":
        auth.require_tokens(app, library)
    return app


def _collapse_slashes(wsgi: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Zun's tempest tests send /v1/containers//<uuid>/start; treat // as /."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["PATH_INFO"] = _SLASHES.sub("/", environ.get("PATH_INFO", "/"))
        return wsgi(environ, start_response)

    return app


def _begin() -> None:
    flask.g.started = time.monotonic()
    flask.g.request_id = "req-" + str(uuid.uuid4())
    flask.g.version = None
    flask.g.version = microversions.negotiate(
        flask.request.headers.get(microversions.HEADER)
    )


def _finish(response: flask.Response) -> flask.Response:
    response.headers.update(microversions.response_headers(flask.g.get("version")))
    response.headers["x-openstack-request-id"] = flask.g.get("request_id", "")
    elapsed = (time.monotonic() - flask.g.get("started", time.monotonic())) * 1000
    LOG.info("%s %s %s", flask.request.method, flask.request.path, response.status_code,
             extra={"request_id": flask.g.get("request_id"), "uuid": flask.g.get("uuid"),
                    "status": response.status_code,
                    "ms": round(elapsed, 1)})
    return response
