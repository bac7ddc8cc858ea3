"""The store's rosters: a course's roster upserted (or replaced) and read, the course's late rule,
manual attendance marks kept with who and when. The functions take an open session and return
frozen values; `RosterStore` (the store's `rosters`) runs each in a transaction of the store's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from sqlalchemy import func, or_
from sqlmodel import Session, col, delete, select

from controller.adapters.tables import AttendanceMark, Course, FleetSession, RosterStudent
from controller.contract.report import DEFAULT_LATE_AFTER_S, MarkRow
from controller.contract.rosters import RosterEntry
from controller.core.values import CourseRecord
from controller.errors import UnknownSession


def _entry(row: RosterStudent) -> RosterEntry:
    return RosterEntry(row.student_id, row.name, row.email)


def _mark(row: AttendanceMark) -> MarkRow:
    return MarkRow(row.session_id, row.student_id, row.status, row.note, row.marked_by, row.marked_at)


def upsert(s: Session, course: str, students: Sequence[RosterEntry], *, replace: bool,
           import_id: str | None = None, final: bool = False) -> tuple[int, int, int]:
    """Add or update students of a course's roster (by student id). `replace` alone (an import of one
    request) clears it first. A replacing import of several requests names itself (`import_id`): its
    rows are tagged, and its `final` request removes the course's rows it did not write, so until
    then, and if it never comes, the roster holds everyone it held (and those added), never fewer.
    Returns (added, updated, the roster's size now)."""
    if replace and import_id is None:
        s.exec(delete(RosterStudent).where(col(RosterStudent.course_code) == course))
    tag = import_id if replace else None
    ids = [e.student_id for e in students]
    existing = {r.student_id: r for r in s.exec(select(RosterStudent).where(
        RosterStudent.course_code == course, col(RosterStudent.student_id).in_(ids)))} if ids else {}
    added = 0
    for entry in students:
        row = existing.get(entry.student_id)
        if row is None:
            s.add(RosterStudent(course_code=course, student_id=entry.student_id, name=entry.name, email=entry.email,
                                import_id=tag))
            added += 1
        else:
            row.name, row.email, row.import_id = entry.name, entry.email, tag
    s.flush()
    if replace and import_id is not None and final:
        s.exec(delete(RosterStudent).where(col(RosterStudent.course_code) == course,
                                           or_(col(RosterStudent.import_id).is_(None),
                                               col(RosterStudent.import_id) != import_id)))
    return added, len(students) - added, len(roster(s, course))


def roster(s: Session, course: str) -> list[RosterEntry]:
    rows = s.exec(select(RosterStudent).where(RosterStudent.course_code == course)
                  .order_by(col(RosterStudent.student_id)))
    return [_entry(r) for r in rows]


def course_of(s: Session, code: str) -> CourseRecord | None:
    course = s.get(Course, code)
    return None if course is None else CourseRecord(course.code, course.title, course.late_after_s, course.owner)


def set_course(s: Session, code: str, *, late_after_s: float | None, title: str | None,
               owner: str | None = None) -> CourseRecord:
    """Set a course's late rule, title and/or owner ("" clears it); an unknown course is created (its
    title "" until given)."""
    course = s.get(Course, code) or Course(code=code, title="", late_after_s=DEFAULT_LATE_AFTER_S)
    if owner is not None:
        course.owner = owner
    if late_after_s is not None:
        course.late_after_s = late_after_s
    if title is not None:
        course.title = title
    s.add(course)
    s.flush()
    return CourseRecord(course.code, course.title, course.late_after_s, course.owner)


def mark(s: Session, record: MarkRow) -> MarkRow:
    """Keep a manual mark (the session must exist)."""
    if s.get(FleetSession, record.session_id) is None:
        raise UnknownSession(f"no session {record.session_id}")
    s.add(AttendanceMark(session_id=record.session_id, student_id=record.student_id, status=record.status,
                         note=record.note, marked_by=record.by, marked_at=record.at))
    return record


def marks_of(s: Session, session_ids: Sequence[int]) -> list[MarkRow]:
    """Every mark of these sessions, oldest first (the order they were made)."""
    if not session_ids:
        return []
    rows = s.exec(select(AttendanceMark).where(col(AttendanceMark.session_id).in_(session_ids))
                  .order_by(col(AttendanceMark.marked_at), col(AttendanceMark.id)))
    return [_mark(r) for r in rows]


def owners(s: Session, course: str) -> set[str]:
    """Who owns the course (its owner, set by an admin); {""} when nobody does, so that only admins
    may act on it (an empty set would mean "nothing to hide" to `access.owns`)."""
    row = s.get(Course, course)
    return {row.owner if row is not None else ""}


Transaction = Callable[[], AbstractContextManager[Session]]


class RosterStore:
    """The store's reads and writes of rosters, course settings and marks, one transaction each
    (`reading` and `writing` are the store's, so database errors leave as StoreError)."""

    def __init__(self, reading: Transaction, writing: Transaction) -> None:
        self._reading = reading
        self._writing = writing

    def import_roster(self, course: str, students: Sequence[RosterEntry], *, replace: bool,
                      import_id: str | None = None, final: bool = False) -> tuple[int, int, int]:
        """Upsert students into a course's roster (`upsert`: `replace`, by one request or by an
        import of several): (added, updated, size now)."""
        with self._writing() as s:
            return upsert(s, course, students, replace=replace, import_id=import_id, final=final)

    def roster(self, course: str) -> list[RosterEntry]:
        with self._reading() as s:
            return roster(s, course)

    def size(self, course: str) -> int:
        """How many students the course's roster holds."""
        with self._reading() as s:
            return s.exec(select(func.count()).select_from(RosterStudent).where(
                RosterStudent.course_code == course)).one()

    def late_after_s(self, code: str) -> float:
        """The course's late rule (the default for a course not set up)."""
        course = self.course(code)
        return course.late_after_s if course else DEFAULT_LATE_AFTER_S

    def course(self, code: str) -> CourseRecord | None:
        with self._reading() as s:
            return course_of(s, code)

    def set_course(self, code: str, *, late_after_s: float | None, title: str | None,
                   owner: str | None = None) -> CourseRecord:
        with self._writing() as s:
            return set_course(s, code, late_after_s=late_after_s, title=title, owner=owner)

    def mark(self, record: MarkRow) -> MarkRow:
        with self._writing() as s:
            return mark(s, record)

    def marks_of(self, session_ids: Sequence[int]) -> list[MarkRow]:
        with self._reading() as s:
            return marks_of(s, session_ids)

    def course_owners(self, course: str) -> set[str]:
        with self._reading() as s:
            return owners(s, course)
