"""The timetable in the store on real databases (a SQLite file, a throwaway PostgreSQL database):
import upserts by uid and keeps what the scheduler started, remove, due lectures, state changes."""

from __future__ import annotations

import pytest

from controller.adapters.store import Store
from controller.contract.requests import SessionStartParams
from controller.contract.timetable import (
    Series,
    TimetableImported,
    TimetableImportParams,
    TimetableListParams,
    TimetableRemoveParams,
)
from controller.core.values import LivenessRow
from controller.errors import LectureTaken, StoreError

WEEK = 7 * 86400
T0 = 1_790_000_000  # a Monday-ish instant; only differences matter
HOUR = 3600


def weekly(uid: str = "ev-1", *, weeks: int = 4, room: str = "LT2", course: str = "CS101",
           title: str = "Intro to Computing") -> Series:
    return Series(uid, course, title, room, "Dr Ada", HOUR, tuple(T0 + i * WEEK for i in range(weeks)))


def imported(store: Store, *series: Series, now: float) -> TimetableImported:
    return store.import_timetable(TimetableImportParams("2024/2025", "1st Semester", series), now)


def starts(store: Store, **query: object) -> list[tuple[str, int, str]]:
    return [(x.uid, x.starts_at, x.state) for x in store.lectures(TimetableListParams(**query))]  # type: ignore[arg-type]


def test_an_import_stores_each_lecture_and_remembers_a_new_course(store: Store) -> None:
    assert imported(store, weekly(), weekly("ev-2", weeks=1, course="MA201", title="Calculus"),
                    now=T0 - 1) == TimetableImported(5, 0, 0)
    (first, *_), listed = store.lectures(TimetableListParams(course="CS101")), store.lectures(TimetableListParams())
    assert len(listed) == 5 and [x.starts_at for x in listed] == sorted(x.starts_at for x in listed)
    assert (first.course, first.title, first.room, first.lecturer, first.session, first.semester) == (
        "CS101", "Intro to Computing", "LT2", "Dr Ada", "2024/2025", "1st Semester")
    assert (first.ends_at - first.starts_at, first.state, first.session_id, first.error) == (HOUR, "scheduled", None,
                                                                                             None)
    assert {(c.code, c.title) for c in store.courses()} == {("CS101", "Intro to Computing"), ("MA201", "Calculus")}
    imported(store, weekly(title="Renamed"), now=T0 - 1)
    assert ("CS101", "Intro to Computing") in {(c.code, c.title) for c in store.courses()}  # known: kept


def test_a_re_import_replaces_only_lectures_not_yet_started(store: Store) -> None:
    imported(store, weekly(), now=T0 - 1)
    first, second, *_ = store.lectures(TimetableListParams())
    store.set_lecture_state(first.id, "ended", session_id=7)
    store.set_lecture_state(second.id, "started", session_id=8)
    assert imported(store, weekly(), now=T0 + WEEK + 60) == TimetableImported(0, 0, 4)  # the same again: untouched
    moved = weekly(room="LT3", weeks=5)
    assert imported(store, moved, now=T0 + WEEK + 60) == TimetableImported(3, 2, 2)
    rows = store.lectures(TimetableListParams())
    assert [(x.room, x.state, x.session_id) for x in rows] == [
        ("LT2", "ended", 7), ("LT2", "started", 8), ("LT3", "scheduled", None), ("LT3", "scheduled", None),
        ("LT3", "scheduled", None)]
    assert rows[0].id == first.id and rows[1].id == second.id


def test_an_import_does_not_store_lectures_already_over(store: Store) -> None:
    assert imported(store, weekly(), now=T0 + WEEK + HOUR) == TimetableImported(2, 0, 0)


def test_remove_takes_the_future_lectures_of_a_series_or_a_course(store: Store) -> None:
    imported(store, weekly(), weekly("ev-2"), weekly("ev-3", course="MA201"), now=T0 - 1)
    first = store.lectures(TimetableListParams(course="CS101"))[0]
    store.set_lecture_state(first.id, "started", session_id=3)
    assert store.remove_lectures(TimetableRemoveParams(uid="ev-1"), now=T0 + 10) == 3
    assert store.remove_lectures(TimetableRemoveParams(course="CS101"), now=T0 + 10) == 3  # ev-2's after now
    assert store.remove_lectures(TimetableRemoveParams(uid="nothing"), now=T0) == 0
    assert [(u, s) for u, _, s in starts(store, course="CS101")] == [("ev-1", "started"), ("ev-2", "scheduled")]
    assert len(starts(store, course="MA201")) == 4


def test_list_windows_by_time(store: Store) -> None:
    imported(store, weekly(), now=T0 - 1)
    assert [t for _, t, _ in starts(store, from_=T0 + HOUR, to=T0 + 2 * WEEK + 1)] == [T0 + WEEK, T0 + 2 * WEEK]
    assert [t for _, t, _ in starts(store, from_=T0 + HOUR - 1, to=T0 + WEEK)] == [T0]  # ends after from


def test_due_lectures_open_lead_seconds_before_the_start_until_the_end(store: Store) -> None:
    imported(store, weekly(weeks=2), now=T0 - 1000)
    assert store.due_lectures(T0 - 301, lead_s=300) == []
    (due,) = store.due_lectures(T0 - 300, lead_s=300)
    assert due.starts_at == T0
    assert [x.id for x in store.due_lectures(T0 + HOUR - 1, lead_s=300)] == [due.id]
    assert store.due_lectures(T0 + HOUR, lead_s=300) == []
    store.set_lecture_state(due.id, "no_device", error="no free device in LT2")
    assert [(x.state, x.error) for x in store.due_lectures(T0 + 60, lead_s=300)] == [
        ("no_device", "no free device in LT2")]  # retried until its end
    started = store.set_lecture_state(due.id, "started", session_id=12)
    assert (started.state, started.session_id, started.error) == ("started", 12, None)
    assert store.due_lectures(T0 + 60, lead_s=300) == []


def test_set_lecture_state_refuses_an_unknown_state_or_lecture(store: Store) -> None:
    imported(store, weekly(weeks=1), now=T0 - 1)
    (lecture,) = store.lectures(TimetableListParams())
    with pytest.raises(ValueError, match="lecture state 'going'"):
        store.set_lecture_state(lecture.id, "going")
    with pytest.raises(StoreError, match="no lecture 999"):
        store.set_lecture_state(999, "ended")


def test_a_uid_given_twice_in_one_import_is_the_last_one(store: Store) -> None:
    assert imported(store, weekly(weeks=3), weekly(weeks=2, room="LT9"), now=T0 - 1) == TimetableImported(5, 3, 0)
    assert [x.room for x in store.lectures(TimetableListParams())] == ["LT9", "LT9"]


def test_a_lecture_is_taken_by_one_session_only_and_a_late_no_device_does_not_undo_it(store: Store) -> None:
    """Two controllers starting one lecture: the second start rolls back whole (no session, no device
    claimed), and its `no_device` written after the first one's start leaves `started` alone."""
    store.flush_liveness([LivenessRow(d, T0, 1, "fw", None, None) for d in ("dev-a", "dev-b")], now=T0)
    imported(store, weekly(weeks=1), now=T0 - 1000)
    (lecture,) = store.due_lectures(T0 - 100, lead_s=300)
    params = SessionStartParams("CS101", None, "2024/2025", "1st Semester", room="LT2")
    first = store.start_session(params, ["dev-a"], {}, T0 - 100, ends_at=T0 + HOUR, begins_at=T0,
                                lecture_id=lecture.id)
    assert (first.session.origin, first.session.begins_at) == ("timetable", T0)
    with pytest.raises(LectureTaken):
        store.start_session(params, ["dev-b"], {}, T0 - 99, ends_at=T0 + HOUR, lecture_id=lecture.id)
    assert [s.id for s in store.sessions()] == [first.session.id]  # the loser left nothing behind
    assert {d.device_id for d in store.desired() if d.session_id is not None} == {"dev-a"}
    late = store.set_lecture_state(lecture.id, "no_device", error="no free device", waiting_only=True)
    assert (late.state, late.session_id) == ("started", first.session.id)
    store.end_session(first.session.id, {}, now=T0 + HOUR)
    assert store.settle_lectures(T0 + HOUR) == []  # ended with its session, not missed
    assert starts(store) == [("ev-1", T0, "ended")]
