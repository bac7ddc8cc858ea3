"""attendance.report's result: a course's semester as a registrar reads it — every enrolled student
(and every student who checked in without being on the roster) with present / late / absent /
excused counts, percentage and warnings, the head count per session, and the lecturers' manual marks.
Pure: no I/O; the other results are in `results`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Self

from controller.contract.fields import bad, integer, number, object_list, opt_text, text, texts
from controller.contract.messages import JsonObject, boolean

PRESENT: Final = "present"
LATE: Final = "late"
ABSENT: Final = "absent"
EXCUSED: Final = "excused"
STATUSES: Final = (PRESENT, LATE, ABSENT, EXCUSED)
"""A student's status in a session; a lecturer may mark any of them (`attendance.mark`)."""
MARKS: Final = STATUSES
LOW_ATTENDANCE: Final = "low_attendance"
CONSECUTIVE_ABSENCES: Final = "consecutive_absences"
NOT_ON_ROSTER: Final = "not_on_roster"
WARNINGS: Final = (LOW_ATTENDANCE, CONSECUTIVE_ABSENCES, NOT_ON_ROSTER)

DEFAULT_LATE_AFTER_S: Final = 600.0
"""A check-in later than this after a session's (lecture's) start is late, unless the course says."""


def _statuses(obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = texts(obj, key) if key in obj else ()
    if any(v not in allowed for v in values):
        raise bad(key, f"a list of {', '.join(allowed)}")
    return values


@dataclass(frozen=True, slots=True)
class StudentRow:
    """One student over the semester. `attended` = present + late; `percent` = attended / (held -
    excused) in percent (0 when nothing counts)."""

    student_id: str
    attended: int
    held: int
    percent: float
    flagged: int
    """Check-ins from a phone that checked in several students that session."""
    name: str | None = None
    """From the roster; None for a student not on it."""
    enrolled: bool = True
    """On the course's roster (a course without a roster: everyone who checked in)."""
    present: int = 0
    late: int = 0
    absent: int = 0
    excused: int = 0
    statuses: tuple[str, ...] = ()
    """One of STATUSES per session of the report's `sessions`, in their order."""
    warnings: tuple[str, ...] = ()
    """Some of WARNINGS."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        present, late, absent, excused = (integer(obj, k) if k in obj else 0
                                          for k in ("present", "late", "absent", "excused"))
        return cls(text(obj, "student_id"), integer(obj, "attended"), integer(obj, "held"), number(obj, "percent"),
                   integer(obj, "flagged"), opt_text(obj, "name"), boolean(obj, "enrolled") if "enrolled" in obj
                   else True, present, late, absent, excused, _statuses(obj, "statuses", STATUSES),
                   _statuses(obj, "warnings", WARNINGS))

    def to_obj(self) -> JsonObject:
        return {"student_id": self.student_id, "attended": self.attended, "held": self.held,
                "percent": self.percent, "flagged": self.flagged, "name": self.name, "enrolled": self.enrolled,
                "present": self.present, "late": self.late, "absent": self.absent, "excused": self.excused,
                "statuses": list(self.statuses), "warnings": list(self.warnings)}


@dataclass(frozen=True, slots=True)
class HeldRow:
    session_id: int
    started_at: float
    device: str | None
    present: int
    """Students who checked in (on time or late)."""
    flagged: int

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "session_id"), number(obj, "started_at"), opt_text(obj, "device"),
                   integer(obj, "present"), integer(obj, "flagged"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "started_at": self.started_at, "device": self.device,
                "present": self.present, "flagged": self.flagged}


@dataclass(frozen=True, slots=True)
class MarkRow:
    """A lecturer's manual status for one student in one session (attendance.mark): who, when, why.
    For a (session, student) the latest mark wins; the earlier ones stay as its history."""

    session_id: int
    student_id: str
    status: str
    note: str
    by: str
    at: float

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        status = text(obj, "status")
        if status not in MARKS:
            raise bad("status", f"one of {', '.join(MARKS)}")
        return cls(integer(obj, "session_id"), text(obj, "student_id"), status, text(obj, "note"), text(obj, "by"),
                   number(obj, "at"))

    def to_obj(self) -> JsonObject:
        return {"session_id": self.session_id, "student_id": self.student_id, "status": self.status,
                "note": self.note, "by": self.by, "at": self.at}


@dataclass(frozen=True, slots=True)
class AttendanceReport:
    """attendance.report: per student and per session held, with the rules the statuses came from."""

    course: str
    session: str
    semester: str
    held: int
    students: tuple[StudentRow, ...]
    sessions: tuple[HeldRow, ...]
    enrolled: int = 0
    """Students on the course's roster (0: the course has no roster)."""
    late_after_s: float = DEFAULT_LATE_AFTER_S
    """A check-in later than this after a session's start is late."""
    threshold: float = 75.0
    consecutive: int = 3
    marks: tuple[MarkRow, ...] = ()
    """Every manual mark of the report's sessions, oldest first."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        # the fields after `sessions` came with rosters: a controller from before sends none of them
        new = "enrolled" in obj
        return cls(text(obj, "course"), text(obj, "session"), text(obj, "semester"), integer(obj, "held"),
                   tuple(StudentRow.from_obj(s) for s in object_list(obj, "students")),
                   tuple(HeldRow.from_obj(h) for h in object_list(obj, "sessions")),
                   integer(obj, "enrolled") if new else 0, number(obj, "late_after_s") if new else DEFAULT_LATE_AFTER_S,
                   number(obj, "threshold") if new else 75.0, integer(obj, "consecutive") if new else 3,
                   tuple(MarkRow.from_obj(m) for m in object_list(obj, "marks")) if new else ())

    def to_obj(self) -> JsonObject:
        return {"course": self.course, "session": self.session, "semester": self.semester, "held": self.held,
                "students": [s.to_obj() for s in self.students], "sessions": [h.to_obj() for h in self.sessions],
                "enrolled": self.enrolled, "late_after_s": self.late_after_s, "threshold": self.threshold,
                "consecutive": self.consecutive, "marks": [m.to_obj() for m in self.marks]}
