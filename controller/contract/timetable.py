"""The timetable's part of the request API: a `Series` of lectures (one timetabled event and the
start of each of its occurrences), the params of `timetable.import`, `.list` and `.remove`, and their
results. `split_import` cuts a big import into requests under the payload limit. Pure: no I/O.

A series is upserted by its uid: its lectures that have not started are replaced by the given ones,
those started or over are kept. A lecture's `state` is the scheduler's: `scheduled` until it starts
one, then `started`, `no_device` (retried until its end), `ended` or `missed`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, Self

from controller.contract.fields import bad, integer, object_list, opt_int, opt_text, text
from controller.contract.messages import MAX_REQUEST_PAYLOAD, U32, JsonObject, drop_none, is_int
from controller.contract.readers import ROOM_RE, check_course, missing, opt_str, required_str
from controller.contract.readers import opt_int as read_opt_int
from controller.errors import BadRequest

MAX_UID: Final = 255
MAX_STARTS: Final = 400
"""Occurrences of one series in one request (a year of a lecture four times a week fits)."""
MAX_DURATION_S: Final = 12 * 3600
ENVELOPE_ALLOWANCE: Final = 1024
"""Bytes of a request besides its params: id, reply topic, method, protocol version."""
LECTURE_STATES: Final = frozenset({"scheduled", "started", "no_device", "ended", "missed"})
WAITING: Final = ("scheduled", "no_device")
"""States of a lecture the scheduler has still to start a session for."""


def check_room(room: str) -> str:
    if ROOM_RE.fullmatch(room) is None:
        raise BadRequest(f"room {room[:40]!r} must be letters, digits, spaces, '.', '_' or '-' (1-32)")
    return room


@dataclass(frozen=True, slots=True)
class Series:
    """One timetabled event: a course's lectures in one room, each `duration_s` long, starting at
    `starts` (UTC epoch seconds, ascending: read in any order)."""

    uid: str
    course: str
    title: str
    room: str
    lecturer: str
    duration_s: int
    starts: tuple[int, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        starts = obj.get("starts")
        if type(starts) is not list or not 1 <= len(starts) <= MAX_STARTS or not all(is_int(t, 0, U32) for t in starts):
            raise BadRequest(f"'starts' must be a list of 1-{MAX_STARTS} epoch seconds")
        if len(set(starts)) != len(starts):
            raise BadRequest("'starts' must name each start once")
        duration = read_opt_int(obj, "duration_s", lo=60, hi=MAX_DURATION_S)
        if duration is None:
            raise missing("duration_s")
        return cls(required_str(obj, "uid", hi=MAX_UID), check_course(required_str(obj, "course", hi=16)),
                   required_str(obj, "title", hi=100), check_room(required_str(obj, "room", hi=32)),
                   opt_str(obj, "lecturer", hi=64, lo=0) or "", duration, tuple(sorted(starts)))

    def to_obj(self) -> JsonObject:
        return {"uid": self.uid, "course": self.course, "title": self.title, "room": self.room,
                "lecturer": self.lecturer, "duration_s": self.duration_s, "starts": list(self.starts)}


@dataclass(frozen=True, slots=True)
class TimetableImportParams:
    """timetable.import: series of one academic session and semester, each upserted by its uid in turn
    (a uid given twice: the last one given wins)."""

    session: str
    semester: str
    series: tuple[Series, ...]

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        items = params.get("series")
        if type(items) is not list or not items or any(type(item) is not dict for item in items):
            raise BadRequest("'series' must be a non-empty list of objects")
        series = tuple(Series.from_obj(item) for item in items)
        return cls(required_str(params, "session", hi=16), required_str(params, "semester", hi=32), series)

    def to_obj(self) -> JsonObject:
        return {"session": self.session, "semester": self.semester, "series": [s.to_obj() for s in self.series]}


@dataclass(frozen=True, slots=True)
class TimetableListParams:
    """timetable.list: lectures that end after `from` and start before `to`, of one course or all."""

    from_: int | None = None
    to: int | None = None
    course: str | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        course = opt_str(params, "course", hi=16)
        return cls(read_opt_int(params, "from", lo=0), read_opt_int(params, "to", lo=0),
                   None if course is None else check_course(course))

    def to_obj(self) -> JsonObject:
        return drop_none({"from": self.from_, "to": self.to, "course": self.course})


@dataclass(frozen=True, slots=True)
class TimetableRemoveParams:
    """timetable.remove: the lectures not yet started of one series (`uid`) or of a course."""

    uid: str | None = None
    course: str | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        uid = opt_str(params, "uid", hi=MAX_UID)
        course = opt_str(params, "course", hi=16)
        if (uid is None) == (course is None):
            raise BadRequest("give either 'uid' or 'course'")
        return cls(uid, None if course is None else check_course(course))

    def to_obj(self) -> JsonObject:
        return drop_none({"uid": self.uid, "course": self.course})


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimetableImported:
    """timetable.import: lectures added, removed (not started, no longer given) and kept (started or
    over, or given again unchanged)."""

    added: int
    removed: int
    kept: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "added"), integer(obj, "removed"), integer(obj, "kept"))

    def to_obj(self) -> JsonObject:
        return {"added": self.added, "removed": self.removed, "kept": self.kept}

    def __add__(self, other: TimetableImported) -> TimetableImported:
        return TimetableImported(self.added + other.added, self.removed + other.removed, self.kept + other.kept)


@dataclass(frozen=True, slots=True)
class Lecture:
    """One timetabled lecture, as stored."""

    id: int
    uid: str
    course: str
    title: str
    room: str
    lecturer: str
    session: str
    semester: str
    starts_at: int
    ends_at: int
    session_id: int | None
    """The attendance session the scheduler started for it; None until then."""
    state: str
    error: str | None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        state = text(obj, "state")
        if state not in LECTURE_STATES:
            raise bad("state", f"one of {sorted(LECTURE_STATES)}")
        return cls(integer(obj, "id"), text(obj, "uid"), text(obj, "course"), text(obj, "title"), text(obj, "room"),
                   text(obj, "lecturer"), text(obj, "session"), text(obj, "semester"), integer(obj, "starts_at"),
                   integer(obj, "ends_at"), opt_int(obj, "session_id"), state, opt_text(obj, "error"))

    def to_obj(self) -> JsonObject:
        return {"id": self.id, "uid": self.uid, "course": self.course, "title": self.title, "room": self.room,
                "lecturer": self.lecturer, "session": self.session, "semester": self.semester,
                "starts_at": self.starts_at, "ends_at": self.ends_at, "session_id": self.session_id,
                "state": self.state, "error": self.error}


@dataclass(frozen=True, slots=True)
class TimetableList:
    """timetable.list: the lectures, earliest first."""

    lectures: tuple[Lecture, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(Lecture.from_obj(item) for item in object_list(obj, "lectures")))

    def to_obj(self) -> JsonObject:
        return {"lectures": [item.to_obj() for item in self.lectures]}


@dataclass(frozen=True, slots=True)
class TimetableRemoved:
    """timetable.remove: how many lectures not yet started were removed."""

    removed: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "removed"))

    def to_obj(self) -> JsonObject:
        return {"removed": self.removed}


# --- a big import in several requests ------------------------------------------------------------


def _size(params: TimetableImportParams) -> int:
    return len(json.dumps(params.to_obj(), separators=(",", ":"), ensure_ascii=False).encode())


def split_import(session: str, semester: str, series: Iterable[Series], *,
                 budget: int = MAX_REQUEST_PAYLOAD - ENVELOPE_ALLOWANCE) -> list[TimetableImportParams]:
    """The series in as few requests as fit `budget` bytes of params each, every series whole in one
    of them (each request replaces the future lectures of the series it names, so a re-run repairs a
    partial import). A series that fits no request alone is BadRequest."""
    batches: list[TimetableImportParams] = []
    current = TimetableImportParams(session, semester, ())
    for one in series:
        grown = replace(current, series=(*current.series, one))
        if _size(grown) <= budget:
            current = grown
            continue
        alone = TimetableImportParams(session, semester, (one,))
        if _size(alone) > budget:
            raise BadRequest(f"series {one.uid!r} ({one.course}) has too many lectures for one request "
                             f"({len(one.starts)}); import a shorter window (--from/--to)")
        if current.series:
            batches.append(current)
        current = alone
    if current.series:
        batches.append(current)
    return batches

