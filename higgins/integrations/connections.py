"""EDGE: openstacksdk connections. One per API request, carrying the caller's own token (the
auth plugin keystonemiddleware leaves in the WSGI environ, with the token's service catalog: no
extra round trip to Keystone), so Glance, Neutron and Cinder apply their own rules to the
tenant; and one per process for Higgins' service user, where Zun acts as its service.
Side effects: HTTP to Keystone and the services, lazily, on first use."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import keystoneauth1.session
import openstack.connection
from keystoneauth1.identity import v3

from higgins.settings import OpenStackSettings

USER_AUTH_KEY = "keystone.token_auth"  # keystonemiddleware's plugin for the request's user

_service: dict[OpenStackSettings, openstack.connection.Connection] = {}
_service_lock = threading.Lock()


class NotConfigured(Exception):
    """Higgins has no [openstack] service credentials to reach the service with."""


def for_request(environ: Mapping[str, Any],
                settings: OpenStackSettings) -> openstack.connection.Connection:
    """A connection acting as the caller (their token, their catalog); with noauth, whose
    callers have no token, Higgins' service user."""
    plugin = environ.get(USER_AUTH_KEY)
    if plugin is None or not getattr(plugin, "user", None):
        return for_service(settings)
    session = keystoneauth1.session.Session(auth=plugin, app_name="higgins")
    return _connection(session, settings)


def for_service(settings: OpenStackSettings) -> openstack.connection.Connection:
    """Higgins' service user's connection (one per process, shared by threads: keystoneauth
    renews its token as it nears expiry)."""
    if not settings.auth_url:
        raise NotConfigured("[openstack] auth_url is not set")
    with _service_lock:
        if settings not in _service:
            auth = v3.Password(auth_url=settings.auth_url, username=settings.username,
                               password=settings.password, project_name=settings.project_name,
                               user_domain_id=settings.user_domain_id,
                               project_domain_id=settings.project_domain_id)
            session = keystoneauth1.session.Session(auth=auth, app_name="higgins")
            _service[settings] = _connection(session, settings)
        return _service[settings]


def _connection(session: keystoneauth1.session.Session,
                settings: OpenStackSettings) -> openstack.connection.Connection:
    overrides: dict[str, Any] = {f"{kind}_endpoint_override": url
                                 for kind, url in settings.endpoint_overrides}
    return openstack.connection.Connection(session=session, region_name=settings.region_name,
                                           interface=settings.interface, **overrides)
