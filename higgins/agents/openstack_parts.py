"""EDGE: what the agent does with the OpenStack services Higgins is configured for, in one
place: a Glance image loaded before a create, the Neutron ports plugged into a container's
network sandbox and its network actions, the Cinder volumes mounted and bound in; and what a
delete releases. A service that is not configured refuses its work with a reason.
Side effects: those of glance_images, networking and cinder_volumes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from higgins.agents.cinder_volumes import CinderVolumes
from higgins.agents.docker_driver import DockerDriver
from higgins.agents.glance_images import GlanceImages
from higgins.agents.networking import Attached, Networking
from higgins.faults import DriverError
from higgins.settings import Settings
from higgins.store.base import Store


@dataclass(frozen=True)
class OpenStackParts:
    host: str
    glance: GlanceImages | None = None  # Zun's glance image driver, when Higgins has Glance
    networking: Networking | None = None  # Neutron ports, when Higgins has Neutron
    volumes: CinderVolumes | None = None  # Cinder volumes, when Higgins has Cinder

    @classmethod
    def configured(cls, settings: Settings, driver: DockerDriver, store: Store) -> OpenStackParts:
        openstack, agent, state = settings.openstack, settings.agent, settings.state_path
        return cls(agent.host, GlanceImages.configured(openstack, driver, state / "images"),
                   Networking.configured(openstack, driver, agent.host, agent.tunnel_ip, store),
                   CinderVolumes.configured(openstack, agent.host, state / "volumes"))

    def _missing(self, service: str, section: str, what: str) -> DriverError:
        return DriverError(f"Host {self.host} has no {service} configured ([{section}] "
                           f"enabled), so it cannot {what}.")

    def image(self, spec: dict[str, Any]) -> str | None:
        """The local name of the spec's Glance image, loaded here first (None: not Glance's)."""
        if spec.get("image_driver") != "glance":
            return None
        if self.glance is None:
            raise self._missing("Glance", "glance", "run a container from a Glance image")
        return self.glance.ensure(spec["glance_image"], spec.get("image_pull_policy"))

    def connect(self, uuid: str, spec: dict[str, Any]) -> Attached | None:
        """The container's Neutron ports plugged into its network sandbox, if it has any."""
        if not spec.get("nets"):
            return None
        if self.networking is None:
            raise self._missing("Neutron", "neutron", "plug the container's ports")
        return self.networking.attach(uuid, spec)

    def change_network(self, uuid: str, data: dict[str, Any]) -> dict[str, Any]:
        if self.networking is None:
            raise self._missing("Neutron", "neutron", "change the container's networks")
        return self.networking.change(uuid, data)

    def mount(self, uuid: str, spec: dict[str, Any]) -> dict[str, Any]:
        """The spec with its Cinder volumes attached and mounted here (volume_mounts: what
        the container binds), if it has any not attached yet."""
        if not spec.get("volumes") or spec.get("volume_mounts"):
            return spec
        if self.volumes is None:
            raise self._missing("Cinder", "cinder", "attach the container's volumes")
        return {**spec, "volume_mounts": self.volumes.attach(uuid, spec["volumes"])}

    def undo(self, uuid: str, network: Attached | None, spec: dict[str, Any]) -> None:
        """Give back what a create that failed took: its ports, its volumes (kept)."""
        if network is not None and self.networking is not None:
            self.networking.detach(uuid, network.ports)
        if spec.get("volume_mounts") and self.volumes is not None:
            self.volumes.release(uuid, spec["volume_mounts"], delete=False)

    def release(self, uuid: str, data: dict[str, Any]) -> None:
        """With a deleted container: its ports, its exposed ports' group, its volumes."""
        if data.get("ports") and self.networking is not None:
            self.networking.detach(uuid, data["ports"])
        if data.get("exposed_group") and self.networking is not None:
            self.networking.forget_group(uuid, data["exposed_group"])
        if data.get("volume_mounts") and self.volumes is not None:
            self.volumes.release(uuid, data["volume_mounts"])

    def report_fields(self) -> dict[str, Any]:
        """What a host report adds: the tunnel address other hosts send VXLAN traffic to."""
        if self.networking is not None and self.networking.tunnel_ip:
            return {"tunnel_ip": self.networking.tunnel_ip}
        return {}

    def after_report(self) -> None:
        """Renew VXLAN flood lists and security group filters (each report)."""
        if self.networking is not None:
            self.networking.refresh_peers()
            self.networking.refresh_filters()

    def remember(self, uuid: str, ports: list[dict[str, Any]]) -> None:
        """A reconciling agent learns the ports of a container it finds."""
        if ports and self.networking is not None:
            self.networking.remember(uuid, ports)
