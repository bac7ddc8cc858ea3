"""The roster and course methods (roster.import, roster.list, course.set) and attendance.mark: their
params and results. Pure: no I/O; `requests.METHODS` names them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from controller.contract.fields import integer, number, object_list, opt_text, text
from controller.contract.messages import STUDENT_ID_RE, JsonObject, drop_none
from controller.contract.readers import check_course, flag, opt_str, required_str, seconds, session_id
from controller.contract.report import DEFAULT_LATE_AFTER_S, MARKS, MarkRow
from controller.contract.topics import CLIENT_RE
from controller.errors import BadRequest


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
    owner: str = ""
    """The broker user who teaches it; "": nobody (admins only)."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "course"), text(obj, "title"), number(obj, "late_after_s"), text(obj, "owner"))

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "title": self.title, "late_after_s": self.late_after_s, "owner": self.owner}


@dataclass(frozen=True, slots=True)
class AttendanceMarked:
    """attendance.mark: the mark recorded (by: the request's sender, at: the controller's clock)."""

    mark: MarkRow

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(MarkRow.from_obj(obj))

    def to_obj(self) -> JsonObject:
        return self.mark.to_obj()


# --- params ---------------------------------------------------------------------------------------

MAX_ROSTER_CHUNK: Final = 500
"""Students in one roster.import request (the request's 8 KB bound them first, in practice)."""
MAX_LATE_AFTER_S: Final = 4 * 3600.0


def check_student_id(student_id: str) -> str:
    """The contract's student id rule (`messages.STUDENT_ID_RE`), as a check-in's id is held to it."""
    if STUDENT_ID_RE.fullmatch(student_id) is None:
        raise BadRequest(f"student id {student_id[:40]!r} must be 1-32 letters, digits, '/', '.', '_' or '-', "
                         "starting with a letter or digit")
    return student_id


def _roster_entry(obj: object) -> RosterEntry:
    if type(obj) is not dict:
        raise BadRequest("'students' must be a list of objects")
    email = opt_str(obj, "email", hi=254)
    if email is not None and ("@" not in email or " " in email):
        raise BadRequest(f"email {email[:60]!r} is not an email address")
    return RosterEntry(check_student_id(required_str(obj, "student_id", hi=32)), required_str(obj, "name", hi=100),
                       email)


@dataclass(frozen=True, slots=True)
class RosterImportParams:
    """roster.import: upsert students into a course's roster (by student id). `replace`: the roster
    becomes these students — at once for one request; for an import of several, every request names
    it (`import_id`) and the `final` one removes the students it did not name."""

    course: str
    students: tuple[RosterEntry, ...]
    replace: bool = False
    import_id: str | None = None
    final: bool = False

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        course = check_course(required_str(params, "course", hi=16))
        students = params.get("students")
        if type(students) is not list or len(students) > MAX_ROSTER_CHUNK:
            raise BadRequest(f"'students' must be a list of at most {MAX_ROSTER_CHUNK} students")
        entries = {e.student_id: e for e in (_roster_entry(s) for s in students)}  # an id given twice: the last
        import_id = opt_str(params, "import_id", hi=64)
        if import_id is not None and CLIENT_RE.fullmatch(import_id) is None:
            raise BadRequest("'import_id' must be 1-64 letters, digits, '.', '_' or '-'")
        final = flag(params, "final")
        if final and import_id is None:
            raise BadRequest("'final' ends an import named by 'import_id'")
        return cls(course, tuple(entries.values()), flag(params, "replace"), import_id, final)

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "students": [drop_none(s.to_obj()) for s in self.students],
                **({"replace": True} if self.replace else {}),
                **drop_none({"import_id": self.import_id}), **({"final": True} if self.final else {})}


@dataclass(frozen=True, slots=True)
class CourseParams:
    """roster.list: one course."""

    course: str

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(check_course(required_str(params, "course", hi=16)))

    def to_obj(self) -> JsonObject:
        return {"course": self.course}


@dataclass(frozen=True, slots=True)
class CourseSetParams:
    """course.set: a course's settings; None leaves one as it is (an unknown course is created)."""

    course: str
    late_after_s: float | None = None
    title: str | None = None
    owner: str | None = None
    """The broker user who teaches it ("" clears it); only an admin may set it."""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        late = None if params.get("late_after_s") is None else seconds(
            params, "late_after_s", default=DEFAULT_LATE_AFTER_S, hi=MAX_LATE_AFTER_S)
        owner = opt_str(params, "owner", hi=64, lo=0)
        if owner and CLIENT_RE.fullmatch(owner) is None:
            raise BadRequest(f"owner {owner[:40]!r} must be a user name: letters, digits, '.', '_' or '-'")
        return cls(check_course(required_str(params, "course", hi=16)), late, opt_str(params, "title", hi=100),
                   owner)

    def to_obj(self) -> JsonObject:
        return {"course": self.course, **drop_none({"late_after_s": self.late_after_s, "title": self.title,
                                                    "owner": self.owner})}


@dataclass(frozen=True, slots=True)
class AttendanceMarkParams:
    """attendance.mark: set one student's status in one session by hand (any of `report.MARKS`)."""

    session_id: int
    student_id: str
    status: str
    note: str = ""

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        status = required_str(params, "status", hi=16)
        if status not in MARKS:
            raise BadRequest(f"'status' must be one of {', '.join(MARKS)}")
        return cls(session_id(params), check_student_id(required_str(params, "student_id", hi=32)), status,
                   opt_str(params, "note", hi=200, lo=0) or "")

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "student_id": self.student_id, "status": self.status,
                "note": self.note}
