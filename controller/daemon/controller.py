"""The controller daemon: its lifecycle, its lock and its ticker (gather → core → apply).

Two threads take turns under one lock, so the fleet, the waiters and the database are only ever
touched by one of them at a time: paho's network thread hands each inbound message to `Inbound` as
it is read, and a ticker thread, once a second, flushes liveness (coalesced), notes online
transitions, fails sessions over, reconciles desired configs against reported state and expires
waiters. Handling messages where they are read (no queue between threads) keeps the heartbeat path
short and gives backpressure for free: while a handler runs, nothing more is read from the socket,
and the broker holds what comes in meanwhile.
"""

from __future__ import annotations

import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable

from controller import __version__
from controller.adapters.mqtt import MqttClient, broker_of, drop_unsent, parse_broker_urls, publish_confirmed
from controller.adapters.store import Store
from controller.contract.messages import ControllerRole, controller_status, encode
from controller.contract.topics import Topics
from controller.core.fleet import Fleet, Move
from controller.core.lease import HaMode, ha_mode
from controller.core.liveness import NO_ACKS, Registry
from controller.core.waiters import Waiters
from controller.daemon.connection import Subscriber, connect, make_client
from controller.daemon.effects import Applier
from controller.daemon.inbound import Inbound
from controller.daemon.leadership import Leadership, acting_filters, check_shared
from controller.daemon.observer import Observer
from controller.daemon.outbox import Outbox
from controller.daemon.requests import Requests
from controller.daemon.roles import RoleTable
from controller.daemon.rollout import Rollouts
from controller.daemon.schedule import Schedule
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import FleetError, NoDeviceAvailable, StoreError, UnknownSession
from controller.logtext import shown

log = logging.getLogger(__name__)

_TICK_S = 1.0
_FLAG_HINTS = {
    "flapping": "it reconnects too often (power, Wi-Fi or broker limits?)",
    "duplicate_id": "an older boot counter reappeared, so two devices seem to share this id",
    "flooding": "it sends faster than its contract allows; its excess is dropped (a fault, or revoke it: "
                "`fleet device revoke`)",
}
_SETTLE_S = 1.0  # after a (re)connect, let retained states arrive before republishing


class Controller:
    """One controller process: `start()`, then `stop()` (or `run()` until a stop event)."""

    def __init__(self, settings: ControllerSettings, store: Store | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        try:
            self.mode = ha_mode(settings.ha, settings.shared_group)
        except ValueError as exc:
            raise FleetError(str(exc)) from exc
        self.topics = Topics(settings.root)
        self.clock = clock
        self.store = store or Store(settings.db_url)
        self.registry = Registry(ttl=settings.heartbeat_ttl_s, max_rate=settings.max_device_rate)
        self.fleet = Fleet(self.registry)
        self.stats = Stats()
        self.roles = RoleTable(settings.acl_file)  # who may ask what; none: everyone everything
        # The MQTT client id is secret: anyone who knows it can take the connection over, and the
        # presence topic every account reads names the controller by `controller_id` only.
        self._client_id = f"ctl-{secrets.token_hex(12)}"
        self._address = parse_broker_urls(settings.broker_url)
        self._lock = threading.Lock()  # held by whichever thread handles a message or a tick
        self._stopping = False
        self._next = {"flush": 0.0, "reconcile": 0.0, "resync": 0.0, "schedule": 0.0, "rollout": 0.0}
        self._connected = threading.Event()
        self._halt = threading.Event()
        self._ticker: threading.Thread | None = None
        self._client = self._make_client()
        self._subscriber = Subscriber(self._client)
        self.leadership = Leadership(self.store.lease if self.mode is HaMode.LEASE else None, settings.controller_id,
                                     settings.lease_ttl_s, clock, connected=self._client.is_connected)
        self._acting = not self.leadership.leased  # with a lease: once it holds it and has loaded the fleet
        outbox = Outbox(self._client, settings, self.topics, self.stats)
        outbox.role = ControllerRole.SHARED if self.mode is HaMode.SHARED else ControllerRole.LEADER
        self.leadership.guard(self.store, outbox, lambda: self.acting)
        self.observer = Observer(settings, fleet=self.fleet, stats=self.stats, store=self.store,
                                 connected=outbox.connected, lock=self._lock, clock=clock)
        self._applier = Applier(self.fleet, self.store, outbox, Waiters(), settings=settings, topics=self.topics,
                                stats=self.stats, metrics=self.observer.metrics)
        self.schedule = Schedule(self._applier, settings)
        self.rollouts = Rollouts(self.store, self.fleet, outbox, settings=settings, topics=self.topics,
                                 stats=self.stats, image_url_base=self.observer.image_url_base)
        requests = Requests(self._applier, settings=settings, topics=self.topics, stats=self.stats, clock=clock,
                            roles=self.roles, schedule=self.schedule, rollouts=self.rollouts)
        self._inbound = Inbound(self._applier, requests, settings=settings, topics=self.topics, stats=self.stats,
                                clock=clock)

    # --- lifecycle --------------------------------------------------------------------------------

    def _make_client(self) -> MqttClient:
        return make_client(self._address, self._client_id, self.topics, self.settings.controller_id,
                           connected=self._on_connect, disconnected=self._on_disconnect, message=self._on_message)

    def start(self, connect_timeout: float = 10.0) -> None:
        """Serve metrics and health (if asked), load the database, connect, and start the ticker;
        FleetError if the broker is unreachable."""
        self.observer.serve()
        try:
            self._load()
            if self.mode is HaMode.SHARED:
                check_shared(self._address, self.settings.shared_group or "", self.topics)
            connect(self._client, self._address, self._connected, connect_timeout)
            self.leadership.claim()  # the first to start leads at once
            self._follow_lease()
        except BaseException:
            self.leadership.release()  # if it took the lease, a standby need not wait for it to run out
            self.observer.close()
            raise
        self._ticker = threading.Thread(target=self._run_ticks, name="fleet-controller-tick", daemon=True)
        self._ticker.start()
        self.leadership.start(self._follow_lease)
        log.info("controller %s up (%s): broker %s, root %r, database %s, %d devices known",
                 self.settings.controller_id, self.leadership.describe(self.mode, self._acting), self._address.url,
                 self.topics.root, self.store.url, len(self.registry))

    def stop(self) -> None:
        """Clean shutdown: stop handling messages (unacknowledged check-ins are sent again to the
        next controller), flush liveness, publish offline presence, disconnect."""
        self.observer.notifier.stopping()
        self.halt_ticks()
        with self._lock:
            self._stopping = True
            acting = self.acting  # a standby writes nothing and leaves the leader's presence as it is
            try:
                if acting:
                    self._applier.flush(self.clock())
            except StoreError as exc:  # still say goodbye: the next start re-reads liveness from the wire
                log.error("final liveness flush failed: %s", exc)
        bye = encode(controller_status(self.settings.controller_id, False, __version__, "shutdown"))
        # waited outside the lock: paho's thread reads the PUBACK
        if acting and not publish_confirmed(self._client, self.topics.controller_status, bye, timeout=3):
            log.warning("offline presence was not confirmed by the broker")
        if acting:
            self.leadership.release()  # a standby takes over now, not when the lease runs out
        self._client.disconnect()
        self._client.loop_stop()
        self.observer.close()
        self.store.close()
        log.info("controller %s stopped", self.settings.controller_id)

    def _load(self) -> None:
        self.roles.load()  # an unreadable role table stops the start: the controller would run open
        now = self.clock()
        for row in self.store.load_liveness():
            self.registry.restore(row.device_id, last_seen=row.last_seen, boot=row.boot, fw=row.fw)
        self._resync(now)

    def _resync(self, now: float) -> None:
        """Re-read the inventory, desired configs and assignments (another controller may have written them)."""
        inventory = self.store.load_inventory()
        desired = self.store.desired()
        if self.mode is HaMode.SHARED:  # heartbeats are split between controllers: merge what the others saw
            self._merge_liveness()
        self.fleet.load(desired, inventory, self.store.sessions(active_only=True))
        self._next["resync"] = now + self.settings.resync_s

    def _merge_liveness(self) -> None:
        for row in self.store.load_liveness():
            self.registry.merge(row.device_id, last_seen=row.last_seen, boot=row.boot)

    # --- the lease (--ha lease) -------------------------------------------------------------------

    @property
    def acting(self) -> bool:
        """Whether it handles messages and ticks now: not as a standby, nor (fenced) near its lease's end."""
        return self._acting and (not self.leadership.leased or self.leadership.acting(self.clock()))

    def _follow_lease(self) -> None:
        """After each lease renewal (the lease's thread): take the lead or stand down."""
        with self._lock:
            if self._stopping:
                return
            try:
                self._follow(self.clock())
            except StoreError as exc:
                log.error("database error while taking the lead (will retry): %s", exc)

    def _follow(self, now: float) -> None:
        """Take the lead or stand down when the lease says so (under the lock)."""
        acting = self.leadership.acting(now)
        if acting and not self._acting:
            self._take_lead(now)
        elif self._acting and not acting:
            self._stand_down()

    def _take_lead(self, now: float) -> None:
        """Load what the last leader left in the database, then subscribe and say so: retained
        statuses and states come with the subscriptions, and every config is published again."""
        self._merge_liveness()
        self._resync(now)
        for device in self.fleet.live.devices.values():  # another leader may have acked since: each
            device.acks = NO_ACKS  # device's acks resume from the store (controller.core.acks)
        self._acting = True
        term = self.leadership.term() or 0
        log.log(logging.WARNING if term > 1 else logging.INFO, "controller %s leads now (lease term %d)",
                self.settings.controller_id, term)
        if self._client.is_connected():  # else the connection's handler does it
            self._subscriber.subscribe(acting_filters(self.topics, self.settings.shared_group))
            self._applier.outbox.announce()
            self.fleet.reconnected(now + _SETTLE_S)

    def _stand_down(self) -> None:
        """The lease is lost (or about to be): stop handling anything at once, and say so."""
        self._acting = False
        log.warning("controller %s lost the lease: standing by (another controller may lead now)",
                    self.settings.controller_id)
        if self._client.is_connected():
            topics = [topic for topic, _ in acting_filters(self.topics, self.settings.shared_group)]
            self._subscriber.forget(topics)
            self._client.unsubscribe(topics)
            self._applier.outbox.announce(ControllerRole.STANDBY)

    def halt_ticks(self) -> None:
        """Stop the ticker and lease renewals (`stop()` does; tests that simulate a crash do it alone)."""
        self._halt.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
            self._ticker = None
        self.leadership.stop()

    def run(self, stop: threading.Event) -> None:
        """Start, block until `stop` is set, then stop cleanly: the process is this controller."""
        self.start()
        # What exists now (modules, the fleet read from the database) lives as long as the process:
        # moved out of the collector's sight (garbage collected first, or it would stay forever),
        # full collections stay short pauses in the handlers.
        gc.collect()
        gc.freeze()
        try:
            stop.wait()
        finally:
            self.stop()

    # --- paho callbacks (paho's thread) -----------------------------------------------------------

    def _on_connect(self, client: MqttClient, refused: str | None) -> None:
        if refused is not None:
            log.error("broker refused the controller: %s", refused)
            return
        with self._lock:  # the ticker may be mid-tick, or stop() under way
            self.stats.connections += 1
            # A clean session: the broker keeps nothing of the last connection, and what the
            # controller sent on it is sent again from state when it is still due (configs by
            # reconcile, acks when the device resends, presence below). Sending it again as it
            # was would let the one message that cut the connection cut every new one in turn.
            dropped = drop_unsent(client)
            if dropped:
                self.stats.unsent["reconnect"] += dropped
                log.info("dropped %d messages left unacknowledged by the previous connection", dropped)
            if self._stopping:  # stop() has queued the offline presence: no new birth after it
                return
            if len(self._address.addresses) > 1:
                log.info("connected to broker %s", broker_of(client))
            acting = acting_filters(self.topics, self.settings.shared_group) if self._acting else []
            self._subscriber.forget()
            self._subscriber.subscribe([(self.topics.controller_status, 1), *acting])
            if self._acting:
                self._applier.outbox.announce()
                self.fleet.reconnected(self.clock() + _SETTLE_S)  # republish once retained states are in
        self._connected.set()

    def _on_disconnect(self, reason: str) -> None:
        if self._ticker is not None:
            log.warning("lost the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, topic: str, payload: bytes | bytearray, retained: bool) -> None:
        with self._lock:
            if self._stopping or not self.acting:  # a standby, or a leader whose lease runs out
                return
            try:
                self._inbound.dispatch(topic, payload, retained)
            except StoreError as exc:
                log.error("database error (will retry): %s", exc)
            except Exception:  # nothing may stop paho's loop
                self.stats.rejected["internal"] += 1
                log.exception("internal error while handling %s", shown(topic))

    # --- periodic work (the ticker's thread) ------------------------------------------------------

    def _run_ticks(self) -> None:
        while not self._halt.wait(_TICK_S):
            with self._lock:
                if self._stopping:
                    return
                try:
                    self._follow(self.clock())  # also when the lease's thread is stuck
                    self._subscriber.retry()
                    if self._acting:
                        self._tick(self.clock())
                except StoreError as exc:
                    log.error("database error (will retry): %s", exc)
                except Exception:  # the next tick tries again
                    self.stats.rejected["internal"] += 1
                    log.exception("internal error in the periodic work")
                self.observer.ticked(self.clock())

    def _tick(self, now: float) -> None:
        applier = self._applier
        if now >= self._next["flush"]:
            applier.flush(now)
            self._next["flush"] = now + self.settings.flush_s
        applier.note_transitions(now)
        for device_id, flag in self.registry.take_raised():
            log.warning("device %s is %s: %s", device_id, flag.replace("_", " "), _FLAG_HINTS[flag])
        for move in self.fleet.due_moves(now):
            self._failover(move, now)
        if now >= self._next["schedule"]:
            self.schedule.tick(now)
            self._next["schedule"] = now + self.settings.schedule_s
        settled = self.fleet.republish_at is None  # after a (re)connect, the retained update states first
        if settled and now >= self._next["rollout"]:
            self.rollouts.tick(now)
            self._next["rollout"] = now + self.settings.rollout_s
        if now >= self._next["resync"]:
            self.roles.reload()  # `fleet user add` takes effect without a restart
            self._resync(now)
        republish_at = self.fleet.republish_at
        settling = republish_at is not None and now < republish_at
        if not settling and (republish_at is not None or now >= self._next["reconcile"]):
            self.fleet.republish_at = None
            applier.reconcile_all(now)
            self._next["reconcile"] = now + self.settings.reconcile_s
        applier.outbox.answer(applier.waiters.expire(now))

    def _failover(self, move: Move, now: float) -> None:
        """Move a session whose device stayed offline past its grace period to a free device."""
        order = self.fleet.takeover_order(move, now)
        try:
            moved = self.store.move_session(move.session_id, move.device_id, order, reported=self.fleet.reported(),
                                            now=now)
        except UnknownSession:  # ended, or moved by another controller: the next resync shows it
            self.fleet.move_gone(move)
            return
        except NoDeviceAvailable:
            self._applier.apply(self.fleet.no_takeover(move), now)
            return
        self._applier.apply(self.fleet.moved(move, moved.to, moved.idle), now)
