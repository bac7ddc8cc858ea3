"""The timetable's reads and writes: importing series (upserted by uid: lectures not yet started are
replaced, started or over ones kept), listing and removing lectures, the lectures due for the scheduler
and its state changes. `TimetableStore` is the store's part that owns them (the Store inherits it and
gives it its transactions)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, update
from sqlmodel import Session, col, delete, select

from controller.adapters.database import Database
from controller.adapters.tables import Course, FleetSession, LectureRow, lecture_value
from controller.contract.timetable import (
    LECTURE_STATES,
    WAITING,
    Lecture,
    Series,
    TimetableImported,
    TimetableImportParams,
    TimetableListParams,
    TimetableRemoveParams,
)
from controller.errors import StoreError


def _replaceable(row: LectureRow, now: float) -> bool:
    """Not started: the scheduler has not touched it and it lies ahead."""
    return row.state == "scheduled" and row.starts_at > now


def _same(row: LectureRow, wanted: LectureRow) -> bool:
    return (row.course_code, row.title, row.room, row.lecturer, row.academic_session, row.semester, row.ends_at) == (
        wanted.course_code, wanted.title, wanted.room, wanted.lecturer, wanted.academic_session, wanted.semester,
        wanted.ends_at)


def _rows(series: Series, params: TimetableImportParams, now: float) -> dict[int, LectureRow]:
    """The series' lectures that are not over, by start."""
    return {start: LectureRow(uid=series.uid, course_code=series.course, title=series.title, room=series.room,
                              lecturer=series.lecturer, academic_session=params.session, semester=params.semester,
                              starts_at=start, ends_at=start + series.duration_s)
            for start in series.starts if start + series.duration_s > now}


def _upsert(s: Session, series: Series, params: TimetableImportParams, now: float) -> TimetableImported:
    wanted = _rows(series, params, now)
    added = removed = kept = 0
    for row in s.exec(select(LectureRow).where(LectureRow.uid == series.uid)):
        given = wanted.get(row.starts_at)
        if not _replaceable(row, now) or (given is not None and _same(row, given)):
            wanted.pop(row.starts_at, None)  # a started lecture keeps its (uid, start)
            kept += 1
        else:
            s.delete(row)
            removed += 1
    s.flush()  # the deleted rows' (uid, start) before the new ones take them
    for row in wanted.values():
        s.add(row)
        added += 1
    return TimetableImported(added, removed, kept)


def remember_titles(s: Session, series: Iterable[Series]) -> None:
    """A course new to the controller gets the title of its first series (known ones keep theirs)."""
    new: dict[str, str] = {}
    for one in series:
        new.setdefault(one.course, one.title)
    known = set(s.exec(select(Course.code).where(col(Course.code).in_(list(new)))))
    for code, title in new.items():
        if code not in known:
            s.add(Course(code=code, title=title))


def import_series(s: Session, params: TimetableImportParams, now: float) -> TimetableImported:
    remember_titles(s, params.series)
    total = TimetableImported(0, 0, 0)
    for series in params.series:
        total += _upsert(s, series, params, now)
    return total


def list_lectures(s: Session, query: TimetableListParams) -> list[Lecture]:
    """Lectures that end after `from` and start before `to`, earliest first."""
    stmt = select(LectureRow)
    if query.from_ is not None:
        stmt = stmt.where(LectureRow.ends_at > query.from_)
    if query.to is not None:
        stmt = stmt.where(LectureRow.starts_at < query.to)
    if query.course is not None:
        stmt = stmt.where(LectureRow.course_code == query.course)
    return [lecture_value(row) for row in s.exec(stmt.order_by(col(LectureRow.starts_at), col(LectureRow.id)))]


def remove(s: Session, params: TimetableRemoveParams, now: float) -> int:
    """Delete the lectures not yet started of a series or of a course; how many."""
    which = col(LectureRow.uid) == params.uid if params.uid is not None else (
        col(LectureRow.course_code) == params.course)
    result = s.exec(delete(LectureRow).where(which, col(LectureRow.state) == "scheduled",
                                             col(LectureRow.starts_at) > now))
    return int(result.rowcount)


def due(s: Session, now: float, lead_s: float) -> list[Lecture]:
    """Lectures waiting for a session (scheduled, or retried for want of a device) with
    `starts_at - lead_s <= now < ends_at`, earliest first."""
    stmt = select(LectureRow).where(col(LectureRow.state).in_(WAITING), LectureRow.starts_at <= now + lead_s,
                                    LectureRow.ends_at > now)
    return [lecture_value(row) for row in s.exec(stmt.order_by(col(LectureRow.starts_at), col(LectureRow.id)))]


def set_state(s: Session, lecture_id: int, state: str, session_id: int | None, error: str | None, *,
              waiting_only: bool = False) -> Lecture:
    """Set a lecture's state; `waiting_only`: only while it still waits for a session (a lecture
    another controller has started meanwhile keeps its `started`)."""
    if state not in LECTURE_STATES:
        raise ValueError(f"lecture state {state!r} is not one of {sorted(LECTURE_STATES)}")
    row = s.get(LectureRow, lecture_id, with_for_update=True)
    if row is None:
        raise StoreError(f"no lecture {lecture_id}")
    if waiting_only and row.state not in WAITING:
        return lecture_value(row)
    row.state, row.session_id, row.error = state, session_id, None if error is None else error[:128]
    s.add(row)
    s.flush()
    return lecture_value(row)


def settle(s: Session, now: float) -> list[Lecture]:
    """Lectures whose time is over without a session become `missed` (returned, to be said once);
    started ones whose session has ended become `ended`."""
    missed = list(s.exec(select(LectureRow).where(col(LectureRow.state).in_(WAITING), LectureRow.ends_at <= now)))
    for row in missed:
        row.state = "missed"
    over = select(FleetSession.id).where(col(FleetSession.active).is_(False))
    s.execute(update(LectureRow).where(col(LectureRow.state) == "started", col(LectureRow.session_id).in_(over))
              .values(state="ended"))
    s.flush()
    return [lecture_value(row) for row in missed]


def counts(s: Session, now: float) -> dict[str, int]:
    """Lectures not yet over, by state."""
    rows = s.exec(select(LectureRow.state, func.count()).where(LectureRow.ends_at > now).group_by(
        col(LectureRow.state)))
    return {state: n for state, n in rows}


class TimetableStore(Database):
    """The store's timetable methods, one transaction each (`controller.adapters.store.Store`)."""

    def import_timetable(self, params: TimetableImportParams, now: float) -> TimetableImported:
        """Upsert each series by uid: its lectures not yet started become the given ones (those over
        are not stored); started or past ones are kept. A new course remembers the series' title."""
        with self._writing() as s:
            return import_series(s, params, now)

    def lectures(self, query: TimetableListParams) -> list[Lecture]:
        with self._reading() as s:
            return list_lectures(s, query)

    def remove_lectures(self, params: TimetableRemoveParams, now: float) -> int:
        with self._writing() as s:
            return remove(s, params, now)

    def due_lectures(self, now: float, lead_s: float) -> list[Lecture]:
        """Lectures the scheduler should have a session for: scheduled or no_device, with
        `starts_at - lead_s <= now < ends_at`, earliest first."""
        with self._reading() as s:
            return due(s, now, lead_s)

    def set_lecture_state(self, lecture_id: int, state: str, session_id: int | None = None,
                          error: str | None = None, *, waiting_only: bool = False) -> Lecture:
        with self._writing() as s:
            return set_state(s, lecture_id, state, session_id, error, waiting_only=waiting_only)

    def settle_lectures(self, now: float) -> list[Lecture]:
        """Close the lectures the clock has passed (`settle`): the newly missed are returned."""
        with self._writing() as s:
            return settle(s, now)

    def lecture_counts(self, now: float) -> dict[str, int]:
        """Lectures not yet over, by state (the metrics' `fleet_lectures`)."""
        with self._reading() as s:
            return counts(s, now)
