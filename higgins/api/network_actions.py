"""EDGE: Zun's network actions on a container with Neutron ports: network_list (its ports and
fixed IPs, from its view), network_attach / network_detach and add / remove_security_group
(resolved in Neutron as the caller, then recorded as requests the agent on its host carries
out, reporting container.network.changed); and Zun's admin /v1/networks (1.27), which in Zun
makes or removes the Docker network of a Neutron network: Higgins has none to make (each host's
bridge for a network is made with its first port and pruned with its last), so a create
checks the Neutron network and a delete is refused while a container still uses it.
Side effects: HTTP to Neutron, bus publishes."""

from __future__ import annotations

from typing import Any

import flask

from higgins.api import errors, parsing
from higgins.api.containers import act_on, lookup
from higgins.api.identity import current_caller
from higgins.api.networking import connection, enabled, net_of, refused
from higgins.api.services import authorize, services
from higgins.integrations import neutron
from higgins.integrations.errors import ServiceError
from higgins.processors import networks
from higgins.processors.model import Action, ContainerState

blueprint = flask.Blueprint("network_actions", __name__)


@blueprint.get("/v1/containers/<ident>/network_list")
def network_list(ident: str) -> Any:
    """Zun's network list: the container's ports, with their fixed IPs."""
    state = lookup(ident, "container:network_list")
    parsing.reject_unknown_query("all_projects")
    return {"networks": networks.network_list(state)}


def _with_ports(ident: str, rule: str, *query: str) -> ContainerState:
    state = lookup(ident, rule)
    parsing.reject_unknown_query(*query)
    if not enabled():
        raise errors.bad_request("Networks and security groups need Neutron, and this Higgins "
                                 "has none configured ([neutron] enabled).")
    if not state.nets:
        raise errors.conflict(f"Container {state.uuid} was not made with Neutron ports, so "
                              "its networks cannot be changed.", "container.network")
    return state


@blueprint.post("/v1/containers/<ident>/network_attach")
def network_attach(ident: str) -> Any:
    """Connect the container to one more network (or a port of the caller's), as the caller
    may: 202; the network list shows it once the agent plugged it."""
    state = _with_ports(ident, "container:network_attach", "network", "port", "fixed_ip")
    args = flask.request.args
    if not (args.get("network") or args.get("port")):
        raise errors.bad_request("network_attach needs 'network' or 'port'.")
    given = {"port": args["port"]} if args.get("port") else {"network": args["network"]}
    if args.get("fixed_ip") and not args.get("port"):
        ip = args["fixed_ip"]
        given["v6-fixed-ip" if ":" in ip else "v4-fixed-ip"] = ip
    try:
        net = net_of(connection(), given)
    except ServiceError as error:
        raise refused(error) from error
    if net["network"] in state.addresses and not net.get("port"):
        raise errors.conflict(f"Container {state.uuid} is connected to network "
                              f"{net['network']} already.", "container.network")
    act_on(state, Action.NETWORK_ATTACH, {"net": net})
    return flask.Response(status=202)


@blueprint.post("/v1/containers/<ident>/network_detach")
def network_detach(ident: str) -> Any:
    """Disconnect the container from a network (all its ports there) or one port: 202."""
    state = _with_ports(ident, "container:network_detach", "network", "port")
    args = flask.request.args
    wanted = args.get("port") or args.get("network")
    if not wanted:
        raise errors.bad_request("network_detach needs 'network' or 'port'.")
    if args.get("network") and not args.get("port"):
        try:
            wanted = neutron.find_network(connection(), wanted)["id"]
        except ServiceError as error:
            raise refused(error) from error
    ports = [p["id"] for p in state.ports if wanted in (p["id"], p.get("network_id"))]
    if not ports:
        raise errors.bad_request(f"Container {state.uuid} is not connected to {wanted}.")
    act_on(state, Action.NETWORK_DETACH, {"ports": ports})
    return flask.Response(status=202)


@blueprint.post("/v1/containers/<ident>/add_security_group")
def add_security_group(ident: str) -> Any:
    return _security_group(ident, "add_security_group")


@blueprint.post("/v1/containers/<ident>/remove_security_group")
def remove_security_group(ident: str) -> Any:
    return _security_group(ident, "remove_security_group")


def _security_group(ident: str, verb: str) -> Any:
    """Add a security group of the caller's project to every port of the container, or
    remove it: 202; the agent renews the ports' filters in the container's namespace."""
    state = _with_ports(ident, f"container:{verb}", "name")
    name = parsing.required_query("name")
    try:
        (group_id,) = neutron.security_group_ids(connection(), [name],
                                                 current_caller().project_id)
    except ServiceError as error:
        raise refused(error) from error
    action = Action.ADD_SECURITY_GROUP if verb == "add_security_group" \
        else Action.REMOVE_SECURITY_GROUP
    act_on(state, action, {"id": group_id, "name": name})
    return flask.Response(status=202)


@blueprint.post("/v1/networks")
def create_network() -> Any:
    """Zun's network create (admin): the Neutron network, as Zun shows it."""
    caller = authorize("network:create")
    parsing.reject_unknown_query()
    body = parsing.json_body()
    if not enabled():
        raise errors.bad_request("Networks need Neutron, and this Higgins has none configured "
                                 "([neutron] enabled).")
    ident = body.get("neutron_net_id") if isinstance(body, dict) else None
    if not isinstance(ident, str) or not ident:
        raise errors.bad_request("Invalid input for field 'neutron_net_id': the Neutron "
                                 "network's id is required.")
    try:
        found = neutron.find_network(connection(), ident)
    except ServiceError as error:
        raise refused(error) from error
    return {"uuid": found["id"], "name": body.get("name") or found["name"],
            "neutron_net_id": found["id"], "project_id": caller.project_id,
            "user_id": caller.user_id}


@blueprint.delete("/v1/networks/<network_id>")
def delete_network(network_id: str) -> Any:
    """Zun's network delete (admin): 204, or 409 while a container is on it."""
    authorize("network:delete")
    parsing.reject_unknown_query()
    using = [s.uuid for s in services().store.find_containers(project_id=None)
             if network_id in s.addresses and s.status != "Deleted"]
    if using:
        raise errors.conflict(f"Network {network_id} is in use by container {using[0]}.",
                              "container.network")
    return flask.Response(status=204)
