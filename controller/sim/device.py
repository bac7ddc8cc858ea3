"""One simulated device's decisions, with no I/O and no clock: the status, heartbeat, state and
attendance messages it sends, the config version rule, its check-in queue and duplicate-student
check. `now` (monotonic seconds) and a `random.Random` are passed in, so it is tested with plain
data; the simulator (`controller.sim.simulator`) drives many of them over MQTT.

The limits and the check-in rules are the firmware's (`firmware/lib/fleet_core`): each constant
below names the one it mirrors, and tests/unit/sim/test_device.py reads the header to keep them equal.
"""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Final

from controller.contract.messages import (
    AP_SLOTS,
    MAX_DEVICE_PAYLOAD,
    MAX_EVENTS,
    U32,
    Attendance,
    CheckinEvent,
    Config,
    Heartbeat,
    State,
    Status,
    encode,
    load_object,
)
from controller.errors import Rejected
from controller.sim.update import Updater

FW_VERSION: Final = "1.0.0"
"""What a simulated device runs until an update (a semantic version, as update commands compare)."""
QUEUE_CAPACITY: Final = 256
"""Check-ins a device keeps in flash until acked; a full queue refuses new ones (`kQueueCapacity`)."""
MAX_SEEN_STUDENTS: Final = 1024
"""Students remembered per session for the duplicate check (`kMaxSeenStudents`)."""
STUDENTS_PER_CLASS: Final = 120
"""The students a simulated visit is drawn from, with repeats (refused as already checked in)."""
RSSI_RANGE: Final = (-85, -40)
HEAP_RANGE: Final = (120_000, 180_000)


class CheckinResult(Enum):
    """What a check-in attempt came to (the firmware's `CheckinResult`, less the outcomes of a
    malformed student id and a failed flash write, which the simulator never produces)."""

    CHECKED_IN = "checked_in"
    ALREADY_CHECKED_IN = "already_checked_in"
    NO_ACTIVE_SESSION = "no_active_session"
    QUEUE_FULL = "queue_full"


class SeenStudents:
    """The students already checked in during one session (the firmware's `SeenStudents`): at
    most `capacity`; past it a student is not remembered, so a repeat is queued again and the
    controller, which keeps one row per session and student, drops it."""

    __slots__ = ("_ids", "capacity", "session_id")

    def __init__(self, capacity: int = MAX_SEEN_STUDENTS) -> None:
        self.capacity = capacity
        self.session_id: int | None = None
        self._ids: set[str] = set()

    def reset(self, session_id: int | None) -> None:
        """Start over for `session_id` (None: no session)."""
        self.session_id = session_id
        self._ids.clear()

    def __contains__(self, student_id: str) -> bool:
        return student_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def insert(self, student_id: str) -> bool:
        """Remember `student_id`; False when the set is full and it is not remembered."""
        if student_id not in self._ids and len(self._ids) >= self.capacity:
            return False
        self._ids.add(student_id)
        return True


@dataclass(frozen=True, slots=True)
class DeviceView:
    """One device as the simulator sees it now."""

    device_id: str
    boot: int
    online: bool
    config_version: int
    session_id: int | None
    ssid: str | None
    queued: int
    next_seq: int
    fw: str = FW_VERSION

    @property
    def active_session(self) -> bool:
        return self.session_id is not None


class SimDevice:
    """One device's decisions: what it sends, the config version rule, its check-in queue.

    No I/O and no clock. What a real device keeps in flash (last applied config, unacked
    check-ins, next seq, boot counter) survives `reboot()`; uptime does not, and the seen students
    are rebuilt from the queue, as the firmware does at boot.
    """

    def __init__(self, device_id: str, index: int, rng: random.Random, now: float, fw: str = FW_VERSION) -> None:
        self.device_id = device_id
        self.index = index  # its place in the simulated fleet (and the broker it tries first)
        self.ip = f"127.0.{(index // 254) % 256}.{index % 254 + 1}"
        self.update = Updater(fw)  # its two firmware slots and any update in progress
        self.boot = 1
        self.booted_at = now
        self.config: Config | None = None
        self.state: State | None = None
        self.queue: deque[tuple[int, CheckinEvent]] = deque()  # (session_id, event), seq rising
        self.next_seq = 1
        self.seen = SeenStudents()
        self._rng = rng
        self._rssi = rng.randint(RSSI_RANGE[0] + 5, RSSI_RANGE[1] - 5)
        self._sent = 0  # how many queued events went out on the current connection
        self._ack_wait: tuple[int, float] | None = None  # (queue head's seq, since when)
        # Slot use of the current session since it started on this boot (the firmware's
        # StationStats); refused associations are left out, as an ESP32 leaves them out.
        self._stations_peak = 0
        self._checkins_served = 0

    @property
    def applied_version(self) -> int:
        return 0 if self.config is None else self.config.version

    @property
    def fw(self) -> str:
        return self.update.running

    @property
    def session_id(self) -> int | None:
        session = None if self.config is None else self.config.session
        return None if session is None else session.session_id

    def reboot(self, now: float) -> None:
        self.update.on_reboot()
        self.boot += 1
        self.booted_at = now
        self._sent = 0
        self._stations_peak = self._checkins_served = 0
        self.seen.reset(self.session_id)
        for session_id, event in self.queue:
            if session_id == self.session_id:
                self.seen.insert(event.student_id)

    def resend_unacked(self, now: float, timeout_s: float) -> bool:
        """The firmware's ack timeout: once every queued check-in has gone out and no ack has moved
        the queue's head for `timeout_s`, all of it is to be sent again (True). An ack lost on the
        way (a broker node dying, a controller reconnecting with a clean session) or held for a
        lost batch (controller.core.acks) then costs a resend, not a check-in stuck until the next
        connection; new check-ins queued meanwhile do not put it off. Checked at each heartbeat."""
        if not self.queue:
            self._ack_wait = None
            return False
        if self._sent < len(self.queue):
            return False
        head = self.queue[0][1].seq
        if self._ack_wait is None or self._ack_wait[0] != head:
            self._ack_wait = (head, now)
            return False
        if now - self._ack_wait[1] < timeout_s:
            return False
        self._sent = 0
        self._ack_wait = None
        return True

    def link_up(self) -> None:
        """A new connection: every unacked check-in is to be sent again."""
        self._sent = 0

    def birth(self) -> Status:
        return Status(True, self.boot, self.fw, self.ip)

    def will(self) -> Status:
        return Status(False, self.boot)

    def shutdown(self) -> Status:
        return Status(False, self.boot, reason="shutdown")

    def heartbeat(self, now: float) -> Heartbeat:
        rng = self._rng
        rssi = min(RSSI_RANGE[1], max(RSSI_RANGE[0], self._rssi + rng.randint(-3, 3)))
        stations = rng.randint(0, AP_SLOTS) if self.session_id is not None else 0
        self._stations_peak = max(self._stations_peak, stations)
        return Heartbeat(
            self.boot, self._uptime_s(now), rssi, rng.randint(*HEAP_RANGE), self.fw, self.applied_version, stations,
            len(self.queue), self._stations_peak, None, self._checkins_served,
        )

    def on_config(self, payload: bytes) -> State | None:
        """The config rule: apply a greater version, reject a bad one, ignore the rest (None)."""
        try:
            obj = load_object(payload)
        except Rejected as exc:
            return self._reject(0, exc)
        version = obj.get("version")
        if type(version) is int and version <= self.applied_version:
            return None
        try:
            config = Config.from_obj(obj)
        except Rejected as exc:
            return self._reject(version if type(version) is int and 0 <= version <= U32 else 0, exc)
        self.config = config
        if self.session_id != self.seen.session_id:
            self.seen.reset(self.session_id)
            self._stations_peak = self._checkins_served = 0
        session = config.session
        if session is None:
            self.state = State(config.version, "applied", False)
        else:
            self.state = State(config.version, "applied", True, session.session_id, session.ssid)
        return self.state

    def _reject(self, version: int, exc: Rejected) -> State:
        self.state = State(version, "rejected", error=str(exc)[:128], applied_version=self.applied_version)
        return self.state

    def on_ack(self, payload: bytes) -> int:
        """Drop every queued check-in the ack covers; returns how many. Rejected on a bad ack."""
        upto = load_object(payload, device_id=self.device_id).get("upto")
        if type(upto) is not int or not 0 <= upto <= U32:
            raise Rejected("schema", "upto must be an integer in 0..4294967295")
        dropped = 0
        while self.queue and self.queue[0][1].seq <= upto:
            self.queue.popleft()
            dropped += 1
        self._sent = max(0, self._sent - dropped)
        return dropped

    def visit(self, now: float) -> CheckinResult:
        """A student from the class, drawn at random (repeats happen), tries to check in from a
        random station."""
        if self.session_id is None:
            return CheckinResult.NO_ACTIVE_SESSION
        rng = self._rng
        student_id = f"U2024/{rng.randint(1, STUDENTS_PER_CLASS):04d}"
        return self.checkin(now, student_id, ":".join(f"{rng.randrange(256):02x}" for _ in range(6)))

    def checkin(self, now: float, student_id: str, station_mac: str) -> CheckinResult:
        """The firmware's check-in rule: refused without a session, for a student already checked
        in this session, or when the queue is full (no seq is used then); else queued until acked."""
        session_id = self.session_id
        if session_id is None:
            return CheckinResult.NO_ACTIVE_SESSION
        if student_id in self.seen:
            return CheckinResult.ALREADY_CHECKED_IN
        if len(self.queue) >= QUEUE_CAPACITY:
            return CheckinResult.QUEUE_FULL
        uptime_ms = min(U32, int((now - self.booted_at) * 1000))
        self.queue.append((session_id, CheckinEvent(self.next_seq, student_id, station_mac, uptime_ms)))
        self.next_seq += 1
        self.seen.insert(student_id)
        self._checkins_served += 1
        return CheckinResult.CHECKED_IN

    def unsent_batches(self) -> list[Attendance]:
        """Queued events not yet sent on this connection, as batches of one session each, at most
        `MAX_EVENTS` events and `MAX_DEVICE_PAYLOAD` bytes; they count as sent from now on."""
        pending = list(itertools.islice(self.queue, self._sent, None))
        self._sent = len(self.queue)
        batches: list[Attendance] = []
        i = 0
        while i < len(pending):
            session_id = pending[i][0]
            size = len(encode(Attendance(session_id, ()).to_obj(self.device_id)))
            events: list[CheckinEvent] = []
            while i < len(pending) and pending[i][0] == session_id and len(events) < MAX_EVENTS:
                event = pending[i][1]
                extra = len(encode(event.to_obj())) + (1 if events else 0)
                if events and size + extra > MAX_DEVICE_PAYLOAD:
                    break
                events.append(event)
                size += extra
                i += 1
            batches.append(Attendance(session_id, tuple(events)))
        return batches

    def view(self, online: bool) -> DeviceView:
        config, queued = self.config, len(self.queue)
        session = None if config is None else config.session
        return DeviceView(
            self.device_id, self.boot, online, 0 if config is None else config.version,
            None if session is None else session.session_id, None if session is None else session.ssid, queued,
            self.next_seq, self.fw,
        )

    def _uptime_s(self, now: float) -> int:
        return min(U32, max(0, int(now - self.booted_at)))
