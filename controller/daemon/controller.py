"""The controller daemon: the imperative shell around the pure core.

Two threads take turns under one lock, so every piece of state (registry, desired configs,
waiters) and the database are only ever touched by one of them at a time: paho's network thread
handles each inbound message as it is read, and a ticker thread, once a second, flushes liveness
(coalesced), reconciles desired configs against reported state and expires waiters. Handling
messages where they are read (no queue between threads) keeps the heartbeat path short and gives
backpressure for free: while a handler runs, nothing more is read from the socket, and the broker
holds what comes in meanwhile.
"""

from __future__ import annotations

import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import SQLAlchemyError

from controller import __version__
from controller.adapters.mqtt import drop_unsent, new_client, parse_broker_url
from controller.adapters.store import Desired, DeviceInfo, LivenessRow, StartRequest, Store
from controller.contract.messages import (
    MAX_REQUEST_PAYLOAD,
    MAX_REQUEST_READ,
    Attendance,
    Config,
    Heartbeat,
    JsonObject,
    Request,
    SessionConfig,
    State,
    Status,
    ack,
    controller_status,
    decode_heartbeat,
    encode,
    load_object,
    reply_address,
    reply_error,
    reply_ok,
)
from controller.contract.topics import BROKER_DROPPED, Channel, Topics, publishable
from controller.core import failover, naming, reconcile, report, selection
from controller.core.liveness import Registry, Seen
from controller.core.ratelimit import Buckets
from controller.core.reconcile import Applied, Bump, Publish, Published, RejectedByDevice
from controller.core.waiters import Waiters, wait_result
from controller.daemon import api, failpoints
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import ApiError, FleetError, NoDeviceAvailable, Rejected, UnknownSession
from controller.logtext import shown

log = logging.getLogger(__name__)

_TICK_S = 1.0
_MASS_CHANGE = 20
_FLAG_HINTS = {
    "flapping": "it reconnects too often (power, Wi-Fi or broker limits?)",
    "duplicate_id": "an older boot counter reappeared, so two devices seem to share this id",
    "flooding": "it sends faster than its contract allows; its excess is dropped (a fault, or revoke it: "
                "`fleet device revoke`)",
}
_MAX_INFLIGHT = 1000
_MAX_QUEUED = 100_000  # outgoing messages paho holds beyond those in flight (a full republish of a large
# fleet's configs after a reconnect fits, with room for replies); past it a publish is refused
_SETTLE_S = 1.0  # after a (re)connect, let retained states arrive before republishing


DeviceMessage: TypeAlias = Heartbeat | Status | State | Attendance


def packet_size(topic: str, payload: bytes) -> int:
    """A QoS 1 PUBLISH's size as a broker's `max_packet_size` counts it (remaining length + 1:
    measured on Mosquitto 2.0.11): topic length (2) + topic + packet id (2) + payload, plus 1."""
    return 5 + len(topic.encode()) + len(payload)


def _decode(channel: Channel, payload: bytes | bytearray, device_id: str) -> DeviceMessage:
    """One device message, decoded for its channel, or Rejected."""
    if channel is Channel.HEARTBEAT:  # most of the traffic: a fast path for the firmware's layout
        return decode_heartbeat(payload, device_id)
    obj = load_object(payload, device_id=device_id)
    if channel is Channel.STATUS:
        return Status.from_obj(obj)
    if channel is Channel.STATE:
        return State.from_obj(obj)
    return Attendance.from_obj(obj)


class Controller:
    """One controller process: `start()`, then `stop()` (or `run()` until a stop event)."""

    def __init__(self, settings: ControllerSettings, store: Store | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.topics = Topics(settings.root)
        self.clock = clock
        self.store = store or Store(settings.db_url)
        self.registry = Registry(ttl=settings.heartbeat_ttl_s, max_rate=settings.max_device_rate)
        self.stats = Stats()
        self._requests = Buckets(settings.request_rate, settings.request_burst)
        # The MQTT client id is secret: anyone who knows it can take the connection over, and the
        # presence topic every account reads names the controller by `controller_id` only.
        self._client_id = f"ctl-{secrets.token_hex(12)}"
        self._address = parse_broker_url(settings.broker_url)
        self._lock = threading.Lock()  # held by whichever thread handles a message or a tick
        self._stopping = False
        self._desired: dict[str, Desired] = {}
        self._busy: dict[str, int] = {}
        self._inventory: dict[str, DeviceInfo] = {}
        self._published: dict[str, reconcile.Published] = {}
        self._settled: dict[str, int] = {}
        self._waiters = Waiters()
        self._grace: dict[int, float] = {}  # active session → failover grace
        self._offline_since: dict[str, float] = {}  # busy device → first seen offline
        self._degraded: set[int] = set()
        self._online: set[str] = set()
        self._republish_at: float | None = None
        self._next = {"flush": 0.0, "reconcile": 0.0, "resync": 0.0}
        self._connected = threading.Event()
        self._halt = threading.Event()
        self._ticker: threading.Thread | None = None
        self._client = self._make_client()

    # --- lifecycle --------------------------------------------------------------------------------

    def _make_client(self) -> paho.Client:
        client = new_client(self._address, client_id=self._client_id)
        client.will_set(self.topics.controller_status,
                        encode(controller_status(self.settings.controller_id, False, __version__)), qos=1, retain=True)
        client.max_queued_messages_set(_MAX_QUEUED)
        # Replies and configs go out at QoS 1. Their PUBACKs come back behind whatever the broker
        # already queued for us, so under a heartbeat backlog paho's default of 20 unacknowledged
        # messages held every further reply (and config) back until the backlog was read.
        client.max_inflight_messages_set(_MAX_INFLIGHT)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self, connect_timeout: float = 10.0) -> None:
        """Load the database, connect, and start the ticker; FleetError if the broker is unreachable."""
        self._load()
        try:
            self._client.connect(self._address.host, self._address.port, keepalive=30)
        except OSError as exc:
            raise FleetError(f"cannot reach the broker at {self._address.url}: {exc.strerror or exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(connect_timeout):
            self._client.loop_stop()
            raise FleetError(f"the broker at {self._address.url} did not accept the controller's connection")
        self._ticker = threading.Thread(target=self._run_ticks, name="fleet-controller-tick", daemon=True)
        self._ticker.start()
        log.info("controller %s up: broker %s, root %r, database %s, %d devices known",
                 self.settings.controller_id, self._address.url, self.topics.root, self.store.url, len(self.registry))

    def stop(self) -> None:
        """Clean shutdown: stop handling messages (unacknowledged check-ins are sent again to the
        next controller), flush liveness, publish offline presence, disconnect."""
        self.halt_ticks()
        with self._lock:
            self._stopping = True
            try:
                self._flush()
            except SQLAlchemyError as exc:  # still say goodbye: the next start re-reads liveness from the wire
                log.error("final liveness flush failed: %s", str(exc).splitlines()[0])
        info = self._client.publish(
            self.topics.controller_status,
            encode(controller_status(self.settings.controller_id, False, __version__, "shutdown")), qos=1, retain=True)
        if self._client.is_connected() and info.rc == 0:  # waited outside the lock: paho's thread reads the PUBACK
            try:
                info.wait_for_publish(timeout=3)
            except (RuntimeError, ValueError):
                log.warning("offline presence was not confirmed by the broker")
        self._client.disconnect()
        self._client.loop_stop()
        self.store.close()
        log.info("controller %s stopped", self.settings.controller_id)

    def _load(self) -> None:
        now = self.clock()
        for device_id, last_seen, boot, fw in self.store.load_liveness():
            self.registry.restore(device_id, last_seen=last_seen, boot=boot, fw=fw)
        self.registry.dirty.clear()
        self._resync(now)

    def _resync(self, now: float) -> None:
        """Re-read the inventory, desired configs and assignments (another controller may have written them)."""
        self._inventory = self.store.load_inventory()
        self._desired = {d.device_id: d for d in self.store.desired()}
        self._busy = {d.device_id: d.session_id for d in self._desired.values() if d.session_id is not None}
        if self.settings.shared_group:  # heartbeats are split between controllers: merge what the others saw
            for device_id, last_seen, boot, _fw in self.store.load_liveness():
                self.registry.merge(device_id, last_seen=last_seen, boot=boot)
        active = self.store.sessions(active_only=True)
        self._grace = {r.id: r.failover_grace_s for r in active if r.id is not None}
        self._degraded = {r.id for r in active if r.id is not None and r.degraded}
        self._next["resync"] = now + self.settings.resync_s

    def halt_ticks(self) -> None:
        """Stop the ticker thread (`stop()` does; tests that simulate a crash do it alone)."""
        self._halt.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
            self._ticker = None

    # --- paho callbacks ---------------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _userdata: object, _flags: object, reason: ReasonCode,
                    _props: object) -> None:
        if reason.is_failure:
            log.error("broker refused the controller: %s", reason)
            return
        with self._lock:  # paho's thread; the ticker may be mid-tick, or stop() under way
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
            client.subscribe([*self.topics.controller_filters(self.settings.shared_group), (BROKER_DROPPED, 0)])
            self._announce()
            self._published.clear()  # what the broker held may be gone: republish once retained states are in
            self._republish_at = self.clock() + _SETTLE_S
        self._connected.set()

    def _announce(self) -> None:
        self._send(self.topics.controller_status,
                   encode(controller_status(self.settings.controller_id, True, __version__)), retain=True)

    def _send(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Publish at QoS 1 if the topic and size are sound; False (counted) when not sent."""
        reason = None
        if not publishable(topic):
            reason = "bad_topic"
            log.error("not publishing on a malformed topic %s (a bug)", shown(topic))
        elif packet_size(topic, payload) > self.settings.max_packet_bytes:
            reason = "too_large"
        else:
            rc = self._client.publish(topic, payload, qos=1, retain=retain).rc
            if rc == paho.MQTT_ERR_SUCCESS:
                return True
            if rc == paho.MQTT_ERR_NO_CONN:
                return True  # paho keeps it (QoS 1) and sends it once connected again
            reason = "queue_full" if rc == paho.MQTT_ERR_QUEUE_SIZE else "not_sent"
        self.stats.unsent[reason] += 1
        if self.stats.unsent[reason] == 1:
            log.warning("a message on %s was not sent: %s [further ones are counted in `fleet stats`]", shown(topic),
                        reason)
        return False

    def _on_disconnect(self, _client: paho.Client, _userdata: object, _flags: object, reason: ReasonCode,
                       _props: object) -> None:
        if self._ticker is not None:
            log.warning("lost the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, _client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        topic, payload, retained = message.topic, message.payload, bool(message.retain)
        with self._lock:
            if self._stopping:
                return
            try:
                self._dispatch(topic, payload, retained)
            except SQLAlchemyError as exc:
                log.error("database error (will retry): %s", str(exc).splitlines()[0])
            except Exception:  # nothing may stop paho's loop
                self.stats.rejected["internal"] += 1
                log.exception("internal error while handling %s", shown(topic))

    # --- inbound messages -------------------------------------------------------------------------

    def _dispatch(self, topic: str, payload: bytes | bytearray, retained: bool) -> None:
        if topic == self.topics.requests:
            self.stats.received["request"] += 1
            if not payload:
                return  # someone cleared a retained request: nothing to do
            if retained:  # a retained request would run again on every (re)connect
                self.stats.reject("retained_request", topic, "requests must not be retained")
                return
            self._handle_request(topic, payload)
            return
        if topic == self.topics.controller_status:
            self._on_peer_status(payload)
            return
        if topic == BROKER_DROPPED:
            self._on_broker_dropped(payload)
            return
        try:
            where = self.topics.parse_device(topic)
        except Rejected as exc:
            self.stats.received["unknown"] += 1
            self.stats.reject(exc.reason, topic, exc.detail)
            return
        self.stats.received[where.channel.value] += 1
        now = self.clock()  # once a message: every handler below takes it
        if not self.registry.admit(where.device_id, now):
            self.stats.reject("rate_limited", topic, f"over {self.settings.max_device_rate:g} messages/s")
            return
        if not payload and where.channel in (Channel.STATUS, Channel.STATE):
            return  # a cleared retained message (`device forget` clears them), delivered live or retained
        try:
            message = _decode(where.channel, payload, where.device_id)
            if self.settings.require_approval and not self._approved(where.device_id):
                self._on_unapproved(where.device_id, message, retained, now)
            elif isinstance(message, Heartbeat):
                self._on_heartbeat(where.device_id, message, now)
            elif isinstance(message, Status):
                self._on_status(where.device_id, message, retained, now)
            elif isinstance(message, State):
                self._on_state(where.device_id, message, now)
            else:
                self._on_attendance(where.device_id, message, now)
        except Rejected as exc:
            self.stats.reject(exc.reason, topic, exc.detail)

    def _on_peer_status(self, payload: bytes | bytearray) -> None:
        """Several controllers share one presence topic: when another one's will (or clean stop)
        says offline, say at once that the fleet still has a controller."""
        try:
            status = load_object(payload, max_bytes=MAX_REQUEST_PAYLOAD)
        except Rejected:
            return
        if status.get("online") is False and status.get("controller_id") != self.settings.controller_id:
            log.info("controller %s went offline; this one (%s) carries on", shown(str(status.get("controller_id"))),
                     self.settings.controller_id)
            self._announce()

    def _on_broker_dropped(self, payload: bytes | bytearray) -> None:
        """The broker's count of messages it dropped because a subscriber's queue was full: any
        rise means messages to someone (maybe this controller) were lost."""
        try:
            dropped = int(payload)
        except ValueError:
            return
        before = self.stats.broker.get("dropped")
        self.stats.broker["dropped"] = dropped
        if before is not None and dropped > before:
            log.warning("the broker dropped %d messages for full subscriber queues (%d in all); some may have "
                        "been for this controller", dropped - before, dropped)

    def _approved(self, device_id: str) -> bool:
        info = self._inventory.get(device_id)
        return info is not None and info.approved

    def _on_unapproved(self, device_id: str, message: DeviceMessage, retained: bool, now: float) -> None:
        """Approval is on: an unknown device is registered as pending (so an operator sees it) and
        whatever it sends is rejected until `fleet device approve`."""
        if device_id not in self._inventory:
            log.warning("device %s is not approved; `fleet device approve %s` admits it", device_id, device_id)
            self._inventory[device_id] = DeviceInfo(approved=False)
        if isinstance(message, Heartbeat):
            self.registry.on_heartbeat(device_id, message, now)
        elif isinstance(message, Status):
            self.registry.on_status(device_id, message, now, retained=retained)
        raise Rejected("unapproved", device_id)

    def _on_heartbeat(self, device_id: str, heartbeat: Heartbeat, now: float) -> None:
        if self.registry.on_heartbeat(device_id, heartbeat, now) is Seen.STALE:
            raise Rejected("stale_heartbeat", f"boot {heartbeat.boot}")

    def _on_status(self, device_id: str, status: Status, retained: bool, now: float) -> None:
        if device_id not in self.registry.devices:
            log.info("new device %s (fw %s)", device_id, shown(status.fw))
        if self.registry.on_status(device_id, status, now, retained=retained) is Seen.STALE:
            raise Rejected("stale_status", f"boot {status.boot} < {self.registry.devices[device_id].boot}")
        if not status.online and device_id in self._busy:
            log.warning("device %s serving session %d went offline (%s)", device_id, self._busy[device_id],
                        shown(status.reason) if status.reason else "lost")

    def _on_state(self, device_id: str, state: State, now: float) -> None:
        self.registry.on_state(device_id, state)
        if device_id in self._desired:
            self._reconcile_one(self._desired[device_id], now)

    def _on_attendance(self, device_id: str, batch: Attendance, now: float) -> None:
        result = self.store.ingest(device_id, batch, now)
        failpoints.hit("after_ingest_commit")
        self.stats.checkins["stored"] += result.stored
        self.stats.checkins["duplicate"] += result.duplicates
        for reason, n in result.rejected.items():
            self.stats.reject_checkins(reason, n, self.topics.attendance(device_id), f"session {batch.session_id}")
        self._send(self.topics.attendance_ack(device_id), encode(ack(result.upto)))

    # --- periodic work ----------------------------------------------------------------------------

    def _run_ticks(self) -> None:
        while not self._halt.wait(_TICK_S):
            with self._lock:
                if self._stopping:
                    return
                try:
                    self._tick(self.clock())
                except SQLAlchemyError as exc:
                    log.error("database error (will retry): %s", str(exc).splitlines()[0])
                except Exception:  # the next tick tries again
                    self.stats.rejected["internal"] += 1
                    log.exception("internal error in the periodic work")

    def _tick(self, now: float) -> None:
        if now >= self._next["flush"]:
            self._flush()
            self._next["flush"] = now + self.settings.flush_s
        self._note_transitions(now)
        for device_id, flag in self.registry.raised:
            log.warning("device %s is %s: %s", device_id, flag.replace("_", " "), _FLAG_HINTS[flag])
        self.registry.raised.clear()
        self._failover(now)
        if now >= self._next["resync"]:
            self._resync(now)
        settling = self._republish_at is not None and now < self._republish_at
        if not settling and (self._republish_at is not None or now >= self._next["reconcile"]):
            self._republish_at = None
            for desired in list(self._desired.values()):
                self._reconcile_one(desired, now)
            self._next["reconcile"] = now + self.settings.reconcile_s
        self._answer(self._waiters.expire(now))

    def _failover(self, now: float) -> None:
        """Move sessions whose device stayed offline past their grace period to a free device."""
        failover.track_offline(self._busy, self._online, self._offline_since, now)
        for session_id, device_id in failover.due(self._busy, self._offline_since, self._grace, now):
            room = self._inventory.get(device_id, DeviceInfo()).room
            order = (self._pick(now, room=room) if room else []) or self._pick(now)  # its room first
            try:
                row, config, idle = self.store.move_session(session_id, device_id, order, self._reported_version, now)
            except UnknownSession:  # ended, or moved by another controller: the next resync shows it
                self._offline_since.pop(device_id, None)
                self._busy.pop(device_id, None)
                continue
            except NoDeviceAvailable:
                if session_id not in self._degraded:
                    self._degraded.add(session_id)
                    self.store.set_degraded(session_id, True)
                    log.warning("session %d is degraded: its device %s has been offline %.0f s and no device is "
                                "free to take over; it moves as soon as one is", session_id, device_id,
                                now - self._offline_since[device_id])
                continue
            assert row.device_id is not None and row.id is not None
            log.warning("session %d moved from %s (offline %.0f s) to %s as config version %d", session_id,
                        device_id, now - self._offline_since.pop(device_id), row.device_id, config.version)
            self._degraded.discard(session_id)
            self._busy.pop(device_id, None)
            self._busy[row.device_id] = session_id
            for new in (Desired(row.device_id, config, session_id), Desired(device_id, idle, None) if idle else None):
                if new is not None:
                    self._desired[new.device_id] = new
                    self._settled.pop(new.device_id, None)
                    self._reconcile_one(new, now)

    def _excluded(self) -> set[str]:
        """Devices never to choose: retired or not approved."""
        return {i for i, info in self._inventory.items() if info.retired or not info.approved}

    def _pick(self, now: float, room: str | None = None) -> list[str]:
        """Free devices to try, freshest first (in `room`, when given)."""
        return selection.candidates(self.registry, busy=self._busy, excluded=self._excluded(), now=now,
                                    ttl=self.settings.heartbeat_ttl_s, room=room,
                                    rooms={i: info.room for i, info in self._inventory.items()})

    def _flush(self) -> None:
        dirty = self.registry.take_dirty()
        rows = [LivenessRow(d.device_id, d.last_seen, d.boot if d.boot >= 0 else None, d.fw, d.ip,
                            d.reported.config_version if d.reported and d.reported.applied else None) for d in dirty]
        try:
            refused = self.store.flush_liveness(rows, self.clock(), approve_new=not self.settings.require_approval)
        except SQLAlchemyError:
            self.registry.dirty.update(d.device_id for d in dirty)  # keep them for the next flush
            raise
        for device_id in refused:
            self.stats.reject("unstorable", self.topics.heartbeat(device_id), "the database refused its liveness")

    def _note_transitions(self, now: float) -> None:
        online = self.registry.online_ids(now)
        for verb, changed in (("online", online - self._online), ("offline", self._online - online)):
            if len(changed) > _MASS_CHANGE:  # a restart or a broker blip: one line, ids at debug
                log.info("%d devices %s", len(changed), verb)
                log.debug("%s: %s", verb, ", ".join(sorted(changed)))
            else:
                for device_id in changed:
                    log.info("device %s %s", device_id, verb)
        self._online = online

    def _reconcile_one(self, desired: Desired, now: float) -> None:
        if self._republish_at is not None:
            return  # wait for retained states after a reconnect
        device = self.registry.devices.get(desired.device_id)
        action = reconcile.reconcile(
            desired.device_id, desired.config, device.reported if device else None,
            self._published.get(desired.device_id), online=desired.device_id in self._online, now=now,
            resend_after=self.settings.resend_s,
        )
        if isinstance(action, Publish):
            self._publish_config(desired.device_id, action.config, now)
        elif isinstance(action, Bump):
            config = self.store.bump(action.device_id, action.version)
            if config is not None:
                log.info("device %s reported a version ahead of the database; re-issuing as version %d",
                         action.device_id, config.version)
                self._desired[action.device_id] = Desired(action.device_id, config, desired.session_id)
                self._publish_config(action.device_id, config, now)
        elif isinstance(action, Applied | RejectedByDevice):
            self._settle(desired, action, now)

    def _publish_config(self, device_id: str, config: Config, now: float) -> None:
        if not self._client.is_connected():
            return
        if self._send(self.topics.config(device_id), encode(config.to_obj()), retain=True):
            self._published[device_id] = Published(config.version, now)

    def _settle(self, desired: Desired, action: Applied | RejectedByDevice, now: float) -> None:
        if self._settled.get(desired.device_id) == action.version:
            return
        self._settled[desired.device_id] = action.version
        error = action.error if isinstance(action, RejectedByDevice) else None
        if error is None:
            log.info("device %s applied config version %d", desired.device_id, action.version)
        else:
            log.warning("device %s rejected config version %d: %s", desired.device_id, action.version, shown(error))
        if desired.session_id is not None:
            self.store.mark_session(desired.session_id, applied_at=None if error else now, error=error)
            self._answer(self._waiters.settle(desired.session_id, "rejected" if error else "applied", error))

    # --- the request API --------------------------------------------------------------------------

    def _handle_request(self, topic: str, payload: bytes | bytearray) -> None:
        """Answer a request, or count why it cannot be. Once its id and reply topic are known, every
        fault is answered (`bad_request`, `rate_limited`, ...), so no client waits for nothing."""
        try:
            obj = load_object(payload, max_bytes=MAX_REQUEST_READ)
            request_id, reply_to = reply_address(obj)
            if not self.topics.is_replies(reply_to):  # never answer onto a device's or a malformed topic
                raise Rejected("bad_reply_to", shown(reply_to))
        except Rejected as exc:
            self.stats.reject(exc.reason, topic, exc.detail)
            return
        verdict = self._requests.take(reply_to, self.clock())
        if not verdict.allowed:
            self.stats.reject("rate_limited", reply_to, "a client over its request rate")
            if verdict.answer:
                self._send(reply_to, encode(reply_error(
                    request_id, "rate_limited", f"more than {self.settings.request_rate:g} requests/s; slow down")))
            return
        try:
            if len(payload) > MAX_REQUEST_PAYLOAD:
                raise ApiError(f"a request is at most {MAX_REQUEST_PAYLOAD} bytes, not {len(payload)}", "bad_request")
            try:
                request = Request.from_obj(obj)
            except Rejected as exc:
                raise ApiError(exc.detail or exc.reason, "bad_request") from exc
            result = self._call(request)
        except ApiError as exc:
            self.stats.rejected[f"request_{exc.code}"] += 1
            self._send(reply_to, encode(reply_error(request_id, exc.code, exc.message)))
            return
        except SQLAlchemyError:
            self._send(reply_to, encode(reply_error(request_id, "internal", "the database failed; try again")))
            raise
        except Exception:
            self._send(reply_to, encode(reply_error(request_id, "internal", "the controller failed; see its log")))
            raise
        if result is not None:
            self._reply(request, reply_ok(request.id, result))

    def _reply(self, request: Request, payload: JsonObject) -> None:
        data = encode(payload)
        if packet_size(request.reply_to, data) > self.settings.max_packet_bytes:
            self.stats.rejected["request_too_large"] += 1
            data = encode(reply_error(request.id, "too_large", f"the answer is {len(data)} bytes, over the "
                                      f"{self.settings.max_packet_bytes} a packet may have; ask for less (--limit)"))
        self._send(request.reply_to, data)

    def _call(self, request: Request) -> JsonObject | None:
        """Answer one request; None when the answer comes later (session.wait)."""
        params, now = request.params, self.clock()
        match request.method:
            case "session.start":
                return self._session_start(api.parse_start(params), now)
            case "session.wait":
                session_id, timeout = api.parse_wait(params)
                return self._session_wait(request, session_id, now + timeout)
            case "session.end":
                return self._session_end(api.parse_session_id(params), now)
            case "session.list":
                counts = self.store.attendance_counts()
                rows = self.store.sessions(active_only=api.parse_active(params))
                return {"sessions": [api.session_row(r, counts.get(r.id or 0, 0)) for r in rows]}
            case "devices.list":
                # a read: the online set as of now, without recording transitions (the ticker does)
                return api.devices_result(list(self.registry), self._desired, self.registry.online_ids(now), self._busy,
                                          api.parse_devices(params), self._inventory, now)
            case "stats":
                return self.stats.as_obj()
            case "attendance.list":
                session_id = api.parse_session_id(params)
                return api.attendance_result(session_id, *self.store.attendance(session_id))
            case "attendance.report":
                return self._report(api.parse_report(params))
            case "courses.list":
                return {"courses": [{"code": c.code, "title": c.title} for c in self.store.courses()]}
        if request.method.startswith("device."):
            return self._inventory_call(request.method, params, now)
        raise ApiError(f"unknown method {request.method!r}", "unknown_method")

    def _inventory_call(self, method: str, params: Mapping[str, Any], now: float) -> JsonObject:
        """The operator's inventory: device.list, device.set, device.retire/restore/approve/forget."""
        self._flush()  # devices seen since the last flush must exist as rows
        if method == "device.list":
            return api.inventory_result(self.registry.devices, self.store.load_devices(), self._desired,
                                        self.registry.online_ids(now), now)
        if method == "device.set":
            device_id, name, room = api.parse_device_set(params)
            row = self.store.set_device(device_id, name=name, room=room)
        elif method in ("device.retire", "device.restore"):
            row = self.store.set_retired(api.parse_device(params), method == "device.retire")
        elif method == "device.approve":
            row = self.store.approve(api.parse_device(params))
        elif method == "device.forget":
            device_id = api.parse_device(params)
            live = self.registry.devices.get(device_id)
            if live is not None and live.online(now, self.settings.heartbeat_ttl_s):
                # it would reappear at once, with no birth, looking offline while it heartbeats
                raise ApiError(f"device {device_id} is online; revoke it (`fleet device revoke`) or power it off "
                               "first", "device_online")
            self.store.forget(device_id)
            self._forget(device_id)
            return {"device": device_id, "forgotten": True}
        else:
            raise ApiError(f"unknown method {method!r}", "unknown_method")
        self._inventory[row.id] = DeviceInfo(row.name, row.room, row.retired, row.approved)
        log.info("%s %s: name=%r room=%r retired=%s approved=%s", method, row.id, row.name, row.room, row.retired,
                 row.approved)
        return {"device": row.id, "name": row.name, "room": row.room, "retired": row.retired,
                "approved": row.approved}

    def _forget(self, device_id: str) -> None:
        """Drop every trace of a device, its retained topics on the broker included."""
        for topic in (self.topics.status(device_id), self.topics.state(device_id), self.topics.config(device_id)):
            self._send(topic, b"", retain=True)
        for table in (self.registry.devices, self._desired, self._inventory, self._published, self._settled):
            table.pop(device_id, None)
        self.registry.dirty.discard(device_id)
        self._online.discard(device_id)

    def _report(self, query: api.ReportQuery) -> JsonObject:
        held = self.store.course_sessions(query.course, query.session, query.semester)
        ids = [h.id for h in held if h.id is not None]
        checkins = [report.Checkin(r.session_id, r.student_id, r.station_mac) for r in self.store.records_of(ids)]
        result = report.build([report.Held(h.id or 0, h.started_at, h.device_id) for h in held], checkins)
        return {"course": query.course, "session": query.session, "semester": query.semester} | result

    def _reported_version(self, device_id: str) -> int:
        device = self.registry.devices.get(device_id)
        return reconcile.next_version(0, device.reported if device else None) - 1

    def _session_start(self, request: StartRequest, now: float) -> JsonObject:
        self._flush()  # newly seen devices must exist as rows before they can be claimed
        self._note_transitions(now)
        order = self._candidates(request, now)

        def make_config(session_id: int, title: str, taken: set[str], room: str | None) -> SessionConfig:
            return naming.session_config(
                session_id=session_id, course=request.course, title=title, session=request.session,
                semester=request.semester, lecturer=request.lecturer, password=request.password, taken_ssids=taken,
                room=room)

        row, config = self.store.start_session(request, order, make_config, self._reported_version, now)
        failpoints.hit("after_claim_commit")
        assert row.id is not None and row.device_id is not None
        desired = Desired(row.device_id, config, row.id)
        self._desired[row.device_id] = desired
        self._busy[row.device_id] = row.id
        self._grace[row.id] = request.failover_grace_s
        self._settled.pop(row.device_id, None)
        log.info("session %d (%s %s %s) started on %s as %s, config version %d", row.id, row.course_code,
                 row.academic_session, row.semester, row.device_id, row.ssid, config.version)
        self._reconcile_one(desired, now)
        return {"session_id": row.id, "device": row.device_id, "config": config.to_obj()}

    def _candidates(self, request: StartRequest, now: float) -> list[str]:
        """Devices to try, in order; with a room, only that room's unless `any_room` allows a fallback."""
        if request.room is None or request.device is not None:
            return self._pick(now)
        in_room = self._pick(now, room=request.room)
        if in_room or request.any_room:
            return in_room or self._pick(now)
        raise NoDeviceAvailable(selection.describe_room(
            request.room, [i for i, info in self._inventory.items() if info.room == request.room],
            online=self._online, busy=self._busy, excluded=self._excluded()))

    def _session_end(self, session_id: int, now: float) -> JsonObject:
        row, config = self.store.end_session(session_id, self._reported_version, now)
        log.info("session %d ended", session_id)
        if row.device_id is not None and config is not None:
            self._busy.pop(row.device_id, None)
            self._settled.pop(row.device_id, None)
            desired = Desired(row.device_id, config, None)
            self._desired[row.device_id] = desired
            self._reconcile_one(desired, now)
        self._answer(self._waiters.settle(session_id, "ended", None))
        return {"session_id": session_id, "device": row.device_id, "config": config.to_obj() if config else None}

    def _session_wait(self, request: Request, session_id: int, deadline: float) -> JsonObject | None:
        row = self.store.get_session(session_id)
        if row.applied_at is not None or row.error is not None or not row.active:
            return wait_result(session_id, "applied" if row.applied_at else "rejected" if row.error else "ended",
                               row.error)
        self._waiters.park(request, session_id, deadline)
        return None

    def _answer(self, replies: list[tuple[Request, JsonObject]]) -> None:
        for request, result in replies:
            self._reply(request, reply_ok(request.id, result))

    # --- running in the foreground ----------------------------------------------------------------

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
