"""Placement with claims: each filter, the hints, a capsule as one unit, spread and pack, the
weighers' multipliers, host ledgers that never over-commit, and the index that answers as the
scan does."""

from __future__ import annotations

import random
from typing import Any

import pytest
from oslo_config import cfg

from higgins import settings
from higgins.events import EventType
from higgins.processors import candidates, claims, placement, scheduling
from higgins.processors.claims import Ledger, Ratios, Resources
from higgins.processors.model import CapsuleState, HostState
from higgins.processors.placement import Config, NoValidHost, Placed, Request, Strategy
from tests.unit.conftest import created, envelope

EXACT = Ratios(cpu=1.0, ram=1.0, disk=1.0)
ONE_TO_ONE = Config(ratios=EXACT)


def state(name: str, cpus: float = 4.0, memory_mb: int = 4096, disk_gb: int = 100,
          **more: Any) -> HostState:
    return HostState(name=name, seq=1, cpus=cpus, memory_mb=memory_mb, runtimes=("runc",),
                     reported_at="2026-11-24T00:00:00+00:00", disk_total_gb=disk_gb, **more)


def ledger_with(host: str, **claimed: Resources) -> Ledger:
    used = sum(claimed.values(), claims.NOTHING)
    return Ledger(host, dict(claimed), used, len(claimed))


def ask(cpu: float = 0.5, memory: int = 256, disk: int = 0, uuid: str = "c-new",
        **more: Any) -> Request:
    return Request(uuid, Resources.of(cpu, memory, disk), **more)


def place(request: Request, hosts: list[HostState], ledgers: dict[str, Ledger] | None = None,
          config: Config = ONE_TO_ONE, labels: dict[str, dict[str, str]] | None = None
          ) -> Placed | NoValidHost:
    held = ledgers or {}
    views = [placement.view_of(h, held.get(h.name), config.ratios, (labels or {}).get(h.name))
             for h in hosts]
    return placement.place(request, views, held, config)


def chosen(result: Placed | NoValidHost) -> str:
    assert isinstance(result, Placed), result
    return result.host


FULL = {"h": ledger_with("h", old=Resources(3800, 4000, 95))}


@pytest.mark.parametrize(
    ("request_", "host", "ledgers", "labels", "refused_by"),
    [
        pytest.param(ask(requested_host="other"), state("h"), {}, {}, "RequestedHostFilter",
                     id="requested-host"),
        pytest.param(ask(availability_zone="az2"), state("h"), {}, {}, "AvailabilityZoneFilter",
                     id="zone"),
        pytest.param(ask(), state("h", disabled=True), {}, {}, "ComputeFilter", id="disabled"),
        pytest.param(ask(), state("h", forced_down=True), {}, {}, "ComputeFilter", id="down"),
        pytest.param(ask(runtime="kata"), state("h"), {}, {}, "RuntimeFilter", id="runtime"),
        pytest.param(ask(labels={"ssd": "true"}), state("h"), {}, {"h": {"ssd": "false"}},
                     "LabelFilter", id="label"),
        pytest.param(ask(same_host=("c-1",)), state("h"), {}, {}, "SameHostFilter",
                     id="same-host"),
        pytest.param(ask(different_host=("old",)), state("h"), FULL, {}, "DifferentHostFilter",
                     id="different-host"),
        pytest.param(ask(cpu=0.5, memory=1), state("h"), FULL, {}, "CPUFilter",
                     id="cpu-claimed"),
        pytest.param(ask(cpu=0.1, memory=512), state("h"), FULL, {}, "RamFilter",
                     id="memory-claimed"),
        pytest.param(ask(cpu=0.1, memory=1, disk=10), state("h"), FULL, {}, "DiskFilter",
                     id="disk-claimed"),
    ],
)
def test_each_filter_refuses_and_is_named(request_: Request, host: HostState,
                                          ledgers: dict[str, Ledger],
                                          labels: dict[str, dict[str, str]],
                                          refused_by: str) -> None:
    assert place(request_, [host], ledgers, labels=labels) == \
        NoValidHost(f"No valid host was found. Filter {refused_by} returned 0 hosts.")


@pytest.mark.parametrize(
    ("request_", "host", "ledgers", "labels"),
    [
        pytest.param(ask(requested_host="h"), state("h"), {}, {}, id="requested-host"),
        pytest.param(ask(availability_zone="az2"), state("h", availability_zone="az2"), {}, {},
                     id="zone"),
        pytest.param(ask(labels={"ssd": "true"}), state("h"), {}, {"h": {"ssd": "true"}},
                     id="label"),
        pytest.param(ask(cpu=0.1, memory=64, same_host=("old", "elsewhere")), state("h"), FULL,
                     {}, id="same-host"),
        pytest.param(ask(different_host=("elsewhere",)), state("h"), {}, {},
                     id="different-host"),
        pytest.param(ask(cpu=0.2, memory=96, disk=5), state("h"), FULL, {},
                     id="exactly-what-is-left"),
        pytest.param(ask(cpu=None, memory=None), state("h"), FULL, {}, id="no-limits"),
    ],
)
def test_each_filter_passes_what_it_should(request_: Request, host: HostState,
                                           ledgers: dict[str, Ledger],
                                           labels: dict[str, dict[str, str]]) -> None:
    assert chosen(place(request_, [host], ledgers, labels=labels)) == "h"


def test_the_filter_named_is_the_one_that_removed_the_last_candidates() -> None:
    hosts = [state("a", availability_zone="az1"), state("b", availability_zone="az2",
                                                         memory_mb=128)]
    got = place(ask(memory=512, availability_zone="az2"), hosts)
    assert got == NoValidHost("No valid host was found. Filter RamFilter returned 0 hosts.")


def test_no_hosts_at_all_is_said_so() -> None:
    assert place(ask(), []) == NoValidHost(placement.NO_HOSTS)


def test_a_disabled_filter_lets_its_hosts_through() -> None:
    config = Config(filters=tuple(n for n in placement.FILTER_NAMES if n != "ComputeFilter"),
                    ratios=EXACT)
    assert chosen(place(ask(), [state("h", disabled=True)], config=config)) == "h"


def test_zun_hints_become_labels_and_affinities() -> None:
    hints = {"label:ssd": "true", "same_host": "a, b", "different_host": ["c"], "other": "x"}
    request = placement.hinted(ask(), hints)
    assert (request.labels, request.same_host, request.different_host) == \
        ({"ssd": "true"}, ("a", "b"), ("c",))


def test_same_host_follows_the_container_and_different_host_avoids_it() -> None:
    hosts = [state("a"), state("b", memory_mb=8192), state("c")]
    ledgers = {"a": ledger_with("a", web=Resources(100, 64, 0))}
    assert chosen(place(ask(same_host=("web",)), hosts, ledgers)) == "a"
    assert chosen(place(ask(different_host=("web",)), hosts, ledgers)) == "b"
    crowded = {**ledgers, "b": ledger_with("b", db=Resources(100, 64, 0))}
    assert chosen(place(ask(different_host=("web", "db")), hosts, crowded)) == "c"


CAPSULE = CapsuleState(uuid="cap-1", seq=1, project_id="p1", user_id="u1", name="pair",
                       created_at="2026-11-24T00:00:00+00:00", availability_zone="az2",
                       containers=({"uuid": "m1", "cpu": 1.5, "memory": 300},
                                   {"uuid": "m2", "cpu": 1.0, "memory": 300},
                                   {"uuid": "m3"}))


def test_a_capsule_is_one_request_of_its_members_summed_in_its_zone() -> None:
    request = placement.capsule_request(CAPSULE)
    assert request == Request("cap-1", Resources(2500, 600, 0), availability_zone="az2")


def test_a_capsule_goes_whole_or_not_at_all() -> None:
    request = placement.capsule_request(CAPSULE)
    roomy = state("roomy", memory_mb=4096, availability_zone="az2")
    tight = state("tight", memory_mb=512, availability_zone="az2")  # each member would fit
    assert place(request, [tight]) == \
        NoValidHost("No valid host was found. Filter RamFilter returned 0 hosts.")
    placed = place(request, [tight, roomy])
    assert isinstance(placed, Placed) and placed.host == "roomy"
    assert placed.ledger.claims == {"cap-1": Resources(2500, 600, 0)}


def test_a_capsule_member_claims_nothing_its_capsule_claimed_for_it() -> None:
    member = created(capsule_id="cap-1", requested_host="roomy", cpu=1.5, memory=300)
    assert placement.container_request(member).resources == claims.NOTHING
    assert placement.container_request(created()).resources == Resources(500, 64, 0)


HOSTS = [state("small", cpus=2, memory_mb=1024), state("mid", cpus=4, memory_mb=4096),
         state("big", cpus=8, memory_mb=16384)]


@pytest.mark.parametrize(
    ("strategy", "order"),
    [(Strategy.SPREAD, ["big", "mid", "small"]), (Strategy.PACK, ["small", "mid", "big"])],
)
def test_spread_takes_the_most_free_and_pack_the_least_that_fits(strategy: Strategy,
                                                                 order: list[str]) -> None:
    config = Config(strategy=strategy, ratios=EXACT)
    views = placement.views_of(HOSTS, {}, EXACT)
    weights = placement.weights_for(config, views)
    assert [v.name for v in sorted(views, key=weights.key)] == order
    assert chosen(place(ask(memory=2048), HOSTS, config=config)) == \
        ("big" if strategy is Strategy.SPREAD else "mid")


def test_pack_fills_one_host_before_the_next() -> None:
    config = Config(strategy=Strategy.PACK, ratios=EXACT)
    ledgers: dict[str, Ledger] = {}
    hosts: list[str] = []
    for number in range(6):
        placed = place(ask(cpu=1, memory=512, uuid=f"c{number}"), HOSTS, ledgers, config)
        assert isinstance(placed, Placed)
        ledgers[placed.host] = placed.ledger
        hosts.append(placed.host)
    assert hosts == ["small", "small", "mid", "mid", "mid", "mid"]


@pytest.mark.parametrize(
    ("config", "winner"),
    [
        pytest.param(Config(ratios=EXACT), "ram", id="ram-and-cpu-equal"),
        pytest.param(Config(ram_weight_multiplier=0.0, ratios=EXACT), "cpu", id="cpu-only"),
        pytest.param(Config(weighers=("CPUWeigher",), ratios=EXACT), "cpu",
                     id="cpu-weigher-alone"),
        pytest.param(Config(cpu_weight_multiplier=3.0, ratios=EXACT), "cpu", id="cpu-heavier"),
        pytest.param(Config(ram_weight_multiplier=-1.0, cpu_weight_multiplier=0.0,
                            ratios=EXACT), "cpu", id="negative-ram-stacks"),
        pytest.param(Config(weighers=("DiskWeigher",), ratios=EXACT), "disk", id="disk"),
    ],
)
def test_the_weighers_multipliers_decide(config: Config, winner: str) -> None:
    hosts = [state("ram", cpus=4, memory_mb=16384, disk_gb=100),
             state("cpu", cpus=16, memory_mb=2048, disk_gb=100),
             state("disk", cpus=2, memory_mb=2048, disk_gb=1000)]
    assert chosen(place(ask(), hosts, config=config)) == winner


def test_ties_go_to_the_first_name() -> None:
    hosts = [state("zeta"), state("alpha"), state("mid")]
    assert chosen(place(ask(), hosts)) == chosen(place(ask(), hosts[::-1])) == "alpha"


CAPACITY = Resources(2000, 1024, 10)


def test_a_claim_adds_up_and_bumps_the_version() -> None:
    first = claims.claim(Ledger("h"), "a", Resources(500, 256, 1), CAPACITY, EXACT)
    assert isinstance(first, Ledger)
    second = claims.claim(first, "b", Resources(1000, 512, 2), CAPACITY, EXACT)
    assert isinstance(second, Ledger)
    assert (second.used, second.version, set(second.claims)) == \
        (Resources(1500, 768, 3), 2, {"a", "b"})


def test_the_same_claim_again_is_the_same_ledger() -> None:
    once = claims.claim(Ledger("h"), "a", Resources(500, 256, 1), CAPACITY, EXACT)
    assert isinstance(once, Ledger)
    assert claims.claim(once, "a", Resources(500, 256, 1), CAPACITY, EXACT) is once


def test_a_changed_claim_for_the_same_uuid_replaces_it() -> None:
    once = claims.claim(Ledger("h"), "a", Resources(1500, 256, 1), CAPACITY, EXACT)
    assert isinstance(once, Ledger)
    resized = claims.claim(once, "a", Resources(2000, 1024, 10), CAPACITY, EXACT)
    assert isinstance(resized, Ledger) and resized.used == Resources(2000, 1024, 10)


def test_a_claim_that_does_not_fit_names_the_resource() -> None:
    full = claims.claim(Ledger("h"), "a", Resources(500, 1000, 1), CAPACITY, EXACT)
    assert isinstance(full, Ledger)
    refused = claims.claim(full, "b", Resources(500, 100, 1), CAPACITY, EXACT)
    assert refused == claims.Refused("h", claims.Resource.MEMORY, 100, 24)
    assert refused.reason == "RamFilter refused the claim on host h: 100 wanted, 24 free."


def test_release_gives_the_room_back_and_twice_is_once() -> None:
    held = claims.claim(Ledger("h"), "a", Resources(2000, 1024, 10), CAPACITY, EXACT)
    assert isinstance(held, Ledger)
    released = claims.release(held, "a")
    assert (released.used, released.claims, released.version) == (claims.NOTHING, {}, 2)
    assert claims.release(released, "a") is released
    assert isinstance(claims.claim(released, "b", Resources(2000, 1024, 10), CAPACITY, EXACT),
                      Ledger)


def test_the_cpu_ratio_lets_claims_add_up_past_the_cpus_but_not_one_container() -> None:
    ratios = Ratios(cpu=4.0, ram=1.0, disk=1.0)
    ledger: Ledger | claims.Refused = Ledger("h")
    for number in range(4):
        assert isinstance(ledger, Ledger)
        ledger = claims.claim(ledger, f"c{number}", Resources(2000, 1, 0), CAPACITY, ratios)
    assert isinstance(ledger, Ledger) and ledger.used.millicpu == 8000
    assert isinstance(claims.claim(ledger, "more", Resources(1, 1, 0), CAPACITY, ratios),
                      claims.Refused)
    alone = claims.claim(Ledger("h"), "huge", Resources(2001, 1, 0), CAPACITY, ratios)
    assert alone == claims.Refused("h", claims.Resource.CPU, 2001, 8000)


def test_interleaved_claims_never_over_commit() -> None:
    """Schedulers deciding on the same stale view race for one ledger: whatever the order,
    the sum stays within the limit and every refused claim is one that would not fit."""
    rng = random.Random(7)
    for _ in range(200):
        ledger = Ledger("h")
        wanted = [Resources(rng.choice((100, 250, 500, 1000)), rng.choice((64, 128, 512)),
                            rng.choice((0, 1, 3))) for _ in range(12)]
        for number in rng.sample(range(len(wanted)), len(wanted)):
            got = claims.claim(ledger, f"c{number}", wanted[number], CAPACITY, EXACT)
            if isinstance(got, Ledger):
                ledger = got
            else:
                room = CAPACITY - ledger.used
                assert any(wanted[number].amount(r) > room.amount(r) for r in claims.Resource)
        total = sum((wanted[int(uuid[1:])] for uuid in ledger.claims), claims.NOTHING)
        assert total == ledger.used
        assert all(total.amount(r) <= CAPACITY.amount(r) for r in claims.Resource)


def test_a_claim_lost_to_a_moved_ledger_goes_to_the_next_best_host() -> None:
    hosts = [state("a", memory_mb=2048), state("b", memory_mb=1024)]
    seen = placement.views_of(hosts, {}, EXACT)  # both schedulers saw the hosts empty
    first = placement.place(ask(memory=1536, uuid="one"), seen, {}, ONE_TO_ONE)
    assert isinstance(first, Placed) and first.host == "a"
    latest = {"a": first.ledger}
    second = placement.place(ask(memory=1024, uuid="two"), seen, latest, ONE_TO_ONE)
    assert isinstance(second, Placed) and second.host == "b"
    third = placement.place(ask(memory=1024, uuid="three"), seen,
                            {**latest, "b": second.ledger}, ONE_TO_ONE)
    assert third == NoValidHost("No valid host was found. Filter RamFilter returned 0 hosts.")


def test_placing_a_request_already_claimed_returns_its_host() -> None:
    ledgers = {"b": ledger_with("b", again=Resources(500, 256, 0))}
    placed = place(ask(uuid="again"), [state("a", memory_mb=8192), state("b")], ledgers)
    assert placed == Placed("b", ledgers["b"])


def test_scheduling_with_ledgers_carries_the_claim_and_without_none() -> None:
    request = envelope("container.create.requested", 1)
    hosts = [state("h1")]
    with_ledgers = scheduling.schedule(created(), hosts, request, ledgers={})
    (ledger,) = with_ledgers.claims
    assert ledger.host == "h1" and ledger.used == Resources(500, 64, 0)
    assert scheduling.schedule(created(), hosts, request).claims == ()
    full = {"h1": ledger_with("h1", other=Resources(100, 4096, 0))}
    (failed,) = scheduling.schedule(created(), hosts, request, ledgers=full).events
    assert failed.type is EventType.FAILED and "RamFilter" in failed.data["reason"]


def random_fleet(rng: random.Random, count: int
                 ) -> tuple[list[HostState], dict[str, dict[str, str]]]:
    hosts = [state(f"h{n:03d}", cpus=rng.choice((1, 2, 4)),
                   memory_mb=rng.choice((1024, 2048, 4096)), disk_gb=rng.choice((10, 50)),
                   availability_zone=rng.choice(("az1", "az2")),
                   disabled=rng.random() < 0.1) for n in range(count)]
    labels = {h.name: {"ssd": rng.choice(("true", "false"))} for h in hosts}
    labels[hosts[0].name]["gpu"] = "true"
    return hosts, labels


def random_request(rng: random.Random, number: int, placed: list[str]) -> Request:
    """A mix whose failures come from every filter, not only from a full fleet."""
    extra: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.15:
        extra["availability_zone"] = rng.choice(("az1", "az2", "az3"))
    elif roll < 0.25:
        extra["labels"] = {rng.choice(("ssd", "gpu")): "true"}
    elif roll < 0.35 and placed:
        extra["different_host"] = tuple(rng.sample(placed, min(3, len(placed))))
    elif roll < 0.42:
        extra["same_host"] = (rng.choice(placed) if placed and roll < 0.4 else "gone",)
    elif roll < 0.47:
        extra["requested_host"] = f"h{rng.randrange(55):03d}"
    elif roll < 0.5:
        extra["runtime"] = "kata"
    return ask(cpu=rng.choice((None, 0.25, 0.5, 1)), memory=rng.choice((64, 256, 512)),
               disk=rng.choice((0, 0, 5)), uuid=f"c{number}", **extra)


def assert_index_answers_as_the_scan(config: Config, seed: int, count: int,
                                     requests: int) -> None:
    rng = random.Random(seed)
    hosts, labels = random_fleet(rng, count)
    ledgers: dict[str, Ledger] = {}
    index = candidates.Index(hosts, ledgers, config, labels)
    placed: list[str] = []
    for number in range(requests):
        request = random_request(rng, number, placed)
        views = [placement.view_of(h, ledgers.get(h.name), config.ratios, labels[h.name])
                 for h in hosts]
        expected = placement.place(request, views, ledgers, config)
        assert index.place(request, ledgers) == expected, (config, request)
        if isinstance(expected, Placed):
            ledgers[expected.host] = expected.ledger
            index.update(expected.ledger)
            placed.append(request.uuid)
        if number % 7 == 0 and placed:  # and some leave
            gone = placed.pop(rng.randrange(len(placed)))
            where = next(name for name, held in ledgers.items() if gone in held.claims)
            ledgers[where] = claims.release(ledgers[where], gone)
            index.update(ledgers[where])


@pytest.mark.parametrize("config", [
    pytest.param(Config(), id="spread"),
    pytest.param(Config(strategy=Strategy.PACK), id="pack"),
    pytest.param(Config(ram_weight_multiplier=-1.0, weighers=("RAMWeigher", "DiskWeigher")),
                 id="negative-multiplier"),
    pytest.param(Config(filters=("ComputeFilter", "CPUFilter", "RamFilter")), id="few-filters"),
])
def test_the_index_answers_as_the_scan_does(config: Config) -> None:
    assert_index_answers_as_the_scan(config, 11, 50, 600)


@pytest.mark.parametrize("seed", range(12))
def test_the_index_answers_as_the_scan_does_whatever_the_options(seed: int) -> None:
    """Filters off (a resource whose filter is off is still claimed), weighers, multipliers
    of either sign, strategies and ratios drawn at random."""
    rng = random.Random(seed)
    config = Config(
        filters=tuple(n for n in placement.FILTER_NAMES if rng.random() < 0.8),
        weighers=tuple(w for w in placement.WEIGHERS if rng.random() < 0.6),
        strategy=rng.choice(list(Strategy)),
        ram_weight_multiplier=rng.choice((1.0, 0.0, -1.0, 2.5)),
        cpu_weight_multiplier=rng.choice((1.0, 0.5, -2.0)),
        disk_weight_multiplier=rng.choice((1.0, 0.0)),
        ratios=Ratios(rng.choice((1.0, 4.0)), rng.choice((1.0, 1.5)), 1.0))
    assert_index_answers_as_the_scan(config, seed, rng.choice((5, 20)), 150)


def test_two_indexes_on_one_set_of_ledgers_never_over_commit() -> None:
    """Two schedulers taking turns, each seeing only its own claims until one is lost: the
    loser sees the host as it is now and takes the next best; no host ends up over-full."""
    rng = random.Random(5)
    hosts, labels = random_fleet(rng, 20)
    ledgers: dict[str, Ledger] = {}
    schedulers = [candidates.Index(hosts, {}, ONE_TO_ONE, labels) for _ in range(2)]
    wanted: dict[str, Resources] = {}
    for number in range(600):
        index = schedulers[number % 2]
        request = ask(cpu=rng.choice((0.25, 0.5)), memory=rng.choice((128, 256)),
                      uuid=f"c{number}")
        got = index.place(request, ledgers)
        if isinstance(got, Placed):
            ledgers[got.host] = got.ledger
            index.update(got.ledger)
            wanted[request.uuid] = request.resources
    assert len(wanted) > 50  # until the fleet is full
    for host in hosts:
        held = ledgers.get(host.name, Ledger(host.name))
        total = sum((wanted[uuid] for uuid in held.claims), claims.NOTHING)
        assert total.millicpu <= host.cpus * 1000 and total.memory_mb <= host.memory_mb


def test_an_index_whose_view_is_stale_claims_on_the_next_best_host() -> None:
    hosts = [state("a", memory_mb=2048), state("b", memory_mb=1024)]
    mine, theirs = (candidates.Index(hosts, {}, ONE_TO_ONE) for _ in range(2))
    taken = theirs.place(ask(memory=1536, uuid="theirs"), {})
    assert isinstance(taken, Placed) and taken.host == "a"
    ledgers = {"a": taken.ledger}  # written by the other scheduler; `mine` has not seen it
    got = mine.place(ask(memory=1024, uuid="mine"), ledgers)
    assert isinstance(got, Placed) and got.host == "b"
    assert mine.view("a").free.memory_mb == 512  # it looked at the ledger that moved


def test_scheduler_options_are_read_into_the_placement_config(tmp_path: Any) -> None:
    config = tmp_path / "higgins.conf"
    config.write_text("[scheduler]\nstrategy = pack\nweighers = CPUWeigher\n"
                      "cpu_weight_multiplier = 2.5\nram_allocation_ratio = 1.5\n"
                      "enabled_filters = ComputeFilter,RamFilter\n")
    loaded = settings.load([], config_files=[str(config)]).scheduler
    assert loaded == Config(("ComputeFilter", "RamFilter"), ("CPUWeigher",), Strategy.PACK,
                            1.0, 2.5, 1.0, Ratios(4.0, 1.5, 1.0))
    config.write_text("[scheduler]\nenabled_filters = ComputeFilter,NoSuchFilter\n")
    with pytest.raises(cfg.Error, match="unknown NoSuchFilter"):
        settings.load([], config_files=[str(config)])
