"""The Helm chart charts/higgins, offline: helm lints and renders it with the default values and
each of charts/higgins/ci/*.yaml, kubernetes-validate checks the manifests against one
Kubernetes version's schemas (strict), and the tests read the manifests for what Higgins needs.
helm and kubernetes-validate come from scripts/install-helm.sh (missing: the tests fail)."""

from __future__ import annotations

import configparser
import functools
import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from higgins import settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "higgins"
TOOLS = Path(os.environ.get("HIGGINS_HELM_PREFIX", "/var/lib/higgins-helm")) / "bin"
# helm v3.21's own default; kubernetes-validate 1.37.0 carries this version's schemas
KUBERNETES = "1.36.0"
VALUES = {"defaults": None, "rabbitmq": CHART / "ci" / "rabbitmq-values.yaml",
          "kafka": CHART / "ci" / "kafka-values.yaml"}

Manifest = dict[str, Any]


def tool(name: str) -> str:
    path = TOOLS / name
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run scripts/install-helm.sh", pytrace=False)
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def values_args(values: str) -> list[str]:
    given = VALUES[values]
    return ["--values", str(given)] if given else []


def helm_template(values: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(tool("helm"), "template", "higgins", str(CHART), "--namespace", "cloud",
               "--kube-version", KUBERNETES, *values_args(values), *extra)


@functools.cache
def rendered(values: str) -> str:
    result = helm_template(values)
    assert result.returncode == 0, result.stderr
    return result.stdout


def manifests(values: str) -> dict[tuple[str, str], Manifest]:
    found = [doc for doc in yaml.safe_load_all(rendered(values)) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in found}


def values_of(values: str) -> dict[str, Any]:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    given = VALUES[values]
    return _merged(defaults, yaml.safe_load(given.read_text()) if given else {})


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of a values file over the defaults: maps merge, anything else replaces."""
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both else value
    return merged


def higgins_conf(values: str) -> str:
    return str(manifests(values)[("ConfigMap", "higgins")]["data"]["higgins.conf"])


def secret_files(values: str) -> dict[str, str]:
    return dict(manifests(values)[("Secret", "higgins")]["stringData"])


def ini(text: str) -> configparser.ConfigParser:
    """An INI file as oslo.config reads it: [DEFAULT] is a section like the others."""
    parsed = configparser.ConfigParser(interpolation=None, default_section="\0")
    parsed.read_string(text)
    return parsed


def pod_spec(values: str, kind: str, name: str) -> Manifest:
    return dict(manifests(values)[(kind, name)]["spec"]["template"]["spec"])


def container(values: str, kind: str, name: str) -> Manifest:
    return single(pod_spec(values, kind, name)["containers"])


def single(found: Iterable[Manifest]) -> Manifest:
    (only,) = found
    return dict(only)


ALL_VALUES = pytest.mark.parametrize("values", list(VALUES))


@ALL_VALUES
def test_chart_lints_clean(values: str) -> None:
    result = run(tool("helm"), "lint", "--strict", str(CHART), *values_args(values))
    assert result.returncode == 0, result.stdout + result.stderr


@ALL_VALUES
def test_rendered_manifests_are_valid_kubernetes_objects(values: str, tmp_path: Path) -> None:
    path = tmp_path / f"{values}.yaml"
    path.write_text(rendered(values))
    result = run(tool("kubernetes-validate"), "--strict", "--quiet",
                 "--kubernetes-version", KUBERNETES, str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("values", "scheme"), [("defaults", "amqp://"),
                                                ("rabbitmq", "amqp://"),
                                                ("kafka", "kafka://")])
def test_config_carries_the_bus_url_from_values(values: str, scheme: str) -> None:
    url = ini(higgins_conf(values))["bus"]["url"]
    assert url == values_of(values)["bus"]["url"]
    assert url.startswith(scheme)


@ALL_VALUES
def test_higgins_reads_the_rendered_config(values: str, tmp_path: Path) -> None:
    (tmp_path / "higgins.conf").write_text(higgins_conf(values))
    (tmp_path / "secret.conf").write_text(secret_files(values)["secret.conf"])
    given = values_of(values)
    conf = settings.load([], [str(tmp_path / "higgins.conf"), str(tmp_path / "secret.conf")])
    cassandra = given["cassandra"]
    store = (f"cassandra://{','.join(cassandra['hosts'])}:{cassandra['port']}/"
             f"{cassandra['keyspace']}")
    assert (conf.bus_url, conf.store_url, conf.bus.log_url) == (given["bus"]["url"], store, store)
    assert (conf.api.host_ip, conf.api.port) == ("0.0.0.0", given["api"]["port"])
    assert conf.api.auth_strategy == given["api"]["authStrategy"]
    assert conf.bus.partitions == given["bus"]["partitions"]


def test_secret_config_is_read_after_the_config_map(tmp_path: Path) -> None:
    (tmp_path / "higgins.conf").write_text(higgins_conf("rabbitmq"))
    (tmp_path / "secret.conf").write_text(secret_files("rabbitmq")["secret.conf"])
    conf = settings.load([], [str(tmp_path / "higgins.conf"), str(tmp_path / "secret.conf")])
    assert conf.notifications.url.startswith("amqp://ceilometer:ci-telemetry-password@")
    assert "ci-telemetry-password" not in higgins_conf("rabbitmq")


@ALL_VALUES
def test_every_rendered_option_is_one_higgins_reads(values: str) -> None:
    known = {(group or "DEFAULT"): {opt.name for opt in opts}
             for group, opts in settings._OPTS.items()}
    known["oslo_policy"] = {"policy_file"}  # oslo.policy's, read from the same files
    parsed = ini(higgins_conf(values))
    unknown = [f"[{section}] {key}" for section in parsed.sections()
               for key in parsed[section] if key not in known.get(section, set())]
    assert unknown == []


@ALL_VALUES
def test_agent_is_a_daemon_set_on_the_nodes_docker_socket(values: str) -> None:
    spec = pod_spec(values, "DaemonSet", "higgins-agent")
    agent = container(values, "DaemonSet", "higgins-agent")
    socket = single(volume for volume in spec["volumes"]
                    if volume.get("hostPath", {}).get("path") == "/var/run/docker.sock")
    assert socket["hostPath"]["type"] == "Socket"
    mounts = {mount["name"]: mount["mountPath"] for mount in agent["volumeMounts"]}
    assert mounts[socket["name"]] == "/var/run/docker.sock"
    assert "url = unix:///var/run/docker.sock" in higgins_conf(values)
    assert agent["args"][-1] == "agent"
    env = {entry["name"]: entry for entry in agent["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert env["OS_DEFAULT__HOST"]["value"] == "$(NODE_NAME)"
    assert env["OS_AGENT__URL"]["value"].startswith("http://$(POD_IP):")
    assert not any(kind == "Deployment" and "agent" in name for kind, name in manifests(values))


@pytest.mark.parametrize(("values", "host_network"), [("defaults", False), ("rabbitmq", True)])
def test_agent_on_the_host_network_only_when_asked(values: str, host_network: bool) -> None:
    spec = pod_spec(values, "DaemonSet", "higgins-agent")
    assert spec.get("hostNetwork", False) is host_network
    assert (spec.get("dnsPolicy") == "ClusterFirstWithHostNet") is host_network
    # a NetworkPolicy does not reach host network pods: none is made for them
    assert (("NetworkPolicy", "higgins-agent") in manifests(values)) is not host_network


@ALL_VALUES
def test_api_deployment_has_probes_on_the_api_port_and_the_replicas_from_values(
        values: str) -> None:
    given = values_of(values)["api"]
    api = container(values, "Deployment", "higgins-api")
    assert manifests(values)[("Deployment", "higgins-api")]["spec"]["replicas"] == \
        given["replicas"]
    (port,) = api["ports"]
    assert port["containerPort"] == int(ini(higgins_conf(values))["api"]["port"])
    for probe in ("readinessProbe", "livenessProbe"):
        check = api[probe]["httpGet"]
        assert check["path"] in ("/", "/v1/"), "the version documents answer without a token"
        assert check["port"] == port["name"]
    service = manifests(values)[("Service", "higgins-api")]["spec"]
    assert service["ports"][0]["targetPort"] == port["name"]
    assert service["selector"] == \
        manifests(values)[("Deployment", "higgins-api")]["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("values", ["defaults", "rabbitmq"])
def test_secret_holds_the_keystone_password_the_api_reads(values: str) -> None:
    keystone = ini(secret_files(values)["keystone.conf"])["keystone_authtoken"]
    assert keystone["password"] == values_of(values)["keystone"]["password"]
    api = container(values, "Deployment", "higgins-api")
    assert "/etc/higgins/keystone.conf" in api["args"]
    config = single(volume for volume in pod_spec(values, "Deployment", "higgins-api")["volumes"]
                    if volume["name"] == "config")
    secrets = [source["secret"] for source in config["projected"]["sources"]
               if "secret" in source]
    assert secrets[0]["name"] == "higgins"
    assert {"key": "keystone.conf", "path": "keystone.conf"} in secrets[0]["items"]


@pytest.mark.parametrize(("kind", "name"), [("DaemonSet", "higgins-agent"),
                                       ("Deployment", "higgins-processor-all")])
def test_only_the_api_mounts_the_keystone_password(kind: str, name: str) -> None:
    assert "keystone.conf" not in str(pod_spec("defaults", kind, name)["volumes"])


def test_without_keystone_the_secret_has_no_keystone_password() -> None:
    assert "keystone.conf" not in secret_files("kafka")
    assert "/etc/higgins/keystone.conf" not in container("kafka", "Deployment",
                                                         "higgins-api")["args"]


def config_files(values: str, kind: str, name: str, tmp_path: Path) -> list[str]:
    """The config files a pod's container reads, in its order, written from the manifests."""
    files = {"higgins.conf": higgins_conf(values), **secret_files(values)}
    args = container(values, kind, name)["args"]
    paths = [args[i + 1] for i, arg in enumerate(args) if arg == "--config-file"]
    tmp_path.mkdir()
    for path in paths:
        (tmp_path / Path(path).name).write_text(files[Path(path).name])
    return [str(tmp_path / Path(path).name) for path in paths]


@ALL_VALUES
def test_the_api_and_the_agents_read_the_same_agent_key_from_the_secret(
        values: str, tmp_path: Path) -> None:
    keys = set()
    for kind, name in (("Deployment", "higgins-api"), ("DaemonSet", "higgins-agent")):
        conf = settings.load([], config_files(values, kind, name, tmp_path / name))
        keys.add(conf.agent.auth_key)
        mounted = single(volume for volume in pod_spec(values, kind, name)["volumes"]
                         if volume["name"] == "config")
        items = [item for source in mounted["projected"]["sources"] if "secret" in source
                 for item in source["secret"]["items"]]
        assert {"key": "agent.conf", "path": "agent.conf"} in items
    (key,) = keys
    assert len(key) >= 32
    assert key not in higgins_conf(values)


def test_only_the_api_and_the_agents_mount_the_agent_key() -> None:
    processor = pod_spec("defaults", "Deployment", "higgins-processor-all")
    assert "agent.conf" not in str(processor["volumes"])


def test_the_agent_key_of_the_values_is_the_one_in_the_secret() -> None:
    key = "0123456789abcdef" * 4
    result = helm_template("defaults", "--set", f"agent.authKey={key}")
    assert result.returncode == 0, result.stderr
    secret = single(doc for doc in yaml.safe_load_all(result.stdout)
                    if doc and doc["kind"] == "Secret")
    assert ini(secret["stringData"]["agent.conf"])["agent"]["auth_key"] == key


@pytest.mark.parametrize("values", ["defaults", "kafka"])
def test_each_processor_deployment_runs_its_processor(values: str) -> None:
    wanted = values_of(values)["processor"]["deployments"]
    for deployment in wanted:
        name = f"higgins-processor-{deployment['name']}"
        made = manifests(values)[("Deployment", name)]
        assert made["spec"]["replicas"] == deployment.get("replicas", 1)
        assert container(values, "Deployment", name)["args"][-2:] == \
            ["processor", deployment["name"]]
    processors = [name for kind, name in manifests(values) if "processor" in name]
    assert len(processors) == len(wanted)


def test_ingress_is_off_by_default_and_routes_to_the_api_when_on() -> None:
    assert not any(kind == "Ingress" for kind, _ in manifests("defaults"))
    rule = manifests("rabbitmq")[("Ingress", "higgins-api")]["spec"]["rules"][0]
    assert rule["http"]["paths"][0]["backend"]["service"]["name"] == "higgins-api"


@pytest.mark.parametrize(("overrides", "reason"), [
    (["--set", "bus.url=rabbit://higgins:pw@rabbitmq:5672/higgins"], "use amqp://"),
    (["--set", "bus.url="], "give it here, or as [bus] url in secretConfig"),
    (["--set", "processor.deployments[0].name=folding"], 'no processor "folding"'),
    (["--set", "processor.deployments[0].name=fold"], "run no scheduler, audit"),
    (["--set", "keystone.password="], "keystone.password"),
    (["--set", "agent.authKey=too-short"], "agent.authKey: give at least 32 characters"),
], ids=["not-a-bus-url", "no-bus-url", "unknown-processor", "processors-missing",
        "no-keystone-password", "short-agent-key"])
def test_values_higgins_cannot_run_with_are_refused_with_the_reason(
        overrides: list[str], reason: str) -> None:
    result = helm_template("defaults", *overrides)
    assert result.returncode != 0
    assert reason in result.stderr
