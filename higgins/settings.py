"""EDGE: settings read once from oslo.config into frozen dataclasses, passed down explicitly."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from oslo_config import cfg

from higgins.processors import claims, placement, restarts, webhooks
from higgins.processors.quotas import Defaults as QuotaDefaults
from higgins.settings_openstack import OPTS as OPENSTACK_OPTS
from higgins.settings_openstack import OpenStackSettings as OpenStackSettings
from higgins.settings_openstack import load as load_openstack

_OPTS = {
    None: [
        cfg.StrOpt("state_path", help="Where the embedded log and views live."),
        cfg.StrOpt("host", default=socket.gethostname(), help="This host's name for its agent."),
        cfg.StrOpt("log_level", default="INFO"),
    ],
    "api": [
        cfg.HostAddressOpt("host_ip", default="127.0.0.1", help="Address the API listens on."),
        cfg.PortOpt("port", default=9517),
        cfg.IntOpt("threads", default=8, min=1),
        cfg.StrOpt("auth_strategy", default="noauth", choices=["noauth", "keystone"],
                   help="keystone: validate tokens with keystonemiddleware (configured by "
                        "[keystone_authtoken]); noauth: trust X-Project-Id / X-User-Id / "
                        "X-Roles headers (development only)."),
        cfg.FloatOpt("service_down_time", default=60.0, min=1,
                     help="Seconds without a report from a host's agent before its service "
                          "shows as down in /v1/services and the scheduler places nothing "
                          "new there."),
        cfg.IntOpt("max_request_body_size", default=114688, min=1,
                   help="The largest request body the API accepts, in bytes (oslo.middleware's "
                        "default); a larger one is refused with 413 before it is read."),
    ],
    "bus": [
        cfg.StrOpt("url", help="sqlite:///path (embedded, the default, under state_path), "
                   "amqp://user:password@host:5672/vhost (RabbitMQ) or "
                   "kafka://host:9092[,host:9092]/namespace (Kafka; topics and groups are "
                   "named <namespace>.*, default namespace higgins)."),
        cfg.StrOpt("log_url", help="With RabbitMQ or Kafka: where the event log is numbered "
                   "(each subject's events, by id), "
                   "cassandra://host:port/keyspace (default: [store] url)."),
        cfg.IntOpt("partitions", default=8, min=1,
                   help="With RabbitMQ: ordered event queues per consumer group; with Kafka: "
                        "the partitions of the intake and events topics; fixed for a "
                        "deployment's life (a container's events always take the same one)."),
    ],
    "store": [cfg.StrOpt("url", help="sqlite:///path (embedded); default under state_path.")],
    "processor": [
        cfg.IntOpt("concurrency", default=8, min=1,
                   help="Workers per stream processor in `higgins processor` (containers "
                        "handled at once; each container's events stay in order)."),
    ],
    "scheduler": [
        cfg.ListOpt("enabled_filters", default=list(placement.FILTER_NAMES),
                    help="The filters a host must pass, of " + ", ".join(placement.FILTER_NAMES)
                         + " (Zun's and Nova's names; they run in that order)."),
        cfg.ListOpt("weighers", default=["RAMWeigher", "CPUWeigher"],
                    help="What ranks the hosts that pass: the free amount of each, of "
                         + ", ".join(placement.WEIGHERS) + "."),
        cfg.StrOpt("strategy", default="spread", choices=[s.value for s in placement.Strategy],
                   help="spread: the host with the most free first (containers spread); "
                        "pack: the one with the least free that fits first (hosts fill one "
                        "after another)."),
        cfg.FloatOpt("ram_weight_multiplier", default=1.0,
                     help="Weight of free memory (a negative one turns it around, as Nova's)."),
        cfg.FloatOpt("cpu_weight_multiplier", default=1.0, help="Weight of free CPUs."),
        cfg.FloatOpt("disk_weight_multiplier", default=1.0, help="Weight of free disk."),
        cfg.FloatOpt("cpu_allocation_ratio", default=claims.Ratios.cpu, min=0.0,
                     help="CPUs the containers on a host may claim per CPU it has (Nova's "
                          "default: 4.0); one container never more than the host has."),
        cfg.FloatOpt("ram_allocation_ratio", default=claims.Ratios.ram, min=0.0,
                     help="Memory the containers on a host may claim per MiB it has."),
        cfg.FloatOpt("disk_allocation_ratio", default=claims.Ratios.disk, min=0.0,
                     help="Disk the containers on a host may claim per GB it has."),
        cfg.FloatOpt("heal_after", default=placement.DEFAULT.heal_after,
                     help="Seconds a host stays down (no report for [api] service_down_time) "
                          "before its Unknown containers with a restart policy other than "
                          "'no', or auto_heal, are made again on another host; at once when "
                          "an admin forced the host down. Negative: only then. Their Docker "
                          "containers on the old host are removed when its agent acts again: "
                          "until then a frozen or cut-off host may still run them."),
    ],
    "docker": [
        cfg.StrOpt("url", default="unix:///var/run/docker.sock"),
        cfg.StrOpt("api_version", default="auto"),
    ],
    "agent": [
        cfg.IntOpt("concurrency", default=4, min=1, help="Containers the agent works on at once."),
        cfg.StrOpt("availability_zone", default="nova",
                   help="The availability zone this host belongs to (Zun's default: nova)."),
        cfg.HostAddressOpt("host_ip", default="127.0.0.1",
                           help="Address of the agent's internal API (logs, exec, top, stats) "
                                "when it runs as its own process; reachable by the API only."),
        cfg.PortOpt("port", default=9518),
        cfg.FloatOpt("report_interval", default=10.0, min=0.1,
                     help="Seconds between the agent's host reports (its service heartbeat)."),
        cfg.StrOpt("url", help="URL the API uses to reach this agent "
                   "(default http://host_ip:port)."),
        cfg.StrOpt("auth_key", secret=True,
                   help="The key the API signs its calls to the agents with and the agents "
                        "check them with (HMAC-SHA256): the same on the API and on every "
                        "agent, at least 32 characters (e.g. `openssl rand -hex 32`). "
                        "Required by `higgins api` and `higgins agent`; `higgins up` needs "
                        "none (--backend rabbitmq|kafka makes one in state_path)."),
        cfg.BoolOpt("allow_any_address", default=False,
                    help="Let host_ip be 0.0.0.0 or :: (every address of the host); refused "
                         "otherwise: the agent's calls belong on the management network."),
        cfg.ListOpt("labels", default=[],
                    help="This host's labels, each key=value (e.g. ssd=true,rack=r1): a "
                         "container created with the scheduler hint label:<key>=<value> is "
                         "placed only on a host with that label (Zun's LabelFilter)."),
        cfg.IntOpt("reserved_host_memory_mb", default=0, min=0,
                   help="MiB of the host's memory kept for the host itself (as Nova's "
                        "option): the agent reports its memory less this, and the scheduler "
                        "claims no more than what is left."),
        cfg.StrOpt("tunnel_ip", default="",
                   help="This host's address for VXLAN between hosts (Neutron networks): "
                        "reported with the host, used as the local end of each network's VXLAN "
                        "device, and the other hosts' as its flood list. Default: host_ip "
                        "unless that is a loopback address (then no VXLAN: one host only)."),
    ],
    "quota": [
        cfg.IntOpt("containers", default=40, min=-1,
                   help="Default containers per project (-1: unlimited)."),
        cfg.IntOpt("cpu", default=20, min=-1, help="Default CPUs per project (-1: unlimited)."),
        cfg.IntOpt("memory", default=51200, min=-1,
                   help="Default MiB of memory per project (-1: unlimited)."),
        cfg.IntOpt("disk", default=100, min=-1,
                   help="Default GB of disk per project (-1: unlimited)."),
        cfg.FloatOpt("unset_cpu", default=1.0, min=0,
                     help="CPUs a container with no cpu limit counts against the quota "
                          "(Zun's default_cpu)."),
        cfg.IntOpt("unset_memory", default=512, min=0,
                   help="MiB a container with no memory limit counts against the quota "
                        "(Zun's default_memory)."),
        cfg.FloatOpt("settle_interval", default=60.0, min=0.1,
                     help="Seconds between the quota processor's rounds that settle "
                          "allocations against the views (expiring reservations whose create "
                          "never reached the log)."),
    ],
    "notifications": [
        cfg.StrOpt("url", help="RabbitMQ to send Telemetry notifications to "
                   "(amqp://user:password@host:5672/vhost). Default: the bus when it is "
                   "RabbitMQ; none in embedded mode (notifications off)."),
        cfg.StrOpt("exchange", default="higgins",
                   help="The topic exchange notifications go to (Ceilometer's control "
                        "exchange for Higgins)."),
        cfg.ListOpt("topics", default=["notifications"],
                    help="Each notification is sent with routing key <topic>.<priority> "
                         "for every topic here (oslo's notification topics)."),
        cfg.BoolOpt("durable", default=False,
                    help="Declare the exchange durable: must match how the consumers "
                         "(Ceilometer's oslo.messaging: [oslo_messaging_rabbit] "
                         "amqp_durable_queues, or quorum queues) declare it."),
        cfg.FloatOpt("exists_interval", default=3600.0, min=1,
                     help="Seconds per audit period: each period every container not "
                          "deleted gets a container.exists notification (for billing)."),
        cfg.BoolOpt("enabled", default=True,
                    help="Send notifications when a url (or a RabbitMQ bus) is there."),
    ],
    "webhooks": [
        cfg.ListOpt("allowed_networks", default=[],
                    help="CIDRs webhooks may reach although they are loopback, private or "
                         "link-local (refused otherwise, with the metadata addresses)."),
        cfg.ListOpt("retry_schedule",
                    default=[str(int(s)) for s in webhooks.DEFAULT_SCHEDULE],
                    help="Seconds before each retry of a failed delivery (with +-10% "
                         "jitter); when they are spent the subscription is disabled."),
        cfg.FloatOpt("timeout", default=10.0, min=0.1,
                     help="Seconds a receiver has to answer one delivery."),
        cfg.FloatOpt("retry_poll", default=1.0, min=0.05,
                     help="Seconds between the dispatcher's looks for due retries."),
        cfg.IntOpt("workers", default=8, min=1, help="Deliveries sent at once per process."),
    ],
    "restart": [
        cfg.FloatOpt("backoff_base", default=restarts.DEFAULT.base, min=0,
                     help="Seconds before the first restart a container's restart policy "
                          "calls for (Higgins restarts it, not Docker); each restart in quick "
                          "succession waits twice as long as the one before (Docker's 0.1 s)."),
        cfg.FloatOpt("backoff_max", default=restarts.DEFAULT.cap, min=0,
                     help="The longest wait before a restart, in seconds."),
        cfg.FloatOpt("backoff_reset", default=restarts.DEFAULT.reset_after, min=0,
                     help="Seconds a container must have run before it exited for its next "
                          "restart to wait backoff_base again (Docker's 10 s)."),
    ],
}


@dataclass(frozen=True)
class NotificationSettings:
    url: str = ""  # empty: off
    exchange: str = "higgins"
    topics: tuple[str, ...] = ("notifications",)
    durable: bool = False
    exists_interval: float = 3600.0
    publisher_id: str = "higgins.localhost"


@dataclass(frozen=True)
class WebhookSettings:
    allowed_networks: tuple[str, ...] = ()
    retry_schedule: tuple[float, ...] = webhooks.DEFAULT_SCHEDULE
    timeout: float = 10.0
    retry_poll: float = 1.0
    workers: int = 8


@dataclass(frozen=True)
class ApiSettings:
    host_ip: str
    port: int
    threads: int
    auth_strategy: str = "noauth"
    service_down_time: float = 60.0
    max_request_body_size: int = 114688


@dataclass(frozen=True)
class AgentSettings:
    host: str
    docker_url: str
    docker_api_version: str
    concurrency: int
    availability_zone: str = "nova"
    host_ip: str = "127.0.0.1"
    port: int = 9518
    url: str = ""
    report_interval: float = 10.0
    auth_key: str = field(default="", repr=False)  # never in a log line
    allow_any_address: bool = False
    labels: tuple[tuple[str, str], ...] = ()  # key, value
    reserved_host_memory_mb: int = 0
    tunnel_ip: str = ""  # this host's VXLAN endpoint for Neutron networks; "" = none


@dataclass(frozen=True)
class BusSettings:
    url: str
    log_url: str
    partitions: int = 8


@dataclass(frozen=True)
class Settings:
    state_path: Path
    bus_url: str
    store_url: str
    log_level: str
    api: ApiSettings
    agent: AgentSettings
    bus: BusSettings
    processor_concurrency: int = 8
    quota: QuotaDefaults = QuotaDefaults()
    quota_settle_interval: float = 60.0
    config_files: tuple[str, ...] = ()
    notifications: NotificationSettings = NotificationSettings()
    webhooks: WebhookSettings = WebhookSettings()
    scheduler: placement.Config = placement.DEFAULT
    restart: restarts.Backoff = restarts.DEFAULT
    openstack: OpenStackSettings = OpenStackSettings()


def library_config(settings: Settings) -> cfg.ConfigOpts:
    """The same INI files as a ConfigOpts of their own, for the OpenStack libraries that read
    their own sections from it ([keystone_authtoken], [oslo_policy])."""
    conf = cfg.ConfigOpts()
    conf([], project="higgins", default_config_files=list(settings.config_files))
    return conf


def default_state_path() -> Path:
    if os.environ.get("HIGGINS_STATE_PATH"):
        return Path(os.environ["HIGGINS_STATE_PATH"])
    return Path("/var/lib/higgins") if os.geteuid() == 0 else \
        Path.home() / ".local/share/higgins"


def load(argv: list[str], config_files: list[str] | None = None) -> Settings:
    conf = cfg.ConfigOpts()
    for options in (_OPTS, OPENSTACK_OPTS):
        for group, opts in options.items():
            conf.register_opts(opts, group=group)
    defaults = [f for f in ["/etc/higgins/higgins.conf"] if os.path.exists(f)]
    conf(argv, project="higgins", default_config_files=config_files or defaults)
    state = Path(conf.state_path) if conf.state_path else default_state_path()
    bus_url = conf.bus.url or f"sqlite://{state / 'events.db'}"
    store_url = conf.store.url or f"sqlite://{state / 'views.db'}"
    agent = conf.agent
    return Settings(
        state_path=state,
        bus_url=bus_url,
        store_url=store_url,
        log_level=conf.log_level,
        api=ApiSettings(conf.api.host_ip, conf.api.port, conf.api.threads,
                        conf.api.auth_strategy, conf.api.service_down_time,
                        conf.api.max_request_body_size),
        agent=AgentSettings(conf.host, conf.docker.url, conf.docker.api_version,
                            agent.concurrency, agent.availability_zone, agent.host_ip,
                            agent.port, agent.url or f"http://{agent.host_ip}:{agent.port}",
                            agent.report_interval, agent.auth_key or "",
                            agent.allow_any_address, _labels(agent.labels),
                            agent.reserved_host_memory_mb, _tunnel_ip(agent)),
        bus=BusSettings(bus_url, conf.bus.log_url or store_url, conf.bus.partitions),
        processor_concurrency=conf.processor.concurrency,
        quota=QuotaDefaults(conf.quota.containers, conf.quota.cpu, conf.quota.memory,
                            conf.quota.disk, conf.quota.unset_cpu, conf.quota.unset_memory),
        quota_settle_interval=conf.quota.settle_interval,
        config_files=tuple(conf.config_file or ()),
        notifications=_notifications(conf, bus_url),
        webhooks=WebhookSettings(
            _networks(conf.webhooks.allowed_networks),
            tuple(float(s) for s in conf.webhooks.retry_schedule), conf.webhooks.timeout,
            conf.webhooks.retry_poll, conf.webhooks.workers),
        scheduler=_scheduler(conf.scheduler),
        restart=restarts.Backoff(conf.restart.backoff_base, conf.restart.backoff_max,
                                 conf.restart.backoff_reset),
        openstack=load_openstack(conf),
    )


def _tunnel_ip(agent: cfg.ConfigOpts.GroupAttr) -> str:
    """[agent] tunnel_ip, else host_ip when it is no loopback or wildcard address."""
    if agent.tunnel_ip:
        return str(agent.tunnel_ip)
    try:
        address = ipaddress.ip_address(agent.host_ip)
    except ValueError:  # a host name
        return "" if agent.host_ip in ("", "localhost") else str(agent.host_ip)
    return "" if address.is_loopback or address.is_unspecified else str(address)



def _scheduler(given: cfg.ConfigOpts.GroupAttr) -> placement.Config:
    """[scheduler] (an unknown filter or weigher stops the start, with its name)."""
    for option, known in (("enabled_filters", placement.FILTER_NAMES),
                          ("weighers", tuple(placement.WEIGHERS))):
        if unknown := [name for name in given[option] if name not in known]:
            raise cfg.Error(f"[scheduler] {option}: unknown {', '.join(unknown)} "
                            f"(known: {', '.join(known)})")
    return placement.Config(
        tuple(given.enabled_filters), tuple(given.weighers),
        placement.Strategy(given.strategy), given.ram_weight_multiplier,
        given.cpu_weight_multiplier, given.disk_weight_multiplier,
        claims.Ratios(given.cpu_allocation_ratio, given.ram_allocation_ratio,
                      given.disk_allocation_ratio), given.heal_after)


def _labels(given: list[str]) -> tuple[tuple[str, str], ...]:
    """[agent] labels, each key=value (one without a key or '=' stops the start, named)."""
    labels = []
    for item in given:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise cfg.Error(f"[agent] labels: {item!r} is not key=value")
        labels.append((key.strip(), value.strip()))
    return tuple(labels)


def _networks(given: list[str]) -> tuple[str, ...]:
    """[webhooks] allowed_networks, each a CIDR (a bad one stops the start, with its name)."""
    for network in given:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as error:
            raise cfg.Error(f"[webhooks] allowed_networks: {network!r} is no CIDR "
                            f"({error})") from error
    return tuple(given)


def _notifications(conf: cfg.ConfigOpts, bus_url: str) -> NotificationSettings:
    given = conf.notifications
    url = given.url or (bus_url if bus_url.startswith("amqp://") else "")
    return NotificationSettings(url if given.enabled else "", given.exchange,
                                tuple(given.topics), given.durable, given.exists_interval,
                                f"higgins.{conf.host}")
