"""The request API's params: one frozen type per method, read from a request and written by a client.

`from_obj` is the controller's check of a request's params (`schemas/methods/` says the same in
JSON Schema): it raises BadRequest with the message the client sees, or UnknownSession for a session
id past what the database can hold. `to_obj` is the client's side. `METHODS` names every method with
its params and result types (`controller.contract.results`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, Self, TypeVar

from controller.contract.firmware import FirmwareAdded, FirmwareAddParams, FirmwareList
from controller.contract.messages import (
    JsonObject,
    drop_none,
)
from controller.contract.readers import ROOM_RE, check_course
from controller.contract.readers import flag as _bool
from controller.contract.readers import missing as _missing
from controller.contract.readers import opt_int as _opt_int
from controller.contract.readers import opt_str as _opt_str
from controller.contract.readers import required_str as _str
from controller.contract.readers import seconds as _seconds
from controller.contract.readers import session_id as _session_id
from controller.contract.report import AttendanceReport
from controller.contract.results import (
    AttendanceList,
    CoursesList,
    DeviceForgotten,
    DeviceInventory,
    DevicesList,
    DeviceUpdated,
    SessionEnded,
    SessionExtended,
    SessionList,
    SessionScaled,
    SessionStarted,
    SessionWaited,
    StatsResult,
)
from controller.contract.rollouts import (
    RolloutChanged,
    RolloutList,
    RolloutParams,
    RolloutStartParams,
    RolloutStatus,
    RolloutStatusParams,
)
from controller.contract.rosters import (
    AttendanceMarked,
    AttendanceMarkParams,
    CourseParams,
    CourseSetParams,
    CourseUpdated,
    RosterImported,
    RosterImportParams,
    RosterList,
)
from controller.contract.session_detail import SessionShown
from controller.contract.timetable import (
    TimetableImported,
    TimetableImportParams,
    TimetableList,
    TimetableListParams,
    TimetableRemoved,
    TimetableRemoveParams,
)
from controller.contract.topics import valid_device_id
from controller.errors import BadRequest

MAX_WAIT_S: Final = 60.0
MAX_GRACE_S: Final = 86400.0
MAX_STUDENTS: Final = 1000
MAX_SESSION_DEVICES: Final = 10
MAX_LENGTH_S: Final = 7 * 86400.0  # a session's length or extension, before the controller's own --max-session
MAX_EPOCH_S: Final = 2**33  # 2242: far enough for any `until`, near enough to refuse nonsense


def check_password(password: str) -> str:
    """A Wi-Fi password: empty (an open network) or a WPA2 passphrase of 8-63 printable ASCII characters."""
    if password and not 8 <= len(password) <= 63:
        raise BadRequest("password must be empty (open network) or 8-63 characters")
    if not password.isascii() or not password.isprintable():
        raise BadRequest("password must be printable ASCII")
    return password


def _opt_number(params: Mapping[str, Any], key: str, *, lo: float, hi: float) -> float | None:
    """An optional number in lo..hi (seconds, or a time as epoch seconds)."""
    value = params.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not lo <= value <= hi:
        raise BadRequest(f"{key!r} must be a number in {lo:g}..{hi:g}")
    return float(value)


def _end(params: Mapping[str, Any], length: str) -> tuple[float | None, float | None]:
    """`until` (epoch seconds) or the `length` key (seconds), not both."""
    until = _opt_number(params, "until", lo=0, hi=MAX_EPOCH_S)
    seconds = _opt_number(params, length, lo=-MAX_LENGTH_S if length == "by_s" else 1, hi=MAX_LENGTH_S)
    if until is not None and seconds is not None:
        raise BadRequest(f"give either 'until' or {length!r}, not both")
    return until, seconds


def _device(params: Mapping[str, Any], *, required: bool) -> str | None:
    device = _str(params, "device", hi=32) if required else _opt_str(params, "device", hi=32)
    if device is not None and not valid_device_id(device):
        raise BadRequest(f"{device!r} is not a device id")
    return device


def _room(params: Mapping[str, Any]) -> str | None:
    """An optional room; "" (clear it, in device.set) passes."""
    room = _opt_str(params, "room", hi=32, lo=0)
    if room and ROOM_RE.fullmatch(room) is None:
        raise BadRequest(f"room {room!r} must be letters, digits, spaces, '.', '_' or '-'")
    return room


# --- one params type per method ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionStartParams:
    """session.start: a session of a course, on a given device, in a room, or on the freshest free device."""

    course: str
    title: str | None
    session: str
    semester: str
    lecturer: str = ""
    password: str = ""
    device: str | None = None
    room: str | None = None
    any_room: bool = False
    failover_grace_s: float = 60.0
    students: int | None = None
    """Claim the devices `core.capacity.devices_for` gives for this many students (not with `devices`)."""
    devices: int | None = None
    """Claim this many devices (not with `students`); neither: one."""
    anyway: bool = False
    """With too few free devices for `students`/`devices`: start on those that are free."""
    until: float | None = None
    """End the session then (epoch seconds; not with `duration_s`); neither: its course's usual length."""
    duration_s: float | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        course = check_course(_str(params, "course", hi=16))
        until, duration_s = _end(params, "duration_s")
        device = _device(params, required=False)
        students = _opt_int(params, "students", hi=MAX_STUDENTS)
        devices = _opt_int(params, "devices", hi=MAX_SESSION_DEVICES)
        if students is not None and devices is not None:
            raise BadRequest("give either 'students' or 'devices', not both")
        if device is not None and (students is not None or devices is not None):
            raise BadRequest("'device' names the one device: leave out 'students' and 'devices'")
        return cls(
            course=course, title=_opt_str(params, "title", hi=100), session=_str(params, "session", hi=16),
            semester=_str(params, "semester", hi=32), lecturer=_opt_str(params, "lecturer", hi=64, lo=0) or "",
            password=check_password(_opt_str(params, "password", hi=63, lo=0) or ""), device=device,
            room=_room(params), any_room=_bool(params, "any_room"),
            failover_grace_s=_seconds(params, "failover_grace_s", default=60.0, hi=MAX_GRACE_S),
            students=students, devices=devices, anyway=_bool(params, "anyway"), until=until, duration_s=duration_s,
        )

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "session": self.session, "semester": self.semester, "lecturer": self.lecturer,
                "password": self.password, "failover_grace_s": self.failover_grace_s, "any_room": self.any_room,
                **drop_none({"title": self.title, "device": self.device, "room": self.room,
                              "students": self.students, "devices": self.devices, "until": self.until,
                              "duration_s": self.duration_s}),
                **({"anyway": True} if self.anyway else {})}


@dataclass(frozen=True, slots=True)
class SessionWaitParams:
    """session.wait: answered when the session's device reports, or `timeout_s` from now (pending)."""

    session_id: int
    timeout_s: float = 10.0

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_session_id(params), _seconds(params, "timeout_s", default=10.0, hi=MAX_WAIT_S))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "timeout_s": self.timeout_s}


@dataclass(frozen=True, slots=True)
class SessionParams:
    """session.end, session.show and attendance.list: one session."""

    session_id: int

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_session_id(params))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id}


@dataclass(frozen=True, slots=True)
class SessionScaleParams:
    """session.scale: give a running session this many devices (claim free ones in its room, or release)."""

    session_id: int
    devices: int
    anyway: bool = False
    """With too few free devices: add those that are free."""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        devices = _opt_int(params, "devices", hi=MAX_SESSION_DEVICES)
        if devices is None:
            raise _missing("devices")
        return cls(_session_id(params), devices, _bool(params, "anyway"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "devices": self.devices, **({"anyway": True} if self.anyway else {})}


@dataclass(frozen=True, slots=True)
class SessionExtendParams:
    """session.extend: move a running session's end by `by_s` (negative: sooner) or to `until`."""

    session_id: int
    by_s: float | None = None
    until: float | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        until, by_s = _end(params, "by_s")
        if until is None and by_s is None:
            raise BadRequest("give 'by_s' or 'until'")
        return cls(_session_id(params), by_s, until)

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, **drop_none({"by_s": self.by_s, "until": self.until})}


@dataclass(frozen=True, slots=True)
class SessionListParams:
    active: bool = False
    """Only sessions that have not ended."""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_bool(params, "active"))

    def to_obj(self) -> JsonObject:
        return {"active": self.active}


@dataclass(frozen=True, slots=True)
class DevicesListParams:
    """devices.list: the device of one session, offline devices first, at most `limit` rows."""

    session_id: int | None = None
    offline_first: bool = False
    limit: int | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_opt_int(params, "session_id"), _bool(params, "offline_first"), _opt_int(params, "limit"))

    def to_obj(self) -> JsonObject:
        return {"offline_first": self.offline_first, **drop_none({"session_id": self.session_id,
                                                                   "limit": self.limit})}


@dataclass(frozen=True, slots=True)
class NoParams:
    """stats, courses.list, device.list, firmware.list and rollout.list take no params (any given are ignored)."""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls()

    def to_obj(self) -> JsonObject:
        return {}


@dataclass(frozen=True, slots=True)
class AttendanceReportParams:
    """attendance.report: a course over one academic session and semester; a student is warned under
    `threshold` percent or after `consecutive` absences in a row."""

    course: str
    session: str
    semester: str
    threshold: float = 75.0
    consecutive: int = 3

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        threshold = params.get("threshold", 75.0)
        if type(threshold) not in (int, float) or not 0 <= threshold <= 100:
            raise BadRequest("'threshold' must be a percentage in 0-100")
        return cls(_str(params, "course", hi=16), _str(params, "session", hi=16), _str(params, "semester", hi=32),
                   float(threshold), _opt_int(params, "consecutive", hi=1000) or 3)

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "session": self.session, "semester": self.semester,
                "threshold": self.threshold, "consecutive": self.consecutive}


@dataclass(frozen=True, slots=True)
class DeviceParams:
    """device.retire, device.restore, device.approve and device.forget: one device."""

    device: str

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_device(params, required=True) or "")

    def to_obj(self) -> JsonObject:
        return {"device": self.device}


@dataclass(frozen=True, slots=True)
class DeviceSetParams:
    """device.set: None leaves a field as it is, "" clears it."""

    device: str
    name: str | None = None
    room: str | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(_device(params, required=True) or "", _opt_str(params, "name", hi=64, lo=0), _room(params))

    def to_obj(self) -> JsonObject:
        return {"device": self.device, **drop_none({"name": self.name, "room": self.room})}


# --- the registry --------------------------------------------------------------------------------


class Wire(Protocol):
    """A params or result type: read from and written to a JSON object."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self: ...

    def to_obj(self) -> JsonObject: ...


P = TypeVar("P", bound=Wire)
R = TypeVar("R", bound=Wire)


@dataclass(frozen=True, slots=True)
class Method(Generic[P, R]):
    name: str
    params: type[P]
    result: type[R]


SESSION_START: Final = Method("session.start", SessionStartParams, SessionStarted)
SESSION_WAIT: Final = Method("session.wait", SessionWaitParams, SessionWaited)
SESSION_END: Final = Method("session.end", SessionParams, SessionEnded)
SESSION_SCALE: Final = Method("session.scale", SessionScaleParams, SessionScaled)
SESSION_SHOW: Final = Method("session.show", SessionParams, SessionShown)
SESSION_EXTEND: Final = Method("session.extend", SessionExtendParams, SessionExtended)
SESSION_LIST: Final = Method("session.list", SessionListParams, SessionList)
DEVICES_LIST: Final = Method("devices.list", DevicesListParams, DevicesList)
STATS: Final = Method("stats", NoParams, StatsResult)
ATTENDANCE_LIST: Final = Method("attendance.list", SessionParams, AttendanceList)
ATTENDANCE_REPORT: Final = Method("attendance.report", AttendanceReportParams, AttendanceReport)
COURSES_LIST: Final = Method("courses.list", NoParams, CoursesList)
DEVICE_LIST: Final = Method("device.list", NoParams, DeviceInventory)
DEVICE_SET: Final = Method("device.set", DeviceSetParams, DeviceUpdated)
DEVICE_RETIRE: Final = Method("device.retire", DeviceParams, DeviceUpdated)
DEVICE_RESTORE: Final = Method("device.restore", DeviceParams, DeviceUpdated)
DEVICE_APPROVE: Final = Method("device.approve", DeviceParams, DeviceUpdated)
DEVICE_FORGET: Final = Method("device.forget", DeviceParams, DeviceForgotten)
ROSTER_IMPORT: Final = Method("roster.import", RosterImportParams, RosterImported)
ROSTER_LIST: Final = Method("roster.list", CourseParams, RosterList)
COURSE_SET: Final = Method("course.set", CourseSetParams, CourseUpdated)
ATTENDANCE_MARK: Final = Method("attendance.mark", AttendanceMarkParams, AttendanceMarked)

TIMETABLE_IMPORT: Final = Method("timetable.import", TimetableImportParams, TimetableImported)
TIMETABLE_LIST: Final = Method("timetable.list", TimetableListParams, TimetableList)
TIMETABLE_REMOVE: Final = Method("timetable.remove", TimetableRemoveParams, TimetableRemoved)

FIRMWARE_ADD: Final = Method("firmware.add", FirmwareAddParams, FirmwareAdded)
FIRMWARE_LIST: Final = Method("firmware.list", NoParams, FirmwareList)

ROLLOUT_START: Final = Method("rollout.start", RolloutStartParams, RolloutStatus)
ROLLOUT_STATUS: Final = Method("rollout.status", RolloutStatusParams, RolloutStatus)
ROLLOUT_LIST: Final = Method("rollout.list", NoParams, RolloutList)
ROLLOUT_PAUSE: Final = Method("rollout.pause", RolloutParams, RolloutChanged)
ROLLOUT_RESUME: Final = Method("rollout.resume", RolloutParams, RolloutChanged)
ROLLOUT_ABORT: Final = Method("rollout.abort", RolloutParams, RolloutChanged)

METHODS: Final[Mapping[str, Method[Any, Any]]] = {m.name: m for m in (
    SESSION_START, SESSION_WAIT, SESSION_END, SESSION_SCALE, SESSION_SHOW, SESSION_EXTEND, SESSION_LIST,
    DEVICES_LIST, STATS, ATTENDANCE_LIST, ATTENDANCE_REPORT, ATTENDANCE_MARK, COURSES_LIST, COURSE_SET,
    ROSTER_IMPORT, ROSTER_LIST, DEVICE_LIST, DEVICE_SET, DEVICE_RETIRE, DEVICE_RESTORE, DEVICE_APPROVE,
    DEVICE_FORGET, TIMETABLE_IMPORT, TIMETABLE_LIST, TIMETABLE_REMOVE, FIRMWARE_ADD, FIRMWARE_LIST, ROLLOUT_START,
    ROLLOUT_STATUS, ROLLOUT_LIST, ROLLOUT_PAUSE, ROLLOUT_RESUME, ROLLOUT_ABORT)}
"""Every method of the request API, by name, with its params and result types."""
