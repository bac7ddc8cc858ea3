"""The request API's results: one frozen type per method, written by the controller, read by a client.

`to_obj` is the reply's `result` exactly (keys in this order; `schemas/methods/` holds them to it);
`from_obj` is the client's reading of it, raising Rejected("schema") for a result it cannot read.
Numbers keep their JSON type both ways (a time stays whatever the controller sent). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from controller.contract.fields import (
    bad,
    int_map,
    integer,
    number,
    object_list,
    opt_int,
    opt_number,
    opt_text,
    read_config,
    text,
    texts,
)
from controller.contract.messages import Config, JsonObject, boolean

WAIT_STATUSES: Final = frozenset({"applied", "rejected", "pending", "ended"})

# --- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """session.start: the session, the device it was given, and the config published to it."""

    session_id: int
    device: str
    config: Config
    """The config published to `device`; every device of the session has it under its own version."""
    devices: tuple[str, ...]
    """All the devices claimed, `device` first."""
    ends_at: float
    """When the controller will end it."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        config = read_config(obj, "config")
        if config is None:
            raise bad("config", "a config object")
        return cls(integer(obj, "session_id"), text(obj, "device"), config, texts(obj, "devices"),
                   number(obj, "ends_at"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "device": self.device, "config": self.config.to_obj(),
                "devices": list(self.devices), "ends_at": self.ends_at}


@dataclass(frozen=True, slots=True)
class SessionWaited:
    """session.wait: applied, rejected (with the device's error), ended, or pending (timed out)."""

    session_id: int
    status: str
    error: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        status = text(obj, "status")
        if status not in WAIT_STATUSES:
            raise bad("status", f"one of {sorted(WAIT_STATUSES)}")
        return cls(integer(obj, "session_id"), status, opt_text(obj, "error"))

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
        return cls(integer(obj, "session_id"), opt_text(obj, "device"), read_config(obj, "config"))

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
    devices: tuple[str, ...]
    """The devices serving it, `device` first (an ended session: those serving it at its end)."""
    ends_at: float | None
    """When the controller ends it (an ended session: when it was due to; None before migration 0005)."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(
            integer(obj, "session_id"), text(obj, "course"), text(obj, "title"), text(obj, "session"),
            text(obj, "semester"), text(obj, "lecturer"), opt_text(obj, "device"), text(obj, "ssid"),
            boolean(obj, "active"), boolean(obj, "applied"), opt_text(obj, "error"), integer(obj, "config_version"),
            number(obj, "started_at"), opt_number(obj, "ended_at"), opt_text(obj, "room"), integer(obj, "moves"),
            opt_text(obj, "moved_from"), boolean(obj, "degraded"), number(obj, "failover_grace_s"),
            integer(obj, "checkins"), texts(obj, "devices"), opt_number(obj, "ends_at"),
        )

    def to_obj(self) -> JsonObject:
        return {
            "session_id": self.session_id, "course": self.course, "title": self.title, "session": self.session,
            "semester": self.semester, "lecturer": self.lecturer, "device": self.device, "ssid": self.ssid,
            "active": self.active, "applied": self.applied, "error": self.error,
            "config_version": self.config_version, "started_at": self.started_at, "ended_at": self.ended_at,
            "room": self.room, "moves": self.moves, "moved_from": self.moved_from, "degraded": self.degraded,
            "failover_grace_s": self.failover_grace_s, "checkins": self.checkins, "devices": list(self.devices),
            "ends_at": self.ends_at,
        }


@dataclass(frozen=True, slots=True)
class SessionList:
    sessions: tuple[SessionRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(SessionRow.from_obj(s) for s in object_list(obj, "sessions")))

    def to_obj(self) -> JsonObject:
        return {"sessions": [s.to_obj() for s in self.sessions]}


@dataclass(frozen=True, slots=True)
class SessionExtended:
    """session.extend: the session's new end."""

    session_id: int
    ends_at: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "session_id"), number(obj, "ends_at"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "ends_at": self.ends_at}


@dataclass(frozen=True, slots=True)
class SessionScaled:
    """session.scale: the session's devices now (its first device first), those added and those released."""

    session_id: int
    devices: tuple[str, ...]
    added: tuple[str, ...]
    released: tuple[str, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "session_id"), texts(obj, "devices"), texts(obj, "added"), texts(obj, "released"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "devices": list(self.devices), "added": list(self.added),
                "released": list(self.released)}


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
    stations_peak: int | None
    stations_refused: int | None
    checkins_served: int | None
    retired: bool
    approved: bool
    flags: tuple[str, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(
            text(obj, "id"), boolean(obj, "online"), opt_number(obj, "last_seen"), opt_text(obj, "name"),
            opt_text(obj, "ssid"), opt_text(obj, "location"), opt_text(obj, "room"), opt_int(obj, "session_id"),
            opt_int(obj, "config_version"), opt_int(obj, "applied_version"), opt_int(obj, "boot"),
            opt_text(obj, "fw"), opt_int(obj, "rssi"), opt_int(obj, "heap"), opt_int(obj, "uptime_s"),
            opt_int(obj, "stations"), opt_int(obj, "stations_peak"), opt_int(obj, "stations_refused"),
            opt_int(obj, "checkins_served"), boolean(obj, "retired"), boolean(obj, "approved"), texts(obj, "flags"),
        )

    def to_obj(self) -> JsonObject:
        return {
            "id": self.id, "online": self.online, "last_seen": self.last_seen, "name": self.name, "ssid": self.ssid,
            "location": self.location, "room": self.room, "session_id": self.session_id,
            "config_version": self.config_version, "applied_version": self.applied_version, "boot": self.boot,
            "fw": self.fw, "rssi": self.rssi, "heap": self.heap, "uptime_s": self.uptime_s,
            "stations": self.stations, "stations_peak": self.stations_peak, "stations_refused": self.stations_refused,
            "checkins_served": self.checkins_served, "retired": self.retired, "approved": self.approved,
            "flags": list(self.flags),
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
        return cls(integer(obj, "total"), integer(obj, "online"), integer(obj, "offline"), integer(obj, "available"),
                   integer(obj, "matched"), tuple(DeviceRow.from_obj(d) for d in object_list(obj, "devices")))

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
        return cls(DeviceRow.from_obj(obj), opt_number(obj, "first_seen"), opt_text(obj, "operator_name"))

    def to_obj(self) -> JsonObject:
        return self.device.to_obj() | {"first_seen": self.first_seen, "operator_name": self.operator_name}


@dataclass(frozen=True, slots=True)
class DeviceInventory:
    """device.list: every known device, never-seen, retired and unapproved ones included."""

    devices: tuple[InventoryRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(InventoryRow.from_obj(d) for d in object_list(obj, "devices")))

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
        return cls(text(obj, "device"), opt_text(obj, "name"), opt_text(obj, "room"), boolean(obj, "retired"),
                   boolean(obj, "approved"))

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
            raise bad("forgotten", "true")
        return cls(text(obj, "device"))

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
        return cls(int_map(obj, "received"), int_map(obj, "rejected"), int_map(obj, "checkins"),
                   int_map(obj, "unsent"), integer(obj, "connections"), int_map(obj, "broker"))

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
    on_roster: bool | None = None
    """Whether the student is on the course's roster; None: the course has no roster."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        on_roster = obj.get("on_roster")
        if on_roster is not None and type(on_roster) is not bool:
            raise bad("on_roster", "true, false or null")
        return cls(text(obj, "student_id"), text(obj, "device"), integer(obj, "seq"), opt_text(obj, "station_mac"),
                   number(obj, "received_at"), on_roster)

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "device": self.device, "seq": self.seq,
                "station_mac": self.station_mac, "received_at": self.received_at, "on_roster": self.on_roster}


@dataclass(frozen=True, slots=True)
class RejectedRow:
    student_id: str
    device: str
    seq: int
    reason: str
    received_at: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "student_id"), text(obj, "device"), integer(obj, "seq"), text(obj, "reason"),
                   number(obj, "received_at"))

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
        return cls(integer(obj, "session_id"), tuple(CheckinRow.from_obj(r) for r in object_list(obj, "records")),
                   tuple(RejectedRow.from_obj(r) for r in object_list(obj, "rejected")))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "records": [r.to_obj() for r in self.records],
                "rejected": [r.to_obj() for r in self.rejected]}


@dataclass(frozen=True, slots=True)
class CourseRow:
    code: str
    title: str

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "code"), text(obj, "title"))

    def to_obj(self) -> JsonObject:
        return {"code": self.code, "title": self.title}


@dataclass(frozen=True, slots=True)
class CoursesList:
    """courses.list: every course a session was started for, with its remembered title."""

    courses: tuple[CourseRow, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(CourseRow.from_obj(c) for c in object_list(obj, "courses")))

    def to_obj(self) -> JsonObject:
        return {"courses": [c.to_obj() for c in self.courses]}
