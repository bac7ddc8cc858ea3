"""The request API's data: typed params parsed from requests, and result rows built from state.

Pure: no I/O; the controller's shell calls these around its store and registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.contract.messages import COURSE_RE, U32, JsonObject
from controller.contract.topics import valid_device_id
from controller.core.liveness import DeviceLive
from controller.core.naming import check_password
from controller.core.values import (
    CheckinRecord,
    Desired,
    DeviceEntry,
    DeviceInfo,
    RejectedRecord,
    SessionRecord,
    StartRequest,
)
from controller.errors import BadRequest, UnknownSession

MAX_WAIT_S = 60.0
MAX_STORED_ID = 2**31 - 1  # the largest id a database row holds (PostgreSQL integer)
ROOM_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,31}")
# Refused in any text a request carries (titles, names, lecturers), as it lands in configs, SSID
# labels, logs and terminals: control characters, line/paragraph separators, the bidi embeddings,
# overrides and isolates that can make text read as something else (U+202E), and non-characters.
# NBSP, joiners and the plain direction marks (U+200E/F) are fine in names.
FORBIDDEN_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef]")


def clean_text(value: str) -> bool:
    """No character of FORBIDDEN_RE and no non-character (U+FFFE, U+FFFF in any plane)."""
    return FORBIDDEN_RE.search(value) is None and not any(ord(c) & 0xFFFE == 0xFFFE for c in value)


def _get_str(params: Mapping[str, Any], key: str, *, required: bool, hi: int, lo: int = 1) -> str | None:
    value = params.get(key)
    if value is None:
        if required:
            raise BadRequest(f"missing parameter {key!r}")
        return None
    if not isinstance(value, str) or not lo <= len(value) <= hi:
        raise BadRequest(f"{key!r} must be a string of {lo}-{hi} characters")
    if not clean_text(value):
        raise BadRequest(f"{key!r} must not contain control, bidi-override or non-characters")
    return value


def _get_int(params: Mapping[str, Any], key: str, *, required: bool, lo: int = 1, hi: int = U32) -> int | None:
    value = params.get(key)
    if value is None:
        if required:
            raise BadRequest(f"missing parameter {key!r}")
        return None
    if type(value) is not int or not lo <= value <= hi:
        raise BadRequest(f"{key!r} must be an integer in {lo}..{hi}")
    return value


def _get_bool(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if type(value) is not bool:
        raise BadRequest(f"{key!r} must be true or false")
    return value


def parse_start(params: Mapping[str, Any]) -> StartRequest:
    course = _get_str(params, "course", required=True, hi=16) or ""
    if COURSE_RE.fullmatch(course) is None:
        raise BadRequest(f"course code {course!r} must be 1-16 letters, digits, '_' or '-'")
    device = _get_str(params, "device", required=False, hi=32)
    if device is not None and not valid_device_id(device):
        raise BadRequest(f"{device!r} is not a device id")
    return StartRequest(
        course=course,
        title=_get_str(params, "title", required=False, hi=100),
        session=_get_str(params, "session", required=True, hi=16) or "",
        semester=_get_str(params, "semester", required=True, hi=32) or "",
        lecturer=_get_str(params, "lecturer", required=False, hi=64, lo=0) or "",
        password=check_password(_get_str(params, "password", required=False, hi=63, lo=0) or ""),
        device=device,
        room=parse_room(params, required=False),
        any_room=_get_bool(params, "any_room"),
        failover_grace_s=_get_seconds(params, "failover_grace_s", default=60.0, hi=86400.0),
    )


def _get_seconds(params: Mapping[str, Any], key: str, *, default: float, hi: float) -> float:
    value = params.get(key, default)
    if type(value) not in (int, float) or not 0 <= value <= hi:
        raise BadRequest(f"{key!r} must be a number of seconds in 0-{hi:g}")
    return float(value)


def parse_room(params: Mapping[str, Any], *, required: bool) -> str | None:
    room = _get_str(params, "room", required=required, hi=32, lo=0 if not required else 1)
    if room and ROOM_RE.fullmatch(room) is None:
        raise BadRequest(f"room {room!r} must be letters, digits, spaces, '.', '_' or '-'")
    return room


def parse_device(params: Mapping[str, Any]) -> str:
    device = _get_str(params, "device", required=True, hi=32) or ""
    if not valid_device_id(device):
        raise BadRequest(f"{device!r} is not a device id")
    return device


def parse_device_set(params: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(device, name, room); None leaves a field as it is, "" clears it."""
    return parse_device(params), _get_str(params, "name", required=False, hi=64, lo=0), parse_room(params,
                                                                                                 required=False)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    course: str
    session: str
    semester: str


def parse_report(params: Mapping[str, Any]) -> ReportQuery:
    return ReportQuery(_get_str(params, "course", required=True, hi=16) or "",
                       _get_str(params, "session", required=True, hi=16) or "",
                       _get_str(params, "semester", required=True, hi=32) or "")


def parse_session_id(params: Mapping[str, Any]) -> int:
    session_id = _get_int(params, "session_id", required=True) or 0
    if session_id > MAX_STORED_ID:  # a counter by the contract, but no row has such an id
        raise UnknownSession(f"no session {session_id}")
    return session_id


def parse_wait(params: Mapping[str, Any]) -> tuple[int, float]:
    return parse_session_id(params), _get_seconds(params, "timeout_s", default=10.0, hi=MAX_WAIT_S)


@dataclass(frozen=True, slots=True)
class DeviceQuery:
    session_id: int | None = None
    offline_first: bool = False
    limit: int | None = None


def parse_devices(params: Mapping[str, Any]) -> DeviceQuery:
    return DeviceQuery(_get_int(params, "session_id", required=False), _get_bool(params, "offline_first"),
                       _get_int(params, "limit", required=False))


def parse_active(params: Mapping[str, Any]) -> bool:
    return _get_bool(params, "active")


def device_row(device: DeviceLive, desired: Desired | None, info: DeviceInfo, *, online: bool,
               now: float) -> JsonObject:
    session = desired.config.session if desired is not None else None
    reported = device.reported
    heartbeat = device.heartbeat
    return {
        "id": device.device_id,
        "online": online,
        "last_seen": device.last_seen,
        "name": session.device_name if session else info.name,
        "ssid": session.ssid if session else None,
        "location": session.location if session else None,
        "room": info.room,
        "session_id": desired.session_id if desired else None,
        "config_version": desired.config.version if desired else None,
        "applied_version": (reported.config_version if reported and reported.applied else
                            (reported.applied_version if reported else None)),
        "boot": device.boot if device.boot >= 0 else None,
        "fw": device.fw,
        "rssi": heartbeat.rssi if heartbeat else None,
        "heap": heartbeat.heap if heartbeat else None,
        "uptime_s": heartbeat.uptime_s if heartbeat else None,
        "stations": heartbeat.stations if heartbeat else None,
        "retired": info.retired,
        "approved": info.approved,
        "flags": device.flags(now),
    }


_NO_INFO = DeviceInfo()


def devices_result(
    devices: list[DeviceLive], desired: Mapping[str, Desired], online: set[str], busy: Mapping[str, int],
    query: DeviceQuery, inventory: Mapping[str, DeviceInfo], now: float,
) -> JsonObject:
    """The fleet table: totals like the seed's status display, then the (filtered) rows.
    Retired devices are left out of both."""
    devices = [d for d in devices if not inventory.get(d.device_id, _NO_INFO).retired]
    n_online = sum(1 for d in devices if d.device_id in online)
    available = sum(1 for d in devices if d.device_id in online and d.device_id not in busy
                    and inventory.get(d.device_id, _NO_INFO).approved)
    chosen = devices
    if query.session_id is not None:
        chosen = [d for d in chosen if busy.get(d.device_id) == query.session_id]
    key = (lambda d: (d.device_id in online, d.device_id)) if query.offline_first else (lambda d: (False, d.device_id))
    chosen = sorted(chosen, key=key)
    matched = len(chosen)
    if query.limit is not None:
        chosen = chosen[: query.limit]
    return {
        "total": len(devices), "online": n_online, "offline": len(devices) - n_online, "available": available,
        "matched": matched,
        "devices": [device_row(d, desired.get(d.device_id), inventory.get(d.device_id, _NO_INFO),
                               online=d.device_id in online, now=now) for d in chosen],
    }


def inventory_result(devices: Mapping[str, DeviceLive], rows: list[DeviceEntry], desired: Mapping[str, Desired],
                     online: set[str], now: float) -> JsonObject:
    """Every known device, including never-seen, retired and unapproved ones."""
    out = []
    for row in sorted(rows, key=lambda r: r.id):
        live = devices.get(row.id) or DeviceLive(row.id, last_seen=row.last_seen, fw=row.fw)
        out.append(device_row(live, desired.get(row.id), row.info, online=row.id in online, now=now)
                   | {"first_seen": row.first_seen, "operator_name": row.name})
    return {"devices": out}


def session_row(row: SessionRecord, checkins: int) -> JsonObject:
    return {
        "session_id": row.id, "course": row.course_code, "title": row.course_title, "session": row.academic_session,
        "semester": row.semester, "lecturer": row.lecturer, "device": row.device_id, "ssid": row.ssid,
        "active": row.active, "applied": row.applied_at is not None, "error": row.error,
        "config_version": row.config_version, "started_at": row.started_at, "ended_at": row.ended_at,
        "room": row.room, "moves": row.moves, "moved_from": row.moved_from, "degraded": row.degraded,
        "failover_grace_s": row.failover_grace_s, "checkins": checkins,
    }


def attendance_result(session_id: int, records: list[CheckinRecord], rejected: list[RejectedRecord]) -> JsonObject:
    return {
        "session_id": session_id,
        "records": [{"student_id": r.student_id, "device": r.device_id, "seq": r.seq, "station_mac": r.station_mac,
                     "received_at": r.received_at} for r in records],
        "rejected": [{"student_id": r.student_id, "device": r.device_id, "seq": r.seq, "reason": r.reason,
                      "received_at": r.received_at} for r in rejected],
    }
