"""EDGE (runs inside neutron-server, no I/O of its own): the ML2 mechanism driver `higgins`.

Higgins' host agent, not a Neutron agent, wires a container's port: a veth into the container's
network namespace, its host end on a Linux bridge per network, that bridge joined by a VXLAN device
per network for traffic between hosts. So this driver binds without asking any agent: a port with
vnic_type normal and any binding:host_id is bound to the first flat or vxlan segment of its
network, with vif_type `bridge` (Nova's and os-vif's VIFBridge convention: the bridge to plug into
is vif_details["bridge_name"]) and the details the host agent needs to build that bridge.

The binding also makes the port ACTIVE (PortContext.set_binding's status): no Neutron L2 agent
will ever report the port up, and Higgins sets binding:host_id only when its agent on that host is
about to wire the container, whose own status carries a wiring failure. For the same reason the
driver turns a bound port DOWN and ACTIVE again when its admin_state_up changes; unbinding
(binding:host_id cleared) makes it DOWN in ML2 itself. Security groups are not
enforced here: port_filter tells consumers that the host side (Higgins' agent) filters."""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins import directory
from neutron_lib.plugins.ml2 import api

DRIVER_NAME = "higgins"  # its entry point in neutron.ml2.mechanism_drivers
BRIDGE_PREFIX = "hg-"
# As Nova's "brq" names: the network id's first 11 characters, within Linux's 15 for a name.
NETWORK_ID_CHARACTERS = 11
BINDABLE_NETWORK_TYPES = frozenset({constants.TYPE_FLAT, constants.TYPE_VXLAN})


def bridge_name(network_id: str) -> str:
    """The Linux bridge holding the host ends of a network's ports on every Higgins host."""
    return BRIDGE_PREFIX + network_id[:NETWORK_ID_CHARACTERS]


def vif_details(network: dict[str, Any], segment: dict[str, Any]) -> dict[str, Any]:
    """What Higgins' host agent needs to plug a port of `network` bound to `segment`."""
    return {
        portbindings.VIF_DETAILS_BRIDGE_NAME: bridge_name(network["id"]),
        portbindings.VIF_DETAILS_CONNECTIVITY: portbindings.CONNECTIVITY_L2,
        portbindings.CAP_PORT_FILTER: True,
        "network_type": segment[api.NETWORK_TYPE],
        "segmentation_id": segment.get(api.SEGMENTATION_ID),
        "physical_network": segment.get(api.PHYSICAL_NETWORK),
        "mtu": network.get("mtu"),
    }


def status_after_update(port: dict[str, Any], original: dict[str, Any] | None) -> str | None:
    """The status a bound port takes when an update changed its admin_state_up, else None."""
    if original is None or port["admin_state_up"] == original["admin_state_up"]:
        return None
    wanted = constants.PORT_STATUS_ACTIVE if port["admin_state_up"] else constants.PORT_STATUS_DOWN
    return wanted if port["status"] != wanted else None


def bindable_segment(segments: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first segment a Higgins host can join (flat or VXLAN), if any."""
    return next((s for s in segments if s[api.NETWORK_TYPE] in BINDABLE_NETWORK_TYPES), None)


class HigginsMechanismDriver(api.MechanismDriver):  # type: ignore[misc] # neutron-lib is untyped
    """Binds normal ports on any host to flat and VXLAN segments, Linux bridge style."""

    def initialize(self) -> None:
        """Nothing to set up: the driver keeps no state and talks to no agent."""

    @property
    def connectivity(self) -> str:
        return str(portbindings.CONNECTIVITY_L2)

    def bind_port(self, context: api.PortContext) -> None:
        port = context.current
        if port.get(portbindings.VNIC_TYPE, portbindings.VNIC_NORMAL) != portbindings.VNIC_NORMAL:
            return
        segment = bindable_segment(context.segments_to_bind)
        if segment is None:
            return
        status = constants.PORT_STATUS_ACTIVE if port.get("admin_state_up") else None
        context.set_binding(segment[api.ID], portbindings.VIF_TYPE_BRIDGE,
                            vif_details(context.network.current, segment), status=status)

    def update_port_postcommit(self, context: api.PortContext) -> None:
        levels = context.binding_levels
        if not levels or levels[-1][api.BOUND_DRIVER] != DRIVER_NAME:
            return
        status = status_after_update(context.current, context.original)
        if status is not None:
            directory.get_plugin().update_port_status(
                context.plugin_context, context.current["id"], status, context.host)
