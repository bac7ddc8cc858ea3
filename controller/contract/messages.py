"""Message codecs of the MQTT contract v1: frozen values, strict decoders, compact encoders.

Decoders check exactly what `schemas/` requires (tests hold the two together) and raise
`Rejected(reason)` on anything else; they are written by hand because they sit on the heartbeat
hot path. Unknown fields are ignored.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, NamedTuple, TypeAlias, TypeGuard

from controller.errors import Rejected

MAX_DEVICE_PAYLOAD: Final = 1024
MAX_REQUEST_PAYLOAD: Final = 8192
MAX_PACKET_SIZE: Final = 16 * 1024 * 1024
"""Remaining length + 1 of the largest packet a client may send (Mosquitto 2.0.11 measures it so):
the generated broker profiles' `max_packet_size`, and the controller's own limit. The controller's
largest replies are the biggest packets: devices.list of 10,000 devices is 3.5 MB, 6.7 MB with
every text field at its longest. Device messages are ≤ 1 KB, requests ≤ 8 KB; Mosquitto has one
value for every client, so it must fit the controller."""
MAX_REQUEST_READ: Final = 65536
"""A request larger than MAX_REQUEST_PAYLOAD but within this is still read, to answer it `bad_request`."""
REQUEST_ID_RE: Final = re.compile(r"[!-~]{1,64}")
U32: Final = 4_294_967_295
AP_SLOTS: Final = 10
"""Phones a device's access point serves at once (the firmware's `kApMaxConnections`): a heartbeat's
`stations` counts them."""
SSID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")
COURSE_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,16}")
STUDENT_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9/._-]{0,31}")
MAC_RE: Final = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
MAX_EVENTS: Final = 32

JsonObject: TypeAlias = dict[str, Any]
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate keys")  # the firmware's parser would take the first, Python the last
    return obj


# strict: UTF-8 text, no NaN/Infinity, no duplicate keys
_loads = json.JSONDecoder(parse_constant=_no_constant, object_pairs_hook=_unique_keys).decode


MAX_JSON_DEPTH: Final = 512
"""Arrays and objects nested deeper than this (the outer object is level 1) are bad_json, whatever
the interpreter's recursion limit, which the parser's own limit followed: the outcome between 500
and ~1000 levels used to depend on the thread's stack and on whoever had raised the limit."""
_JSON_TOKENS: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str) -> bool:
    """Nesting past MAX_JSON_DEPTH; counted only when the text has that many brackets at all (a
    count in C), brackets inside strings skipped."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _loads_text(text: str) -> Any:
    if _too_deep(text):
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    obj = _loads(text)
    if "\\u" in text:  # an escape may spell a lone surrogate, which no UTF-8 text (or database) can hold
        _dumps(obj).encode()
    return obj


def encode(obj: Mapping[str, object]) -> bytes:
    return _dumps(obj).encode()


# --- field readers -------------------------------------------------------------------------------


def load_object(
    payload: bytes | bytearray, *, max_bytes: int = MAX_DEVICE_PAYLOAD, device_id: str | None = None
) -> JsonObject:
    """Bytes → a v1 JSON object, or Rejected; `device_id` checks an `id` field against the topic."""
    if len(payload) > max_bytes:
        raise Rejected("too_large", f"{len(payload)} bytes")
    try:
        obj = _loads_text(payload.decode())
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Rejected("bad_json", str(exc)[:80]) from exc
    if type(obj) is not dict:
        raise Rejected("not_object", type(obj).__name__)
    version = obj.get("v")
    if version != 1 or type(version) is not int:
        raise Rejected("bad_version" if "v" in obj else "schema", f"v={version!r}"[:40])
    if device_id is not None and "id" in obj and obj["id"] != device_id:
        raise Rejected("id_mismatch", f"payload id {str(obj['id'])[:40]!r} on topic of {device_id}")
    return obj


def is_int(value: object, lo: int, hi: int) -> TypeGuard[int]:
    """A JSON integer (never a bool or a float) in lo..hi: the contract's rule for every integer field."""
    return type(value) is int and lo <= value <= hi


def is_text(value: object, lo: int, hi: int) -> TypeGuard[str]:
    """A string of lo..hi characters: the contract's rule for every text field, before its pattern."""
    return type(value) is str and lo <= len(value) <= hi


def _int(obj: Mapping[str, Any], key: str, *, lo: int = 0, hi: int = U32) -> int:
    value = obj.get(key)
    if not is_int(value, lo, hi):
        raise Rejected("schema", f"{key} must be an integer in {lo}..{hi}")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, *, lo: int = 0, hi: int = U32) -> int | None:
    return None if key not in obj else _int(obj, key, lo=lo, hi=hi)


def boolean(obj: Mapping[str, Any], key: str) -> bool:
    """A JSON true or false: the contract's rule for a boolean field (results read theirs with it too)."""
    value = obj.get(key)
    if type(value) is not bool:
        raise Rejected("schema", f"{key} must be true or false")
    return value


def _str(obj: Mapping[str, Any], key: str, *, lo: int = 1, hi: int = 64, pattern: re.Pattern[str] | None = None) -> str:
    value = obj.get(key)
    if not is_text(value, lo, hi):
        raise Rejected("schema", f"{key} must be a string of {lo}..{hi} characters")
    if pattern is not None and pattern.fullmatch(value) is None:
        raise Rejected("schema", f"{key} has a bad format")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, *, hi: int = 64) -> str | None:
    return None if key not in obj else _str(obj, key, lo=0, hi=hi)


def drop_none(obj: JsonObject) -> JsonObject:
    """`obj` without its None values: how an optional field is left out of a message or params."""
    return {k: v for k, v in obj.items() if v is not None}


# --- device → controller -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    online: bool
    boot: int
    fw: str | None = None
    ip: str | None = None
    reason: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Status:
        return cls(
            boolean(obj, "online"), _int(obj, "boot"), _opt_str(obj, "fw", hi=32), _opt_str(obj, "ip", hi=45),
            _opt_str(obj, "reason", hi=32),
        )

    def to_obj(self, device_id: str | None = None) -> JsonObject:
        return drop_none({"v": 1, "id": device_id, "online": self.online, "boot": self.boot, "fw": self.fw,
                           "ip": self.ip, "reason": self.reason})


class Heartbeat(NamedTuple):  # a tuple: built for every heartbeat, at a third of a frozen dataclass's cost
    boot: int
    uptime_s: int
    rssi: int | None = None
    heap: int | None = None
    fw: str | None = None
    config_version: int | None = None
    stations: int | None = None
    queued: int | None = None
    stations_peak: int | None = None
    stations_refused: int | None = None
    checkins_served: int | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Heartbeat:
        return cls(
            _int(obj, "boot"), _int(obj, "uptime_s"), _opt_int(obj, "rssi", lo=-128, hi=0), _opt_int(obj, "heap"),
            _opt_str(obj, "fw", hi=32), _opt_int(obj, "config_version"), _opt_int(obj, "stations"),
            _opt_int(obj, "queued"), _opt_int(obj, "stations_peak"), _opt_int(obj, "stations_refused"),
            _opt_int(obj, "checkins_served"),
        )

    def to_obj(self, device_id: str | None = None) -> JsonObject:
        return drop_none({"v": 1, "id": device_id, "boot": self.boot, "uptime_s": self.uptime_s, "rssi": self.rssi,
                           "heap": self.heap, "fw": self.fw, "config_version": self.config_version,
                           "stations": self.stations, "queued": self.queued, "stations_peak": self.stations_peak,
                           "stations_refused": self.stations_refused, "checkins_served": self.checkins_served})


# The firmware (cJSON, fields in a fixed order, no spaces) and the simulator write every heartbeat in
# one canonical layout. A payload that matches it whole has every field present at most once, in
# range of its pattern, with no escapes, so one C-speed match validates it; counters are then only
# checked against U32. Anything else (another order, spaces, escapes, non-ASCII) takes the general
# path, which decides; tests hold the two paths to the same verdicts.
_COUNTER = rb"(0|[1-9][0-9]{0,9})"
_CANONICAL_HEARTBEAT = re.compile(
    rb'\{"v":1(?:,"id":"([a-z0-9-]{1,64})")?,"boot":' + _COUNTER + rb',"uptime_s":' + _COUNTER
    + rb'(?:,"rssi":(0|-[1-9][0-9]{0,2}))?(?:,"heap":' + _COUNTER + rb')?(?:,"fw":"([ !#-\[\]-~]{0,32})")?'
    + rb'(?:,"config_version":' + _COUNTER + rb')?(?:,"stations":' + _COUNTER + rb')?(?:,"queued":'
    + _COUNTER + rb')?(?:,"stations_peak":' + _COUNTER + rb')?(?:,"stations_refused":' + _COUNTER
    + rb')?(?:,"checkins_served":' + _COUNTER + rb')?\}'
)


def _opt(group: bytes | None) -> int | None:
    return None if group is None else int(group)


def decode_heartbeat(payload: bytes | bytearray, device_id: str) -> Heartbeat:
    """A heartbeat from `device_id`'s topic, or Rejected: the canonical layout quickly, anything else
    through `load_object` + `Heartbeat.from_obj`."""
    m = _CANONICAL_HEARTBEAT.fullmatch(payload)
    if m is not None and (m[1] is None or m[1].decode() == device_id):
        boot, uptime, rssi, heap, fw, version, *slots = m.groups()[1:]
        required = (int(boot), int(uptime))
        counters = (_opt(heap), _opt(version), *map(_opt, slots))
        if max(*required, *(c or 0 for c in counters)) <= U32 and (rssi is None or int(rssi) >= -128):
            firmware = None if fw is None else sys.intern(fw.decode())  # a fleet runs a few versions
            return Heartbeat(*required, _opt(rssi), counters[0], firmware, *counters[1:])
    return Heartbeat.from_obj(load_object(payload, device_id=device_id))


@dataclass(frozen=True, slots=True)
class State:
    config_version: int
    result: str  # "applied" | "rejected"
    active_session: bool | None = None
    session_id: int | None = None
    ssid: str | None = None
    error: str | None = None
    applied_version: int | None = None

    @property
    def applied(self) -> bool:
        return self.result == "applied"

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> State:
        version = _int(obj, "config_version")
        result = obj.get("result")
        applied_version = _opt_int(obj, "applied_version")
        if result == "rejected":
            return cls(version, "rejected", error=_str(obj, "error", hi=128), applied_version=applied_version)
        if result != "applied":
            raise Rejected("schema", "result must be applied or rejected")
        active = boolean(obj, "active_session")
        if not active:
            return cls(version, "applied", False, applied_version=applied_version)
        return cls(version, "applied", True, _int(obj, "session_id", lo=1), _str(obj, "ssid", hi=32, pattern=SSID_RE),
                   applied_version=applied_version)

    def to_obj(self, device_id: str | None = None) -> JsonObject:
        return drop_none({"v": 1, "id": device_id, "config_version": self.config_version, "result": self.result,
                           "active_session": self.active_session, "session_id": self.session_id, "ssid": self.ssid,
                           "error": self.error, "applied_version": self.applied_version})


@dataclass(frozen=True, slots=True)
class CheckinEvent:
    seq: int
    student_id: str
    station_mac: str | None = None
    uptime_ms: int | None = None

    @property
    def student_id_ok(self) -> bool:
        return STUDENT_ID_RE.fullmatch(self.student_id) is not None

    @classmethod
    def from_obj(cls, obj: object) -> CheckinEvent:
        if type(obj) is not dict:
            raise Rejected("schema", "an event must be an object")
        mac = _opt_str(obj, "station_mac", hi=17)
        if mac is not None and MAC_RE.fullmatch(mac) is None:
            raise Rejected("schema", "station_mac has a bad format")
        return cls(_int(obj, "seq", lo=1), _str(obj, "student_id"), mac, _opt_int(obj, "uptime_ms"))

    def to_obj(self) -> JsonObject:
        return drop_none({"seq": self.seq, "student_id": self.student_id, "station_mac": self.station_mac,
                           "uptime_ms": self.uptime_ms})


@dataclass(frozen=True, slots=True)
class Attendance:
    session_id: int
    events: tuple[CheckinEvent, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Attendance:
        events = obj.get("events")
        if type(events) is not list or not 1 <= len(events) <= MAX_EVENTS:
            raise Rejected("schema", f"events must be a list of 1..{MAX_EVENTS}")
        return cls(_int(obj, "session_id", lo=1), tuple(CheckinEvent.from_obj(e) for e in events))

    def to_obj(self, device_id: str | None = None) -> JsonObject:
        return drop_none({"v": 1, "id": device_id, "session_id": self.session_id,
                           "events": [e.to_obj() for e in self.events]})


# --- controller → device -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What an active config says about its session; the version is added when it is published."""

    session_id: int
    course_code: str
    course_title: str
    session: str
    semester: str
    lecturer: str
    device_id: str  # the seed's device label, e.g. ESP32_CS101_2024_2025_1st_Semester
    device_name: str
    ssid: str
    password: str
    location: str


@dataclass(frozen=True, slots=True)
class Config:
    """A desired config: active when `session` is set, idle otherwise."""

    version: int
    session: SessionConfig | None = None

    @property
    def active(self) -> bool:
        return self.session is not None

    def to_obj(self) -> JsonObject:
        if self.session is None:
            return {"v": 1, "version": self.version, "active_session": False}
        s = self.session
        return {"v": 1, "version": self.version, "active_session": True, "session_id": s.session_id,
                "course_code": s.course_code, "course_title": s.course_title, "session": s.session,
                "semester": s.semester, "lecturer": s.lecturer, "device_id": s.device_id,
                "device_name": s.device_name, "ssid": s.ssid, "password": s.password, "location": s.location}

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Config:
        version = _int(obj, "version", lo=1)
        if not boolean(obj, "active_session"):
            return cls(version)
        password = _str(obj, "password", lo=0, hi=63)
        if password and (len(password) < 8 or not password.isascii() or not password.isprintable()):
            raise Rejected("schema", "password must be empty or 8..63 printable ASCII characters")
        return cls(version, SessionConfig(
            _int(obj, "session_id", lo=1), _str(obj, "course_code", hi=16, pattern=COURSE_RE),
            _str(obj, "course_title", hi=100), _str(obj, "session", hi=16), _str(obj, "semester", hi=32),
            _str(obj, "lecturer", lo=0, hi=64), _str(obj, "device_id", hi=96), _str(obj, "device_name", hi=128),
            _str(obj, "ssid", hi=32, pattern=SSID_RE), password, _str(obj, "location", hi=128),
        ))


def ack(upto: int) -> JsonObject:
    return {"v": 1, "upto": upto}


class ControllerRole(Enum):
    """What a controller on the presence topic is (`controller_status.role`)."""

    LEADER = "leader"
    """It acts alone: the only controller, or the lease holder of several (active/standby)."""
    STANDBY = "standby"
    """It stopped acting (it lost the lease) and another has not said yet that it leads."""
    SHARED = "shared"
    """One of several acting controllers splitting the work through shared subscriptions."""


def controller_status(controller_id: str, online: bool, version: str, reason: str | None = None,
                      role: ControllerRole | None = None) -> JsonObject:
    return drop_none({"v": 1, "online": online, "controller_id": controller_id, "version": version,
                       "reason": reason, "role": role.value if role is not None else None})


# --- CLI ↔ controller ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    reply_to: str
    method: str
    params: Mapping[str, Any]
    sender: str = ""
    """The user level of the requests topic it came on (`Topics.request_sender`), never read from
    the payload; empty in a request being built to send."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any], *, sender: str = "") -> Request:
        request_id, reply_to = reply_address(obj)
        params = obj.get("params", {})
        if type(params) is not dict:
            raise Rejected("schema", "params must be an object")
        return cls(request_id, reply_to, _str(obj, "method", hi=32), params, sender)

    def to_obj(self) -> JsonObject:
        return {"v": 1, "id": self.id, "reply_to": self.reply_to, "method": self.method, "params": dict(self.params)}


def reply_address(obj: Mapping[str, Any]) -> tuple[str, str]:
    """A request's `(id, reply_to)`, checked first: with them any later fault can be answered.
    Rejected when either is unusable (the request then cannot be answered at all)."""
    request_id = obj.get("id")
    if type(request_id) is not str or REQUEST_ID_RE.fullmatch(request_id) is None:
        raise Rejected("bad_request_id", "id must be 1..64 printable ASCII characters")
    reply_to = obj.get("reply_to")
    if type(reply_to) is not str or not 1 <= len(reply_to) <= 256:
        raise Rejected("bad_reply_to", "reply_to must be a topic of 1..256 characters")
    return request_id, reply_to


def reply_ok(request_id: str, result: Mapping[str, object]) -> JsonObject:
    return {"v": 1, "id": request_id, "ok": True, "result": dict(result)}


def reply_error(request_id: str, code: str, message: str) -> JsonObject:
    return {"v": 1, "id": request_id, "ok": False, "error": {"code": code, "message": message}}
