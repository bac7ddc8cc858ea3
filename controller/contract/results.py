"""The request API's results: one frozen type per method, written by the controller, read by a client.

`to_obj` is the reply's `result` exactly (keys in this order; `schemas/methods/` holds them to it);
`from_obj` is the client's reading of it, raising Rejected("schema") for a result it cannot read.
Numbers keep their JSON type both ways (a time stays whatever the controller sent). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from controller.contract.messages import Config, JsonObject
from controller.errors import Rejected

WAIT_STATUSES: Final = frozenset({"applied", "rejected", "pending", "ended"})

# --- field readers ---------------------------------------------------------------------------------


def _bad(key: str, what: str) -> Rejected:
    return Rejected("schema", f"{key} must be {what}")


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise _bad(key, "an integer")
    return value


def _opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    return None if obj.get(key) is None else _int(obj, key)


def _num(obj: Mapping[str, Any], key: str) -> float:
    value = obj.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _bad(key, "a number")
    return value  # an int stays an int: written back as the controller sent it


def _opt_num(obj: Mapping[str, Any], key: str) -> float | None:
    return None if obj.get(key) is None else _num(obj, key)


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is not str:
        raise _bad(key, "a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else _str(obj, key)


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key)
    if type(value) is not bool:
        raise _bad(key, "true or false")
    return value


def _objects(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = obj.get(key)
    if type(items) is not list or any(type(item) is not dict for item in items):
        raise _bad(key, "a list of objects")
    return items


def _counts(obj: Mapping[str, Any], key: str) -> dict[str, int]:
    counts = obj.get(key)
    if type(counts) is not dict or any(type(n) is not int for n in counts.values()):
        raise _bad(key, "an object of integers")
    return dict(counts)


def _config(obj: Mapping[str, Any], key: str) -> Config | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not dict:
        raise _bad(key, "a config object")
    return Config.from_obj(value)


# --- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """session.start: the session, the device it was given, and the config published to it."""

    session_id: int
    device: str
    config: Config

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        config = _config(obj, "config")
        if config is None:
            raise _bad("config", "a config object")
        return cls(_int(obj, "session_id"), _str(obj, "device"), config)

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "device": self.device, "config": self.config.to_obj()}


@dataclass(frozen=True, slots=True)
class SessionWaited:
    """session.wait: applied, rejected (with the device's error), ended, or pending (timed out)."""

    session_id: int
    status: str
    error: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        status = _str(obj, "status")
        if status not in WAIT_STATUSES:
            raise _bad("status", f"one of {sorted(WAIT_STATUSES)}")
        return cls(_int(obj, "session_id"), status, _opt_str(obj, "error"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "status": self.status, "error": self.error}


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """session.end: the device that returns to idle and its idle config (None: it had left the session)."""

    session_id: int
    device: str | None
    config: Config | None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_int(obj, "session_id"), _opt_str(obj, "device"), _config(obj, "config"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "device": self.device,
                "config": self.config.to_obj() if self.config else None}


@dataclass(frozen=True, slots=True)
class SessionRow:
    session_id: int
    course: str
    title: str
    session: str
    semester: str
    lecturer: str
    device: str | None
    ssid: str
    active: bool
    applied: bool
    error: str | None
    config_version: int
    started_at: float
    ended_at: float | None
    room: str | None
    moves: int
    moved_from: str | None
    degraded: bool
    failover_grace_s: float
    checkins: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(
            _int(obj, "session_id"), _str(obj, "course"), _str(obj, "title"), _str(obj, "session"),
            _str(obj, "semester"), _str(obj, "lecturer"), _opt_str(obj, "device"), _str(obj, "ssid"),
            _bool(obj, "active"), _bool(obj, "applied"), _opt_str(obj, "error"), _int(obj, "config_version"),
            _num(obj, "started_at"), _opt_num(obj, "ended_at"), _opt_str(obj, "room"), _int(obj, "moves"),
            _opt_str(obj, "moved_from"), _bool(obj, "degraded"), _num(obj, "failover_grace_s"),
            _int(obj, "checkins"),
        )

    def to_obj(self) -> JsonObject:
        return {
            "session_id": self.session_id, "course": self.course, "title": self.title, "session": self.session,
            "semester": self.semester, "lecturer": self.lecturer, "device": self.device, "ssid": self.ssid,
            "active": self.active, "applied": self.applied, "error": self.error,
            "config_version": self.config_version, "started_at": self.started_at, "ended_at": self.ended_at,
            "room": self.room, "moves": self.moves, "moved_from": self.moved_from, "degraded": self.degraded,
            "failover_grace_s": self.failover_grace_s, "checkins": self.checkins,
        }


@dataclass(frozen=True, slots=True)
class SessionList:
    sessions: tuple[SessionRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(SessionRow.from_obj(s) for s in _objects(obj, "sessions")))

    def to_obj(self) -> JsonObject:
        return {"sessions": [s.to_obj() for s in self.sessions]}


# --- devices -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device of the fleet table: liveness, what it serves, its health and the operator's inventory."""

    id: str
    online: bool
    last_seen: float | None
    name: str | None
    ssid: str | None
    location: str | None
    room: str | None
    session_id: int | None
    config_version: int | None
    applied_version: int | None
    boot: int | None
    fw: str | None
    rssi: int | None
    heap: int | None
    uptime_s: int | None
    stations: int | None
    retired: bool
    approved: bool
    flags: tuple[str, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        flags = obj.get("flags")
        if type(flags) is not list or any(type(f) is not str for f in flags):
            raise _bad("flags", "a list of strings")
        return cls(
            _str(obj, "id"), _bool(obj, "online"), _opt_num(obj, "last_seen"), _opt_str(obj, "name"),
            _opt_str(obj, "ssid"), _opt_str(obj, "location"), _opt_str(obj, "room"), _opt_int(obj, "session_id"),
            _opt_int(obj, "config_version"), _opt_int(obj, "applied_version"), _opt_int(obj, "boot"),
            _opt_str(obj, "fw"), _opt_int(obj, "rssi"), _opt_int(obj, "heap"), _opt_int(obj, "uptime_s"),
            _opt_int(obj, "stations"), _bool(obj, "retired"), _bool(obj, "approved"), tuple(flags),
        )

    def to_obj(self) -> JsonObject:
        return {
            "id": self.id, "online": self.online, "last_seen": self.last_seen, "name": self.name, "ssid": self.ssid,
            "location": self.location, "room": self.room, "session_id": self.session_id,
            "config_version": self.config_version, "applied_version": self.applied_version, "boot": self.boot,
            "fw": self.fw, "rssi": self.rssi, "heap": self.heap, "uptime_s": self.uptime_s,
            "stations": self.stations, "retired": self.retired, "approved": self.approved, "flags": list(self.flags),
        }


@dataclass(frozen=True, slots=True)
class DevicesList:
    """devices.list: totals of the whole fleet (retired devices left out), then the matched rows."""

    total: int
    online: int
    offline: int
    available: int
    matched: int
    devices: tuple[DeviceRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_int(obj, "total"), _int(obj, "online"), _int(obj, "offline"), _int(obj, "available"),
                   _int(obj, "matched"), tuple(DeviceRow.from_obj(d) for d in _objects(obj, "devices")))

    def to_obj(self) -> JsonObject:
        return {"total": self.total, "online": self.online, "offline": self.offline, "available": self.available,
                "matched": self.matched, "devices": [d.to_obj() for d in self.devices]}


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One device of device.list: the fleet table's row, when it was first seen, the operator's name."""

    device: DeviceRow
    first_seen: float | None
    operator_name: str | None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(DeviceRow.from_obj(obj), _opt_num(obj, "first_seen"), _opt_str(obj, "operator_name"))

    def to_obj(self) -> JsonObject:
        return self.device.to_obj() | {"first_seen": self.first_seen, "operator_name": self.operator_name}


@dataclass(frozen=True, slots=True)
class DeviceInventory:
    """device.list: every known device, never-seen, retired and unapproved ones included."""

    devices: tuple[InventoryRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(InventoryRow.from_obj(d) for d in _objects(obj, "devices")))

    def to_obj(self) -> JsonObject:
        return {"devices": [d.to_obj() for d in self.devices]}


@dataclass(frozen=True, slots=True)
class DeviceUpdated:
    """device.set, device.retire, device.restore and device.approve: the device's inventory now."""

    device: str
    name: str | None
    room: str | None
    retired: bool
    approved: bool

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "device"), _opt_str(obj, "name"), _opt_str(obj, "room"), _bool(obj, "retired"),
                   _bool(obj, "approved"))

    def to_obj(self) -> JsonObject:
        return {"device": self.device, "name": self.name, "room": self.room, "retired": self.retired,
                "approved": self.approved}


@dataclass(frozen=True, slots=True)
class DeviceForgotten:
    """device.forget: the device is gone from the inventory and its retained topics are cleared."""

    device: str

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        if obj.get("forgotten") is not True:
            raise _bad("forgotten", "true")
        return cls(_str(obj, "device"))

    def to_obj(self) -> JsonObject:
        return {"device": self.device, "forgotten": True}


# --- counters, check-ins, courses ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatsResult:
    """stats: what the controller received, rejected and did not send, per reason (docs/contract.md)."""

    received: Mapping[str, int]
    rejected: Mapping[str, int]
    checkins: Mapping[str, int]
    unsent: Mapping[str, int]
    connections: int
    broker: Mapping[str, int]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_counts(obj, "received"), _counts(obj, "rejected"), _counts(obj, "checkins"),
                   _counts(obj, "unsent"), _int(obj, "connections"), _counts(obj, "broker"))

    def to_obj(self) -> JsonObject:
        return {"received": dict(self.received), "rejected": dict(self.rejected), "checkins": dict(self.checkins),
                "unsent": dict(self.unsent), "connections": self.connections, "broker": dict(self.broker)}


@dataclass(frozen=True, slots=True)
class CheckinRow:
    student_id: str
    device: str
    seq: int
    station_mac: str | None
    received_at: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "student_id"), _str(obj, "device"), _int(obj, "seq"), _opt_str(obj, "station_mac"),
                   _num(obj, "received_at"))

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "device": self.device, "seq": self.seq,
                "station_mac": self.station_mac, "received_at": self.received_at}


@dataclass(frozen=True, slots=True)
class RejectedRow:
    student_id: str
    device: str
    seq: int
    reason: str
    received_at: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "student_id"), _str(obj, "device"), _int(obj, "seq"), _str(obj, "reason"),
                   _num(obj, "received_at"))

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "device": self.device, "seq": self.seq, "reason": self.reason,
                "received_at": self.received_at}


@dataclass(frozen=True, slots=True)
class AttendanceList:
    """attendance.list: a session's stored check-ins and the rejected ones, with why."""

    session_id: int
    records: tuple[CheckinRow, ...]
    rejected: tuple[RejectedRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_int(obj, "session_id"), tuple(CheckinRow.from_obj(r) for r in _objects(obj, "records")),
                   tuple(RejectedRow.from_obj(r) for r in _objects(obj, "rejected")))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "records": [r.to_obj() for r in self.records],
                "rejected": [r.to_obj() for r in self.rejected]}


@dataclass(frozen=True, slots=True)
class StudentRow:
    student_id: str
    attended: int
    held: int
    percent: float
    flagged: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "student_id"), _int(obj, "attended"), _int(obj, "held"), _num(obj, "percent"),
                   _int(obj, "flagged"))

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "attended": self.attended, "held": self.held,
                "percent": self.percent, "flagged": self.flagged}


@dataclass(frozen=True, slots=True)
class HeldRow:
    session_id: int
    started_at: float
    device: str | None
    present: int
    flagged: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_int(obj, "session_id"), _num(obj, "started_at"), _opt_str(obj, "device"),
                   _int(obj, "present"), _int(obj, "flagged"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "started_at": self.started_at, "device": self.device,
                "present": self.present, "flagged": self.flagged}


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    """attendance.report: per student (attended / held, %, shared-phone check-ins) and per session held."""

    course: str
    session: str
    semester: str
    held: int
    students: tuple[StudentRow, ...]
    sessions: tuple[HeldRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "course"), _str(obj, "session"), _str(obj, "semester"), _int(obj, "held"),
                   tuple(StudentRow.from_obj(s) for s in _objects(obj, "students")),
                   tuple(HeldRow.from_obj(h) for h in _objects(obj, "sessions")))

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "session": self.session, "semester": self.semester, "held": self.held,
                "students": [s.to_obj() for s in self.students], "sessions": [h.to_obj() for h in self.sessions]}


@dataclass(frozen=True, slots=True)
class CourseRow:
    code: str
    title: str

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(_str(obj, "code"), _str(obj, "title"))

    def to_obj(self) -> JsonObject:
        return {"code": self.code, "title": self.title}


@dataclass(frozen=True, slots=True)
class CoursesList:
    """courses.list: every course a session was started for, with its remembered title."""

    courses: tuple[CourseRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(CourseRow.from_obj(c) for c in _objects(obj, "courses")))

    def to_obj(self) -> JsonObject:
        return {"courses": [c.to_obj() for c in self.courses]}
