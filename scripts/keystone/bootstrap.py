"""Idempotently give a bootstrapped Keystone what Higgins' tests and a developer need: the
`higgins` service user, two tenant projects with reader / member / admin personas, and the
`container` service with Higgins' endpoint in the catalog. Test credentials for a loopback-only
Keystone; never for a real cloud.
Usage: bootstrap.py KEYSTONE_URL ADMIN_PASSWORD HIGGINS_ENDPOINT
       bootstrap.py KEYSTONE_URL ADMIN_PASSWORD --service NAME TYPE ENDPOINT [USER]
The second form registers another OpenStack service (Glance, Cinder, Heat...) in the catalog and,
with USER, that service's own user with the service and admin roles in project `service`."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

PASSWORD = "secret"  # every persona's; the service user's too
PROJECTS = ("demo", "alt_demo")
# user -> (project, role); a member token also carries reader (implied roles).
PERSONAS = {
    "demo_reader": ("demo", "reader"),
    "demo_member": ("demo", "member"),
    "demo_admin": ("demo", "admin"),
    "alt_member": ("alt_demo", "member"),
    "higgins": ("service", "service"),
}


class Keystone:
    def __init__(self, url: str, admin_password: str) -> None:
        self.url = url.rstrip("/")
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        request = urllib.request.Request(f"{self.url}/v3/auth/tokens", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.token = response.headers["X-Subject-Token"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/v3{path}", data, method=method, headers={
            "X-Auth-Token": self.token, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def ensure(self, collection: str, name: str, body: dict[str, Any],
               query: str = "") -> str:
        """The id of the `collection` entry called `name`, created from `body` when missing."""
        found = self.call("GET", f"/{collection}?name={name}{query}")[collection]
        if found:
            return str(found[0]["id"])
        created = self.call("POST", f"/{collection}", {collection[:-1]: {"name": name, **body}})
        return str(created[collection[:-1]]["id"])


def main() -> None:
    url, admin_password, endpoint = sys.argv[1:4]
    keystone = Keystone(url, admin_password)
    projects = {name: keystone.ensure("projects", name, {"domain_id": "default"})
                for name in (*PROJECTS, "service")}
    roles = {name: keystone.ensure("roles", name, {}) for name in
             ("reader", "member", "admin", "service")}
    for user, (project, role) in PERSONAS.items():
        user_id = keystone.ensure("users", user, {"domain_id": "default", "password": PASSWORD,
                                                  "default_project_id": projects[project]})
        keystone.call("PUT", f"/projects/{projects[project]}/users/{user_id}/roles/{roles[role]}")
        if user == "higgins":
            # as Zun's install guide has it for the zun user: Glance lets the agents fetch
            # and upload a tenant's images as the service user only with admin
            keystone.call("PUT", f"/projects/{projects[project]}/users/{user_id}/roles/"
                                 f"{roles['admin']}")
    register_service(keystone, "zun", "container", endpoint, "Higgins (Zun v1 API)")


def register_service(keystone: Keystone, name: str, kind: str, endpoint: str,
                     description: str) -> None:
    """The catalog entry `name` of type `kind` with `endpoint` on all three interfaces."""
    service = keystone.ensure("services", name, {"type": kind, "enabled": True,
                                                 "description": description})
    existing = keystone.call("GET", f"/endpoints?service_id={service}")["endpoints"]
    for interface in ("public", "internal", "admin"):
        mine = [e for e in existing if e["interface"] == interface]
        if mine and mine[0]["url"] != endpoint:
            keystone.call("PATCH", f"/endpoints/{mine[0]['id']}", {"endpoint": {"url": endpoint}})
        elif not mine:
            keystone.call("POST", "/endpoints", {"endpoint": {
                "service_id": service, "interface": interface, "url": endpoint,
                "region_id": "RegionOne"}})


def register_other(url: str, admin_password: str, name: str, kind: str, endpoint: str,
                   user: str | None) -> None:
    """Another service's catalog entry and, when `user` is given, its service user."""
    keystone = Keystone(url, admin_password)
    register_service(keystone, name, kind, endpoint, f"{name} (test deployment for Higgins)")
    if user:
        project = keystone.ensure("projects", "service", {"domain_id": "default"})
        user_id = keystone.ensure("users", user, {"domain_id": "default", "password": PASSWORD,
                                                  "default_project_id": project})
        for role in ("service", "admin"):
            role_id = keystone.ensure("roles", role, {})
            keystone.call("PUT", f"/projects/{project}/users/{user_id}/roles/{role_id}")

if __name__ == "__main__":
    try:
        if len(sys.argv) > 3 and sys.argv[3] == "--service":
            register_other(*sys.argv[1:3], *sys.argv[4:7],
                           sys.argv[7] if len(sys.argv) > 7 else None)
        else:
            main()
    except urllib.error.HTTPError as error:
        sys.exit(f"Keystone answered {error.code}: {error.read().decode(errors='replace')}")
