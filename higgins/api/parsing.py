"""EDGE: turn request bodies and query strings into clean values, or a Zun-format 400."""

from __future__ import annotations

import base64
import datetime
import re
import shlex
import signal
import uuid as uuidlib
from collections.abc import Mapping
from typing import Any, NoReturn

import flask

from higgins import events
from higgins.api import errors
from higgins.api.microversions import Version

# Fields Zun added after 1.1, with the microversion that introduced each.
FIELD_SINCE: Mapping[str, int] = {
    "auto_remove": 3, "runtime": 5, "hostname": 9, "mounts": 11,
    "privileged": 21, "healthcheck": 22, "exposed_ports": 24, "cpu_policy": 28,
    "registry": 31, "tty": 36, "host": 39, "entrypoint": 40,
}

# Accepted by Zun but needing Neutron, Cinder, Glance or more: only their empty form is accepted.
NOT_YET: Mapping[str, str] = {
    "healthcheck": "health checks are not implemented yet",
    "registry": "private registries are not implemented yet",
}

_MEMORY = re.compile(r"^([0-9]+)\s*([bkmg]?)(i?b)?$", re.IGNORECASE)
_UNIT_BYTES = {"": 1024 * 1024, "b": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 ** 3}
MIN_MEMORY_MB = 4
MAX_MEMORY_MB = 1_024_000
MAX_CPU = 1024.0
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}


def require_valid(schema: str, body: Any, what: str = "field(s)") -> None:
    """A 400 naming every way `body` breaks schemas/requests/<schema>.json."""
    problems = events.schema_errors("requests", schema, body)
    if problems:
        raise errors.bad_request(f"Invalid input for {what}: " +
                                 "; ".join(_shortened(p) for p in problems))


_PROBLEM_CHARS = 200


def _shortened(problem: str) -> str:
    """A problem as the user reads it: jsonschema quotes the offending value whole, which for
    a list over its maxItems is most of the body; its start and end say enough."""
    if len(problem) <= _PROBLEM_CHARS:
        return problem
    return f"{problem[:_PROBLEM_CHARS - 60]} … {problem[-50:]}"


def json_body() -> dict[str, Any]:
    raw = flask.request.get_data(cache=True)
    if not raw.strip():
        raise errors.bad_request("The request body is empty; send a JSON object.")
    try:
        document = flask.json.loads(raw)
    except ValueError as error:
        raise errors.bad_request(f"The request body is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise errors.bad_request("The request body must be a JSON object.")
    return document


def container_spec(body: dict[str, Any], version: Version, run: bool) -> dict[str, Any]:
    """Validate a create body against schemas/requests/container_create.json and Zun's rules,
    and return the spec recorded in container.create.requested."""
    too_new = sorted(f for f in body if f in FIELD_SINCE and not version.at_least(FIELD_SINCE[f]))
    if too_new:
        raise errors.bad_request(
            f"Additional properties are not allowed ({', '.join(map(repr, too_new))} "
            f"{'was' if len(too_new) == 1 else 'were'} unexpected) at microversion {version}."
        )
    require_valid("container_create", body)
    _refuse_unsupported(body)
    spec = {
        "name": body.get("name") or None,
        "image": body["image"],
        "command": parse_command(body.get("command"), version),
        "entrypoint": list(body.get("entrypoint") or []),
        "cpu": parse_cpu(body.get("cpu")),
        "memory": parse_memory(body.get("memory")),
        "environment": dict(body.get("environment") or {}),
        "labels": dict(body.get("labels") or {}),
        "workdir": parse_workdir(body.get("workdir")),
        "hostname": body.get("hostname"),
        "restart_policy": parse_restart_policy(body.get("restart_policy"), body),
        "auto_remove": bool(body.get("auto_remove")),
        "interactive": to_bool("interactive", body.get("interactive", False)),
        "tty": to_bool("tty", body.get("tty", False)),
        "image_pull_policy": body.get("image_pull_policy"),
        "run": run,
    }
    if body.get("host"):
        spec["requested_host"] = body["host"]
    if body.get("auto_heal"):  # at every microversion, as Zun (which checks no version for it)
        spec["auto_heal"] = True
    spec.update(placement_constraints(body))
    files = injected_files(body.get("mounts"), version)
    if files:
        spec["injected_files"] = files
    return spec


HINTS = ("same_host", "different_host", "label:<key>")
MAX_DISK_GB = 102_400


def placement_constraints(body: Mapping[str, Any]) -> dict[str, Any]:
    """Where the tenant asks the container placed: Zun's `hints`, `availability_zone` and
    `disk` (GB claimed on the host), as recorded in container.create.requested (only those
    given)."""
    given: dict[str, Any] = {}
    if body.get("hints"):
        given["hints"] = parse_hints(body["hints"])
    if body.get("availability_zone"):
        given["availability_zone"] = str(body["availability_zone"])
    disk = parse_disk(body.get("disk"))
    if disk is not None:
        given["disk"] = disk
    return given


def parse_hints(hints: Mapping[str, Any]) -> dict[str, str]:
    """Zun's scheduler hints: `label:<key>` = value (the host's label, LabelFilter), and
    `same_host` / `different_host` = container uuids (a list, or comma-separated; Nova's
    SameHostFilter / DifferentHostFilter). Kept as strings, uuids comma-separated."""
    parsed: dict[str, str] = {}
    for name, value in hints.items():
        if name.startswith("label:") and len(name) > len("label:"):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise errors.bad_request(f"Invalid input for field 'hints': {name!r} must be "
                                         "a string (the host label's value).")
            parsed[name] = str(value)
        elif name in ("same_host", "different_host"):
            parsed[name] = ",".join(_hinted_uuids(name, value))
        else:
            raise errors.bad_request(f"Invalid input for field 'hints': unknown scheduler hint "
                                     f"{name!r}; Higgins knows {', '.join(HINTS)}.")
    return parsed


def _hinted_uuids(name: str, value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    uuids = [str(item).strip() for item in items] if isinstance(items, list) else []
    if not uuids or not all(is_uuid(item) for item in uuids):
        raise errors.bad_request(f"Invalid input for field 'hints': {name!r} must be a "
                                 "container uuid or a list of them.")
    return uuids


def parse_disk(value: Any) -> int | None:
    """Zun's disk: whole GB (1 or more), claimed on the host the container is placed on."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_DISK_GB:
        raise errors.bad_request(f"Invalid input for field 'disk': {value!r}; it must be a "
                                 f"whole number of GB from 1 to {MAX_DISK_GB}.")
    return int(text)


def container_update(body: dict[str, Any], version: Version) -> dict[str, Any]:
    """A PATCH body: any of cpu, memory, and (from 1.14) name."""
    if "name" in body and not version.at_least(14):
        raise errors.bad_request(f"Additional properties are not allowed ('name' was "
                                 f"unexpected) at microversion {version}.")
    require_valid("container_update", body)
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = body["name"]
    if "cpu" in body:
        changes["cpu"] = parse_cpu(body["cpu"])
    if "memory" in body:
        changes["memory"] = parse_memory(body["memory"])
    return changes


def container_name(value: str | None) -> str:
    problems = events.schema_errors("requests", "container_update", {"name": value})
    if value is None or problems:
        raise errors.bad_request(f"Invalid input for query parameter 'name': {value!r} is not "
                                 "a container name (2-255 of a-z, A-Z, 0-9, _ . -, starting "
                                 "with a letter or digit).")
    return value


def container_image(value: str) -> str:
    """An image reference, by the create body's rule (schemas/requests/container_create.json)."""
    problems = events.schema_errors("requests", "container_create", {"image": value})
    if problems:
        raise errors.bad_request(f"Invalid input for query parameter 'image': {value!r} is not "
                                 "an image reference.")
    return value


_INJECTED_SINCE = 25
MAX_INJECTED_BYTES = 1024 * 1024


def injected_files(mounts: Any, version: Version) -> dict[str, str]:
    """Zun's mounts: `bind` entries (1.25+) inject a file whose base64 content is the source
    (`volume` entries, Cinder volumes, are api/volumes.py's)."""
    if not mounts:
        return {}
    if not isinstance(mounts, list) or not all(isinstance(m, dict) for m in mounts):
        raise errors.bad_request("Invalid input for field 'mounts': a list of objects.")
    files: dict[str, str] = {}
    for mount in mounts:
        if mount.get("type", "volume") == "volume":
            continue  # a Cinder volume: api/volumes.py
        if mount.get("type") != "bind":
            raise errors.bad_request("Invalid input for field 'mounts': type is volume or "
                                     "bind.")
        if not version.at_least(_INJECTED_SINCE):
            raise errors.bad_request("Injected files (mounts of type bind) need microversion "
                                     "1.25 or later.")
        destination, source = mount.get("destination"), mount.get("source")
        if not isinstance(destination, str) or not destination.startswith("/") or \
                destination.endswith("/"):
            raise errors.bad_request("Invalid input for field 'mounts': each destination must "
                                     "be an absolute file path.")
        try:
            content = base64.b64decode(str(source), validate=True)
        except ValueError as error:
            raise errors.bad_request("Invalid input for field 'mounts': a bind source must be "
                                     "the file's content in base64.") from error
        if len(content) > MAX_INJECTED_BYTES:
            raise errors.bad_request("Invalid input for field 'mounts': an injected file may "
                                     f"be at most {MAX_INJECTED_BYTES} bytes.")
        files[destination] = str(source)
    return files


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    for field, why in NOT_YET.items():
        if body.get(field):
            raise errors.bad_request(f"'{field}' is not supported by Higgins yet: {why}; "
                                     "leave it out or empty.")
    if body.get("runtime") not in (None, "", "runc"):
        raise errors.bad_request(f"Runtime {body['runtime']!r} is not available; use 'runc'.")


def parse_command(value: Any, version: Version) -> list[str]:
    if value is None or value == "" or value == []:
        return []
    if version.at_least(20):
        if not isinstance(value, list):
            raise errors.bad_request(
                f"Invalid input for field 'command': from microversion 1.20 it is a list of "
                f"strings, got {type(value).__name__}.")
        return list(value)
    if not isinstance(value, str):
        raise errors.bad_request(
            f"Invalid input for field 'command': before microversion 1.20 it is a string, "
            f"got {type(value).__name__}.")
    try:
        return shlex.split(value)
    except ValueError as error:
        raise errors.bad_request(f"Invalid input for field 'command': {error}.") from error


def parse_memory(value: Any) -> int | None:
    """Zun takes memory in MiB ("512" or 512); Docker-style units ("512m", "1g") are accepted."""
    if value is None or value == "":
        return None
    match = _MEMORY.match(str(value).strip())
    if isinstance(value, bool) or not match:
        raise errors.bad_request(
            f"Invalid input for field 'memory': {value!r} is not a size; use a number of MiB "
            "such as 512, or a number with a unit such as '512m' or '1g'.")
    mebibytes = int(match.group(1)) * _UNIT_BYTES[match.group(2).lower()] // (1024 * 1024)
    if not MIN_MEMORY_MB <= mebibytes <= MAX_MEMORY_MB:
        raise errors.bad_request(
            f"Invalid input for field 'memory': {value!r} is {mebibytes} MiB; it must be "
            f"between {MIN_MEMORY_MB} and {MAX_MEMORY_MB} MiB.")
    return mebibytes


def parse_cpu(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        cpu = float(value)
    except (TypeError, ValueError):
        cpu = -1.0
    if isinstance(value, bool) or not 0 < cpu <= MAX_CPU:
        raise errors.bad_request(
            f"Invalid input for field 'cpu': {value!r}; it must be a number of CPUs "
            f"greater than 0 and at most {MAX_CPU:g}.")
    return cpu


def parse_workdir(value: Any) -> str | None:
    if not value:
        return None
    if not str(value).startswith("/"):
        raise errors.bad_request(f"Invalid input for field 'workdir': {value!r} is not an "
                                 "absolute path.")
    return str(value)


def parse_restart_policy(value: Any, body: Mapping[str, Any]) -> dict[str, str]:
    if not value:
        return {}
    name = value["Name"]
    count = int(value.get("MaximumRetryCount") or 0)
    if count and name != "on-failure":
        raise errors.bad_request(f"Invalid input for field 'restart_policy': a maximum retry "
                                 f"count is only valid with 'on-failure', not {name!r}.")
    if name != "no" and body.get("auto_remove"):
        raise errors.bad_request("auto_remove cannot be combined with a restart policy other "
                                 "than 'no'.")
    return {"Name": name, "MaximumRetryCount": str(count)}


def to_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise errors.bad_request(f"Invalid input for field '{field}': {value!r} is not a boolean.")


def query_bool(name: str, default: bool = False) -> bool:
    value = flask.request.args.get(name)
    return default if value is None else to_bool(name, value)


def query_int(name: str, default: int | None, minimum: int = 0) -> int | None:
    value = flask.request.args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < minimum:
        raise errors.bad_request(f"Invalid input for query parameter '{name}': {value!r} is "
                                 f"not an integer of at least {minimum}.")
    return int(value)


def action_params(*allowed: str) -> dict[str, str]:
    """An action's parameters: clients send them in the query (python-zunclient) or as a JSON
    object body (Zun's tempest tests: execute {"command": ...}); Zun reads both. Unknown names
    are a 400."""
    params = {name: str(value) for name, value in flask.request.args.items()}
    if flask.request.get_data(cache=True).strip():
        params.update({name: value if isinstance(value, str) else flask.json.dumps(value)
                       for name, value in json_body().items()})
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise errors.bad_request(f"Unknown parameter(s): {', '.join(unknown)}.")
    return params


def is_uuid(text: str) -> bool:
    try:
        uuidlib.UUID(text)
    except ValueError:
        return False
    return True


def required_query(name: str) -> str:
    value = flask.request.args.get(name)
    if not value:
        raise errors.bad_request(f"Invalid input for query parameter '{name}': it is required.")
    return value


def reject_unknown_query(*allowed: str) -> None:
    unknown = sorted(set(flask.request.args) - set(allowed))
    if unknown:
        raise errors.bad_request(f"Unknown query parameter(s): {', '.join(unknown)}.")


def parse_since(value: str | None) -> int | None:
    """Zun's `since`: a UNIX timestamp, or 'YYYY-MM-DD HH:MM:SS,mmm' (UTC)."""
    if value is None or value in ("", "None"):
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S,%f")
    except ValueError as error:
        raise errors.bad_request(
            f"Invalid input for query parameter 'since': {value!r}; use a UNIX timestamp or "
            "'YYYY-MM-DD HH:MM:SS,mmm'.") from error
    return int(moment.replace(tzinfo=datetime.UTC).timestamp())


_SIGNALS = {s.name for s in signal.Signals}
_SIGNAL_NAMES = {int(s): s.name for s in signal.Signals}


def parse_signal(value: str | None) -> str | None:
    """Zun's accepted forms: SIGKILL, KILL, sigkill, kill, 9, or the literal string None."""
    if value is None or value in ("", "None"):
        return None
    text = value.strip()
    if text.isdigit():
        return _SIGNAL_NAMES.get(int(text)) or _bad_signal(value)
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    return name if name in _SIGNALS else _bad_signal(value)


def _bad_signal(value: str) -> NoReturn:
    raise errors.bad_request(f"Invalid input for query parameter 'signal': {value!r} is not a "
                             "signal.")
