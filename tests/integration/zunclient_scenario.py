"""Run by tests/integration/test_clients.py with the clients' own venv (python-zunclient as a
library, scripts/install-clients.sh): drives Higgins as a tenant would and prints what each
step saw as one JSON object; the test makes the assertions.

    python zunclient_scenario.py KEYSTONE_URL REGION HIGGINS_URL NAME"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from keystoneauth1 import session
from keystoneauth1.identity import v3
from zunclient import client as zun
from zunclient.common.apiclient import exceptions

KEYSTONE, REGION, HIGGINS, NAME = sys.argv[1:5]
PASSWORDS = {"admin": "admin-secret"}


def connect(user: str, project: str) -> Any:
    auth = v3.Password(auth_url=f"{KEYSTONE}/v3", username=user,
                       password=PASSWORDS.get(user, "secret"), project_name=project,
                       user_domain_id="default", project_domain_id="default")
    return zun.Client("1.latest", session=session.Session(auth=auth), region_name=REGION)


def refusal(call: Any, *args: Any, **kwargs: Any) -> list[Any]:
    """[http status, message] of a call the server must refuse; ["accepted"] if it was not."""
    try:
        call(*args, **kwargs)
    except exceptions.HttpError as error:
        return [error.http_status, str(error)]
    return ["accepted"]


def wait(client: Any, uuid: str, status: str) -> str:
    seen = ""
    for _ in range(600):
        seen = client.containers.get(uuid).status
        if seen == status:
            break
        time.sleep(0.1)
    return seen


def main() -> None:
    report: dict[str, Any] = {}
    member, reader = connect("demo_member", "demo"), connect("demo_reader", "demo")
    admin, other = connect("demo_admin", "demo"), connect("alt_member", "alt_demo")
    made = member.containers.run(name=NAME, image="busybox:local",
                                 command=["sh", "-c", "echo hello from logs; sleep 300"])
    uuid = made.uuid
    report["running"] = wait(member, uuid, "Running")
    report["listed"] = [c.uuid for c in member.containers.list()]
    report["shown"] = member.containers.get(NAME).uuid
    report["logs"] = member.containers.logs(uuid, stdout=True, stderr=True)
    report["exec"] = member.containers.execute(uuid, command="echo hi", run=True)
    report["reader_listed"] = [c.uuid for c in reader.containers.list()]
    report["reader_stop"] = refusal(reader.containers.stop, uuid, 1)
    report["other_listed"] = [c.uuid for c in other.containers.list()]
    report["other_show"] = refusal(other.containers.get, uuid)
    member.containers.stop(uuid, 1)
    report["stopped"] = wait(member, uuid, "Stopped")
    member.containers.start(uuid)
    report["restarted"] = wait(member, uuid, "Running")

    project = member.http_client.session.get_project_id()
    admin.quotas.update(project, containers=1)
    report["quota"] = admin.quotas.get(project, usages=True)._info
    report["over_quota"] = refusal(member.containers.create, image="busybox:local",
                                   command=["true"])
    report["member_quota_update"] = refusal(member.quotas.update, project, containers=50)
    admin.quotas.delete(project)

    bogus = zun.Client("1.latest", auth_token="not-a-token", endpoint_override=f"{HIGGINS}/v1")
    report["bad_token"] = refusal(bogus.containers.list)

    member.containers.delete(uuid, stop=True)
    for _ in range(600):
        if not member.containers.list():
            break
        time.sleep(0.1)
    report["after_delete"] = [c.uuid for c in member.containers.list()]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
