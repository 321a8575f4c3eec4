"""The OpenStack settings as an operator writes them: service credentials, which services are
on (each needs credentials), endpoint overrides, and the host's VXLAN tunnel address."""

from __future__ import annotations

from pathlib import Path

import pytest
from oslo_config import cfg

from higgins import settings


def load(tmp_path: Path, text: str) -> settings.Settings:
    config = tmp_path / "higgins.conf"
    config.write_text(text)
    return settings.load([], config_files=[str(config)])


def test_nothing_is_on_by_default(tmp_path: Path) -> None:
    given = load(tmp_path, "").openstack
    assert (given.glance, given.neutron, given.cinder, given.auth_url) == (
        False, False, False, "")


@pytest.mark.parametrize("service", ["glance", "neutron", "cinder"])
def test_a_service_without_credentials_stops_the_start(tmp_path: Path, service: str) -> None:
    with pytest.raises(cfg.Error, match=rf"\[{service}\] enabled needs \[openstack\]"):
        load(tmp_path, f"[{service}]\nenabled = true\n")


def test_endpoint_overrides_are_keyed_by_service_type(tmp_path: Path) -> None:
    given = load(tmp_path, "[openstack]\nauth_url = http://k/v3\n[neutron]\nenabled = true\n"
                           "endpoint_override = http://n:9696\n"
                           "[cinder]\nendpoint_override = http://c:8776/v3\n").openstack
    assert given.neutron and dict(given.endpoint_overrides) == {
        "network": "http://n:9696", "block_storage": "http://c:8776/v3"}


@pytest.mark.parametrize(("agent", "tunnel"), [
    pytest.param("", "", id="loopback-host-ip"),
    pytest.param("host_ip = 10.77.0.11\n", "10.77.0.11", id="host-ip"),
    pytest.param("host_ip = 0.0.0.0\nallow_any_address = true\n", "", id="wildcard"),
    pytest.param("host_ip = 10.77.0.11\ntunnel_ip = 192.0.2.7\n", "192.0.2.7", id="given"),
    pytest.param("host_ip = node-1.example\n", "node-1.example", id="a-name"),
])
def test_the_tunnel_address_is_the_host_ip_unless_loopback(tmp_path: Path, agent: str,
                                                           tunnel: str) -> None:
    assert load(tmp_path, f"[agent]\n{agent}").agent.tunnel_ip == tunnel
