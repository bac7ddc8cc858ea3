"""Attendance statuses (core/attendance.py) and the registrar's report (core/report.py) from plain
data: the late rule, manual marks, percentages, absences in a row, students not on the roster."""

from __future__ import annotations

import pytest

from controller.contract.report import ABSENT, EXCUSED, LATE, PRESENT, MarkRow
from controller.contract.rosters import RosterEntry
from controller.core import attendance
from controller.core import report as semester
from controller.core.attendance import Held, Rules
from controller.core.values import CheckinRecord, SessionRecord

START = 1_000_000.0


def held(session_id: int, started_at: float) -> SessionRecord:
    return SessionRecord(
        id=session_id, course_code="CS101", course_title="Intro", academic_session="2024/2025", semester="1st",
        lecturer="", started_by="alice", device_id="dev-a", ssid="CS101_Attendance_2024_2025", room=None,
        config_version=1, failover_grace_s=60.0, moves=0, moved_from=None, degraded=False, active=False,
        started_at=started_at, ended_at=None, applied_at=None, error=None)


def checkin(session_id: int, student_id: str, at: float) -> CheckinRecord:
    return CheckinRecord(session_id, student_id, "dev-a", 1, None, at)


def mark(session_id: int, student_id: str, status: str, at: float, by: str = "alice") -> MarkRow:
    return MarkRow(session_id, student_id, status, "", by, at)


@pytest.mark.parametrize(("after_s", "status"), [(0, PRESENT), (599.9, PRESENT), (600, PRESENT), (600.1, LATE),
                                                 (-30, PRESENT), (3600, LATE)])
def test_late_is_strictly_more_than_the_grace_after_the_start(after_s: float, status: str) -> None:
    assert attendance.derived(START + after_s, START, 600.0) == status


def test_no_check_in_is_absent() -> None:
    assert attendance.derived(None, START, 600.0) == ABSENT


def test_the_latest_mark_wins_and_overrides_what_was_derived() -> None:
    sessions = [Held(1, START), Held(2, START + 7 * 86400)]
    checked_in = {(1, "U1"): START + 60, (2, "U1"): START + 7 * 86400 + 900}
    marks = attendance.latest_marks([mark(2, "U1", EXCUSED, 10.0), mark(2, "U1", PRESENT, 20.0),
                                     mark(1, "U1", ABSENT, 5.0)])
    assert attendance.statuses("U1", sessions, checked_in, {}, 600.0) == (PRESENT, LATE)
    assert attendance.statuses("U1", sessions, checked_in, marks, 600.0) == (ABSENT, PRESENT)
    # given out of order, the later one still wins
    assert attendance.latest_marks([mark(2, "U1", PRESENT, 20.0), mark(2, "U1", EXCUSED, 10.0)])[(2, "U1")].status \
        == PRESENT


@pytest.mark.parametrize(("statuses", "run"), [
    ((), 0), ((ABSENT,), 1), ((ABSENT, ABSENT, PRESENT, ABSENT), 2), ((ABSENT, EXCUSED, ABSENT, ABSENT), 3),
    ((ABSENT, LATE, ABSENT, ABSENT), 2), ((PRESENT, PRESENT), 0),
])
def test_absences_in_a_row_skip_excused_sessions(statuses: tuple[str, ...], run: int) -> None:
    assert attendance.longest_absent_run(statuses) == run


def test_percent_leaves_excused_sessions_out_and_counts_late_as_attended() -> None:
    counted = attendance.tally((PRESENT, LATE, EXCUSED, ABSENT), Rules())
    assert (counted.present, counted.late, counted.absent, counted.excused) == (1, 1, 1, 1)
    assert counted.attended == 2 and counted.percent == 66.7  # 2 of the 3 that count
    assert counted.warnings == ("low_attendance",)
    assert attendance.tally((EXCUSED, EXCUSED), Rules()).percent == 0.0  # nothing counts: no warning either
    assert attendance.tally((EXCUSED, EXCUSED), Rules()).warnings == ()


def test_warnings_follow_the_threshold_and_the_run_length() -> None:
    statuses = (PRESENT, PRESENT, PRESENT, ABSENT, ABSENT)
    assert attendance.tally(statuses, Rules()).percent == 60.0
    assert attendance.tally(statuses, Rules()).warnings == ("low_attendance",)  # under 75 %
    assert attendance.tally(statuses, Rules(threshold=60.0)).warnings == ()  # at the threshold is not under it
    assert attendance.tally(statuses, Rules(threshold=50.0, consecutive=2)).warnings == ("consecutive_absences",)
    assert attendance.tally((PRESENT,), Rules(), enrolled=False).warnings == ("not_on_roster",)


ROSTER = [RosterEntry("U1", "Ada Lovelace", "ada@example.edu"), RosterEntry("U2", "Alan Turing"),
          RosterEntry("U3", "Grace Hopper")]
WEEKS = [held(i, START + (i - 1) * 7 * 86400) for i in (1, 2, 3, 4)]


def test_every_enrolled_student_is_a_row_and_those_never_present_are_at_zero() -> None:
    checkins = [checkin(1, "U1", WEEKS[0].started_at + 30), checkin(2, "U1", WEEKS[1].started_at + 700),
                checkin(3, "U1", WEEKS[2].started_at + 10), checkin(4, "U1", WEEKS[3].started_at + 10),
                checkin(1, "U2", WEEKS[0].started_at + 30)]
    students, sessions = semester.build(WEEKS, checkins, roster=ROSTER, rules=Rules(late_after_s=600.0))
    rows = {s.student_id: s for s in students}
    assert list(rows) == ["U1", "U2", "U3"]
    assert (rows["U1"].present, rows["U1"].late, rows["U1"].absent, rows["U1"].percent) == (3, 1, 0, 100.0)
    assert rows["U1"].statuses == (PRESENT, LATE, PRESENT, PRESENT) and rows["U1"].warnings == ()
    assert (rows["U2"].attended, rows["U2"].absent, rows["U2"].percent) == (1, 3, 25.0)
    assert rows["U2"].warnings == ("low_attendance", "consecutive_absences")
    assert (rows["U3"].attended, rows["U3"].held, rows["U3"].percent, rows["U3"].name) == (0, 4, 0.0, "Grace Hopper")
    assert all(s.enrolled for s in students)
    assert [h.present for h in sessions] == [2, 1, 1, 1]


def test_a_check_in_from_a_student_not_on_the_roster_is_kept_and_flagged() -> None:
    students, _ = semester.build(WEEKS[:1], [checkin(1, "X9", START)], roster=ROSTER)
    stranger = next(s for s in students if s.student_id == "X9")
    assert not stranger.enrolled and stranger.name is None and stranger.attended == 1
    assert stranger.warnings == ("not_on_roster",)
    assert len(students) == 4


def test_without_a_roster_no_one_is_flagged() -> None:
    students, _ = semester.build(WEEKS[:1], [checkin(1, "X9", START)])
    assert [(s.student_id, s.enrolled, s.warnings) for s in students] == [("X9", True, ())]


def test_an_excused_mark_takes_the_session_out_of_the_percentage() -> None:
    checkins = [checkin(i, "U1", w.started_at) for i, w in zip((1, 2, 3), WEEKS, strict=False)]
    marks = [mark(4, "U1", EXCUSED, START + 40 * 86400), mark(4, "U3", EXCUSED, START), mark(9, "U3", PRESENT, 1.0)]
    students, _ = semester.build(WEEKS, checkins, roster=ROSTER, marks=marks)
    rows = {s.student_id: s for s in students}
    assert (rows["U1"].excused, rows["U1"].percent, rows["U1"].statuses[3]) == (1, 100.0, EXCUSED)
    assert (rows["U3"].absent, rows["U3"].excused, rows["U3"].percent) == (3, 1, 0.0)  # session 9: not in the report


def test_n_students_and_k_check_ins_give_n_rows_and_n_minus_k_absent() -> None:
    roster = [RosterEntry(f"U{i:03d}", f"Student {i}") for i in range(40)]
    checkins = [checkin(1, f"U{i:03d}", START + i * 30) for i in range(0, 40, 3)]  # k = 14, the later ones late
    students, sessions = semester.build(WEEKS[:1], checkins, roster=roster, rules=Rules(late_after_s=600.0))
    assert len(students) == 40 and sessions[0].present == 14
    assert sum(s.absent for s in students) == 40 - 14
    assert {s.student_id for s in students if s.late} == {f"U{i:03d}" for i in range(21, 40, 3)}  # after 600 s
