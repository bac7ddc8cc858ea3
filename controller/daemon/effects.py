"""The one place the daemon applies what the core decided: publishes, database writes, replies, logs.

Also where the fleet meets the database and the clock outside a decision: liveness flushed, online
transitions noted, every desired config reconciled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from controller.adapters.metrics import Metrics
from controller.adapters.store import Store
from controller.contract.messages import encode
from controller.contract.topics import Topics
from controller.core.effects import (
    BumpVersion,
    ClearRetained,
    Effect,
    Log,
    MarkDegraded,
    MarkSession,
    PublishConfig,
    Reconcile,
    SettleWaiters,
)
from controller.core.fleet import Fleet
from controller.core.values import Desired, LivenessRow
from controller.core.waiters import Waiters
from controller.daemon.outbox import Outbox
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import StoreError

log = logging.getLogger(__name__)

MASS_CHANGE = 20
"""More online/offline transitions than this in one tick are logged as one line (ids at debug)."""


class Applier:
    """Applies effects against the broker, the database and parked requests."""

    def __init__(self, fleet: Fleet, store: Store, outbox: Outbox, waiters: Waiters, *,
                 settings: ControllerSettings, topics: Topics, stats: Stats, metrics: Metrics) -> None:
        self.fleet = fleet
        self.store = store
        self.outbox = outbox
        self.waiters = waiters
        self._settings = settings
        self._topics = topics
        self._stats = stats
        self.metrics = metrics

    def apply(self, effects: Iterable[Effect], now: float) -> None:
        for effect in effects:
            self._apply(effect, now)

    def _apply(self, effect: Effect, now: float) -> None:
        if isinstance(effect, Log):
            log.log(effect.level, effect.message, *effect.args)
        elif isinstance(effect, Reconcile):
            self.reconcile(effect.device_id, now)
        elif isinstance(effect, PublishConfig):
            self._publish_config(effect, now)
        elif isinstance(effect, BumpVersion):
            self._bump(effect, now)
        elif isinstance(effect, MarkSession):
            self._mark_session(effect)
        elif isinstance(effect, SettleWaiters):
            self.outbox.answer(self.waiters.settle(effect.session_id, effect.status, effect.error))
        elif isinstance(effect, MarkDegraded):
            self.store.set_degraded(effect.session_id)
        else:
            self._clear_retained(effect)

    def reconcile(self, device_id: str, now: float) -> None:
        self.apply(self.fleet.reconcile(device_id, now, self._settings.resend_s), now)

    def reconcile_all(self, now: float) -> None:
        for device_id in [d.device_id for d in self.fleet.devices.values() if d.desired is not None]:
            self.reconcile(device_id, now)

    def _publish_config(self, effect: PublishConfig, now: float) -> None:
        if not self.outbox.connected():
            return
        if self.outbox.send(self._topics.config(effect.device_id), encode(effect.config.to_obj()), retain=True):
            self.fleet.published(effect.device_id, effect.config.version, now)

    def _bump(self, effect: BumpVersion, now: float) -> None:
        config = self.store.bump(effect.device_id, effect.version)
        if config is None:
            return
        log.info("device %s reported a version ahead of the database; re-issuing as version %d",
                 effect.device_id, config.version)
        self.fleet.set_desired(Desired(effect.device_id, config, effect.session_id))
        self._publish_config(PublishConfig(effect.device_id, config), now)

    def _mark_session(self, effect: MarkSession) -> None:
        """Record the outcome; the first apply on a session's first device is timed from its start
        (a restart settles applied sessions again, and a moved session's apply times the failover)."""
        delay = self.store.mark_session(effect.session_id, applied_at=effect.applied_at, error=effect.error)
        if delay is not None:
            self.metrics.observe_apply(delay)

    def _clear_retained(self, effect: ClearRetained) -> None:
        device_id = effect.device_id
        for topic in (self._topics.status(device_id), self._topics.state(device_id), self._topics.config(device_id)):
            self.outbox.send(topic, b"", retain=True)

    # --- the fleet against the database and the clock ---------------------------------------------

    def flush(self, now: float) -> None:
        """Write the liveness of devices seen since the last flush (new ones become rows)."""
        registry = self.fleet.live
        dirty = registry.take_dirty()
        rows = [LivenessRow.of(d) for d in dirty]
        started = time.perf_counter()
        try:
            refused = self.store.flush_liveness(rows, now, approve_new=not self._settings.require_approval)
        except StoreError:
            registry.keep_dirty(d.device_id for d in dirty)  # for the next flush
            raise
        if rows:  # no rows, no database use
            self.metrics.observe_flush(time.perf_counter() - started)
        for device_id in refused:
            self._stats.reject("unstorable", self._topics.heartbeat(device_id), "the database refused its liveness")

    def note_transitions(self, now: float) -> None:
        """Record (and log) which devices came online or went offline since the last time."""
        came, went = self.fleet.note_online(self.fleet.live.online_ids(now))
        for verb, changed in (("online", came), ("offline", went)):
            if len(changed) > MASS_CHANGE:  # a restart or a broker blip: one line, ids at debug
                log.info("%d devices %s", len(changed), verb)
                log.debug("%s: %s", verb, ", ".join(sorted(changed)))
            else:
                for device_id in changed:
                    log.info("device %s %s", device_id, verb)
