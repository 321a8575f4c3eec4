"""WIRING: the scheduler's claims on the stored host ledgers. A placement reads the hosts'
ledgers, places (pure), writes the chosen host's new ledger over the version it read, and only
then is its outcome published; a lost write (another scheduler claimed on that host since)
reads again and places again. Releases and resizes are conditional writes too.
Side effects: the store's ledger reads and conditional writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from higgins import events
from higgins.events import EventType
from higgins.faults import ServiceUnavailable
from higgins.processors import claims, placement
from higgins.processors.model import HostState, Outcome
from higgins.store.base import HostLedgers

LOG = logging.getLogger(__name__)
# Placements tried before a create fails: each lost round means another placement took room
# on the same host in between, so many in a row means a host far busier than this one can see.
ROUNDS = 20


class LedgerBusy(ServiceUnavailable):
    """A host's ledger kept changing under a release or a resize; the event is retried."""


def lost_race(rounds: int) -> str:
    return (f"No valid host was found. The claim on the chosen host lost to concurrent "
            f"placements {rounds} times in a row; try again.")


Decide = Callable[[Mapping[str, claims.Ledger]], Outcome]


def placed(ledgers: HostLedgers, hosts: Sequence[HostState], decide: Decide,
           failed: events.Draft) -> Outcome:
    """The outcome of `decide` over the hosts' latest ledgers whose claims are written, or
    `failed` when ROUNDS of them in a row lost their write."""
    names = [host.name for host in hosts]
    for attempt in range(ROUNDS):
        outcome = decide(ledgers.load_ledgers(names))
        if all(ledgers.claim_ledger(ledger.host, ledger, ledger.version - 1)
               for ledger in outcome.claims):
            return outcome
        LOG.info("claim on host %s lost to a concurrent placement (round %d); placing again",
                 outcome.claims[0].host, attempt + 1, extra={"uuid": failed.subject})
    return Outcome(events=(failed,))


def container_failure(uuid: str) -> events.Draft:
    return events.Draft(EventType.FAILED, uuid, {"reason": lost_race(ROUNDS)})


def capsule_failure(subject: str) -> events.Draft:
    return events.Draft(EventType.CAPSULE_FAILED, subject, {"reason": lost_race(ROUNDS)})


Change = Callable[[claims.Ledger], claims.Ledger]


def rewrite(ledgers: HostLedgers, host: str, change: Change) -> None:
    """Write `change` of the host's ledger over the version read (nothing when it changes
    nothing), reading again while other writers win; LedgerBusy after ROUNDS."""
    for _ in range(ROUNDS):
        before = ledgers.load_ledger(host)
        after = change(before)
        if after.version == before.version or \
                ledgers.claim_ledger(host, after, before.version):
            return
    raise LedgerBusy(f"the ledger of host {host} kept changing; trying again")


def release(ledgers: HostLedgers, given: placement.Release | None) -> None:
    """Give a claim back (a deleted container, a create failed for good, a deleted capsule)."""
    if given is not None:
        rewrite(ledgers, given.host, lambda ledger: claims.release(ledger, given.uuid))


def resize(ledgers: HostLedgers, uuid: str,
           resized: tuple[str, claims.Resources] | None) -> None:
    """Set a claim to a container's new limits once its host applied them."""
    if resized is not None:
        host, wanted = resized
        rewrite(ledgers, host, lambda ledger: claims.adjust(ledger, uuid, wanted))
