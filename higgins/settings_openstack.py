"""EDGE: the settings of Higgins' OpenStack integrations ([openstack] service credentials,
[glance], [neutron], [cinder]), read once from oslo.config with the rest (higgins.settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from oslo_config import cfg

OPTS: dict[str, list[cfg.Opt]] = {
    "openstack": [
        cfg.StrOpt("auth_url", default="",
                   help="Keystone v3 URL for Higgins' own service user (Zun's [keystone_auth]), "
                        "used where Zun acts as its service: the agents' Glance downloads and "
                        "uploads. Empty: no OpenStack services besides Keystone tokens."),
        cfg.StrOpt("username", default="higgins"),
        cfg.StrOpt("password", default="", secret=True),
        cfg.StrOpt("project_name", default="service"),
        cfg.StrOpt("user_domain_id", default="default"),
        cfg.StrOpt("project_domain_id", default="default"),
        cfg.StrOpt("region_name", default="RegionOne",
                   help="The catalog region of the OpenStack services Higgins uses."),
        cfg.StrOpt("interface", default="public", choices=["public", "internal", "admin"]),
    ],
    "glance": [
        cfg.StrOpt("endpoint_override", default="",
                   help="This service's URL, instead of the catalog's (Nova's option)."),
        cfg.BoolOpt("enabled", default=False,
                    help="Zun's image_driver glance: containers from Glance images "
                         "(container_format docker), commits uploaded to Glance. Needs "
                         "[openstack] credentials."),
    ],
    "neutron": [
        cfg.StrOpt("endpoint_override", default="",
                   help="This service's URL, instead of the catalog's (Nova's option)."),
        cfg.BoolOpt("enabled", default=False,
                    help="Containers get Neutron ports (Zun's nets, security groups), plugged "
                         "by the agent on a Linux bridge per network (Neutron's ML2 with the "
                         "'higgins' mechanism driver). Needs [openstack] credentials."),
    ],
    "cinder": [
        cfg.StrOpt("endpoint_override", default="",
                   help="This service's URL, instead of the catalog's (Nova's option)."),
        cfg.BoolOpt("enabled", default=False,
                    help="Zun's mounts of Cinder volumes, attached through the Cinder v3 "
                         "attachments API and os-brick on the host. Needs [openstack] "
                         "credentials."),
    ],
}


@dataclass(frozen=True)
class OpenStackSettings:
    """Higgins' service user in Keystone and which OpenStack services it uses."""
    auth_url: str = ""  # empty: none
    username: str = "higgins"
    password: str = field(default="", repr=False)
    project_name: str = "service"
    user_domain_id: str = "default"
    project_domain_id: str = "default"
    region_name: str = "RegionOne"
    interface: str = "public"
    glance: bool = False
    neutron: bool = False
    cinder: bool = False
    # service type -> URL used instead of the catalog's ([glance|neutron|cinder]
    # endpoint_override), e.g. where this host reaches a service on another address
    endpoint_overrides: tuple[tuple[str, str], ...] = ()


def load(conf: cfg.ConfigOpts) -> OpenStackSettings:
    given = conf.openstack
    for service in ("glance", "neutron", "cinder"):
        if conf[service].enabled and not given.auth_url:
            raise cfg.Error(f"[{service}] enabled needs [openstack] auth_url and credentials")
    return OpenStackSettings(given.auth_url, given.username, given.password or "",
                             given.project_name, given.user_domain_id, given.project_domain_id,
                             given.region_name, given.interface, conf.glance.enabled,
                             conf.neutron.enabled, conf.cinder.enabled,
                             tuple((kind, conf[section].endpoint_override) for section, kind in
                                   (("glance", "image"), ("neutron", "network"),
                                    ("cinder", "block_storage"))
                                   if conf[section].endpoint_override))
