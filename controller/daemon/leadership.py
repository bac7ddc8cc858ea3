"""How this controller shares the fleet with others: its side of the active/standby lease (claimed
and renewed in a thread of its own, and the answer to "may this controller act now?", fencing),
the start's check that a shared group's broker honours `$share`, and what an acting controller
subscribes to.

The renewals run apart from the controller's lock, so a long tick or message never delays one;
after each, `follow` (the controller's) makes the controller take the lead or stand down. A
controller claims only while connected to the broker: one that lost the broker (its node died and
it found no other) lets the lease run out to a standby that can still act. Without a lease
(`--ha none` or `shared`) the controller always acts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controller.adapters.lease_store import LeaseStore
from controller.adapters.mqtt import Brokers, honours_shared
from controller.adapters.store import Store
from controller.contract.topics import BROKER_DROPPED, Topics
from controller.core.lease import HaMode, Lease, LeaseTimes, leads
from controller.daemon.outbox import Outbox
from controller.errors import FleetError, StoreError

log = logging.getLogger(__name__)


def check_shared(brokers: Brokers, group: str, topics: Topics) -> None:
    """FleetError when the broker ignores `$share`: every controller would handle every message
    (or, with a broker that refuses the filter, none would). A list's brokers are one engine (a
    cluster's nodes): the first that answers decides; FleetError when none can be reached."""
    unreachable: FleetError | None = None
    for address in brokers.addresses:
        try:
            honoured = honours_shared(address, group, topics.controller_probe)
        except FleetError as exc:  # a node down: ask the next
            unreachable = exc
            continue
        if honoured:
            return
        raise FleetError(
            f"the broker at {address.url} ignores MQTT shared subscriptions ($share/{group}/...): several "
            "controllers would each handle every message; on this broker run them with --ha lease "
            "(active/standby), or use a broker with shared subscriptions (Mosquitto 2, EMQX, HiveMQ)")
    raise unreachable or FleetError("no broker to probe for shared subscriptions")


def acting_filters(topics: Topics, shared_group: str | None) -> list[tuple[str, int]]:
    """What only an acting controller subscribes to: all but the presence topic, which a standby
    reads too."""
    status = topics.controller_status
    return [f for f in topics.controller_filters(shared_group) if f[0] != status] + [(BROKER_DROPPED, 0)]


class Leadership:
    """Holds, renews and releases the lease for controller `me`; None `lease`: no lease, always acting."""

    def __init__(self, lease: LeaseStore | None, me: str, ttl_s: float, clock: Callable[[], float], *,
                 connected: Callable[[], bool]) -> None:
        self._lease = lease
        self._connected = connected
        self._me = me
        self.times = LeaseTimes.from_ttl(ttl_s)
        self._clock = clock
        self._held: Lease | None = None  # ours, as last written; replaced whole (one assignment)
        self.current: Lease | None = None
        """The lease as last read: who leads (None: never claimed, or the database did not answer)."""
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()

    def describe(self, mode: HaMode, acting: bool) -> str:
        """The controller's part, for its start line."""
        if mode is not HaMode.LEASE:
            return f"--ha {mode.value}"
        lease = self.current
        return "leader" if acting else f"standby, {lease.holder if lease else 'nobody'} leads"

    def guard(self, store: Store, outbox: Outbox, acting: Callable[[], bool]) -> None:
        """Fence `store`'s writes with the lease (a deposed leader's transactions are not committed)
        and `outbox`'s publishes with `acting` (checked again as each goes out)."""
        if self._lease is not None:
            store.fence = self._lease.guard(self._me, self.term)
            outbox.fence = acting

    def term(self) -> int | None:
        """The term of the lease this controller holds; None when it holds none."""
        held = self._held
        return held.term if held is not None else None

    @property
    def leased(self) -> bool:
        return self._lease is not None

    def acting(self, now: float) -> bool:
        """Whether this controller may handle messages and tick now: always without a lease; with
        one, while it holds it and its expiry is more than the margin away."""
        return self._lease is None or leads(self._held, self._me, now, self.times.margin_s)

    def claim(self) -> None:
        """Renew the lease, or take it if it is free or expired, while connected to the broker; a
        database error is logged and leaves the lease to run out (the controller then stops acting
        by itself), and so does a lost broker connection."""
        if self._lease is None or not self._connected():
            return
        try:
            got = self._lease.claim(self._me, self._clock(), self.times.ttl_s)
        except StoreError as exc:
            log.error("cannot renew the controller lease (will retry): %s", exc)
            return
        self.current = got
        self._held = got if got is not None and got.holder == self._me else None

    def release(self) -> None:
        """End this controller's lease now (a clean stop), so a standby takes over at once."""
        self._held = None
        if self._lease is None:
            return
        try:
            self._lease.release(self._me, self._clock())
        except StoreError as exc:
            log.error("cannot release the controller lease (it expires by itself): %s", exc)

    def start(self, follow: Callable[[], None]) -> None:
        """Claim every `renew_s` until `stop()`, calling `follow` after each claim."""
        if self._lease is None:
            return

        def run() -> None:
            while not self._halt.wait(self.times.renew_s):
                self.claim()
                follow()

        self._thread = threading.Thread(target=run, name="fleet-controller-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the lease then runs out unless released); the controller's shutdown and
        tests of a leader cut off from its database call it."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
