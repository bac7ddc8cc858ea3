"""Inbound messages: routed by topic, devices' messages admitted, decoded, approved and handled
(heartbeat, status, state, check-ins, update progress), the broker's and other controllers' news read.

Bad input from the network is counted and dropped (`Stats.reject`); nothing here raises for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller.adapters.store import Store
from controller.contract.decode import DeviceMessage, decode_payload
from controller.contract.messages import (
    MAX_REQUEST_PAYLOAD,
    Attendance,
    ControllerRole,
    Heartbeat,
    State,
    Status,
    ack,
    encode,
    load_object,
)
from controller.contract.topics import BROKER_DROPPED, Channel, Topics
from controller.contract.updates import UpdateState
from controller.core import acks
from controller.core.fleet import Fleet
from controller.core.liveness import NO_ACKS, Seen
from controller.daemon import failpoints
from controller.daemon.effects import Applier
from controller.daemon.outbox import Outbox
from controller.daemon.requests import Requests
from controller.daemon.rollout import Rollouts
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import Rejected
from controller.logtext import shown

log = logging.getLogger(__name__)


class Inbound:
    """Handles each message paho reads, on paho's thread, under the controller's lock."""

    def __init__(self, applier: Applier, requests: Requests, *, settings: ControllerSettings, topics: Topics,
                 stats: Stats, clock: Callable[[], float]) -> None:
        self._applier = applier
        self._requests = requests
        self._rollouts: Rollouts = requests.rollouts
        self._fleet: Fleet = applier.fleet
        self._store: Store = applier.store
        self._outbox: Outbox = applier.outbox
        self._settings = settings
        self._topics = topics
        self._stats = stats
        self._clock = clock

    def dispatch(self, topic: str, payload: bytes | bytearray, retained: bool) -> None:
        try:
            sender = self._topics.request_sender(topic)
        except Rejected as exc:  # a requests topic whose user level no account can have
            self._stats.received["request"] += 1
            self._stats.reject(exc.reason, topic, exc.detail)
            return
        if sender is not None:
            self._on_request(sender, topic, payload, retained)
        elif topic == self._topics.controller_status:
            self._on_peer_status(payload)
        elif topic == BROKER_DROPPED:
            self._on_broker_dropped(payload)
        else:
            self._on_device(topic, payload, retained)

    def _on_request(self, sender: str, topic: str, payload: bytes | bytearray, retained: bool) -> None:
        self._stats.received["request"] += 1
        if not payload:
            return  # someone cleared a retained request: nothing to do
        if retained:  # a retained request would run again on every (re)connect
            self._stats.reject("retained_request", topic, "requests must not be retained")
            return
        self._requests.handle(sender, topic, payload)

    def _on_device(self, topic: str, payload: bytes | bytearray, retained: bool) -> None:
        try:
            where = self._topics.parse_device(topic)
        except Rejected as exc:
            self._stats.received["unknown"] += 1
            self._stats.reject(exc.reason, topic, exc.detail)
            return
        self._stats.received[where.channel.value] += 1
        now = self._clock()  # once a message: every handler below takes it
        if not self._fleet.live.admit(where.device_id, now):
            self._stats.reject("rate_limited", topic, f"over {self._settings.max_device_rate:g} messages/s")
            return
        if not payload and where.channel in (Channel.STATUS, Channel.STATE, Channel.UPDATE_STATE):
            return  # a cleared retained message (`device forget` clears them), delivered live or retained
        try:
            message = decode_payload(where.channel, payload, where.device_id)
            if self._settings.require_approval and not self._fleet.approved(where.device_id):
                self._on_unapproved(where.device_id, message, retained, now)
            elif isinstance(message, Heartbeat):
                self._on_heartbeat(where.device_id, message, now)
            elif isinstance(message, Status):
                self._on_status(where.device_id, message, retained, now)
            elif isinstance(message, State):
                self._on_state(where.device_id, message, now)
            elif isinstance(message, UpdateState):
                self._rollouts.on_state(where.device_id, message, now)
            else:
                self._on_attendance(where.device_id, message, now)
        except Rejected as exc:
            self._stats.reject(exc.reason, topic, exc.detail)

    def _on_peer_status(self, payload: bytes | bytearray) -> None:
        """Several controllers share one presence topic: when another one's will (or clean stop)
        says offline, or a former leader says it stands by, say at once that the fleet still has a
        controller."""
        try:
            status = load_object(payload, max_bytes=MAX_REQUEST_PAYLOAD)
        except Rejected:
            return
        gone = status.get("online") is False or status.get("role") == ControllerRole.STANDBY.value
        if gone and status.get("controller_id") != self._settings.controller_id:
            log.info("controller %s went offline or stands by; this one (%s) carries on",
                     shown(str(status.get("controller_id"))), self._settings.controller_id)
            self._outbox.announce()

    def _on_broker_dropped(self, payload: bytes | bytearray) -> None:
        """The broker's count of messages it dropped because a subscriber's queue was full: any
        rise means messages to someone (maybe this controller) were lost."""
        try:
            dropped = int(payload)
        except ValueError:
            return
        before = self._stats.broker.get("dropped")
        self._stats.broker["dropped"] = dropped
        if before is not None and dropped > before:
            log.warning("the broker dropped %d messages for full subscriber queues (%d in all); some may have "
                        "been for this controller", dropped - before, dropped)

    def _on_unapproved(self, device_id: str, message: DeviceMessage, retained: bool, now: float) -> None:
        """Approval is on: an unknown device is registered as pending (so an operator sees it) and
        whatever it sends is rejected until `fleet device approve`."""
        if self._fleet.register_pending(device_id):
            log.warning("device %s is not approved; `fleet device approve %s` admits it", device_id, device_id)
        if isinstance(message, Heartbeat):
            self._fleet.live.on_heartbeat(device_id, message, now)
        elif isinstance(message, Status):
            self._fleet.live.on_status(device_id, message, now, retained=retained)
        raise Rejected("unapproved", device_id)

    def _on_heartbeat(self, device_id: str, heartbeat: Heartbeat, now: float) -> None:
        if self._fleet.live.on_heartbeat(device_id, heartbeat, now) is Seen.STALE:
            raise Rejected("stale_heartbeat", f"boot {heartbeat.boot}")

    def _on_status(self, device_id: str, status: Status, retained: bool, now: float) -> None:
        registry = self._fleet.live
        if device_id not in registry.devices:
            log.info("new device %s (fw %s)", device_id, shown(status.fw))
        if registry.on_status(device_id, status, now, retained=retained) is Seen.STALE:
            raise Rejected("stale_status", f"boot {status.boot} < {registry.devices[device_id].boot}")
        session_id = self._fleet.serving(device_id)
        if not status.online and session_id is not None:
            log.warning("device %s serving session %d went offline (%s)", device_id, session_id,
                        shown(status.reason) if status.reason else "lost")

    def _on_state(self, device_id: str, state: State, now: float) -> None:
        self._fleet.live.on_state(device_id, state)
        self._applier.reconcile(device_id, now)

    def _on_attendance(self, device_id: str, batch: Attendance, now: float) -> None:
        first = min(e.seq for e in batch.events)
        self._resume_acks(device_id, batch.session_id, first)
        result = self._store.ingest(device_id, batch, now)
        failpoints.hit("after_ingest_commit")
        self._stats.checkins["stored"] += result.stored
        self._stats.checkins["duplicate"] += result.duplicates
        for reason, n in result.rejected.items():
            self._stats.reject_checkins(reason, n, self._topics.attendance(device_id), f"session {batch.session_id}")
        upto = self._ack_upto(device_id, first, result.upto)
        if upto is not None:
            self._outbox.send(self._topics.attendance_ack(device_id), encode(ack(upto)))

    def _resume_acks(self, device_id: str, session_id: int, first: int) -> None:
        """A device's first batch since this controller started: how far its acks reached is read
        from what the store holds of it in the batch's session, so a batch lost while no
        controller listened (a restart, a standby taking over) is held for as well."""
        device = self._fleet.live.devices.get(device_id)
        if device is None or device.acks != NO_ACKS or self._settings.shared_group:
            return
        stored = self._store.last_seq_before(device_id, session_id, first)
        if stored is not None:
            device.acks = acks.AckMark(stored)

    def _ack_upto(self, device_id: str, first: int, last: int) -> int | None:
        """The ack for a stored batch `first`..`last`: None while an earlier batch is missing
        (controller.core.acks). With a shared group each controller sees only some of a device's
        batches, so every batch is acked as it comes."""
        device = self._fleet.live.devices.get(device_id)
        if device is None or self._settings.shared_group:
            return last
        decided = acks.ack_for(device.acks, first, last)
        if decided.held:
            log.info("device %s: holding the ack of check-ins %d..%d at %d: %d..%d never arrived; its resend "
                     "fills the gap", device_id, first, last, device.acks.in_order, device.acks.in_order + 1,
                     first - 1)
        device.acks = decided.mark
        return decided.upto
