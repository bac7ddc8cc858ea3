"""The results of the roster and course methods (roster.import, roster.list, course.set) and of
attendance.mark. Pure: no I/O; the params are in `requests`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from controller.contract.fields import integer, number, object_list, opt_text, text
from controller.contract.messages import JsonObject
from controller.contract.report import MarkRow


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A student on a course's roster: the id typed at the portal, a name, an optional email."""

    student_id: str
    name: str
    email: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "student_id"), text(obj, "name"), opt_text(obj, "email"))

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "name": self.name, "email": self.email}


@dataclass(frozen=True, slots=True)
class RosterImported:
    """roster.import: one chunk upserted; `total` is the roster's size after it."""

    course: str
    added: int
    updated: int
    total: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "course"), integer(obj, "added"), integer(obj, "updated"), integer(obj, "total"))

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "added": self.added, "updated": self.updated, "total": self.total}


@dataclass(frozen=True, slots=True)
class RosterList:
    """roster.list: a course's roster, by student id, and its late rule."""

    course: str
    late_after_s: float
    students: tuple[RosterEntry, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "course"), number(obj, "late_after_s"),
                   tuple(RosterEntry.from_obj(s) for s in object_list(obj, "students")))

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "late_after_s": self.late_after_s,
                "students": [s.to_obj() for s in self.students]}


@dataclass(frozen=True, slots=True)
class CourseUpdated:
    """course.set: the course's settings now."""

    course: str
    title: str
    late_after_s: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "course"), text(obj, "title"), number(obj, "late_after_s"))

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "title": self.title, "late_after_s": self.late_after_s}


@dataclass(frozen=True, slots=True)
class AttendanceMarked:
    """attendance.mark: the mark recorded (by: the request's sender, at: the controller's clock)."""

    mark: MarkRow

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(MarkRow.from_obj(obj))

    def to_obj(self) -> JsonObject:
        return self.mark.to_obj()
