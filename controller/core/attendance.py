"""Attendance statuses, derived when asked (never stored): each (session, student) is present, late,
absent or excused, from the check-ins, the course's late rule and the lecturers' manual marks; a
student's counts, percentage and warnings over a semester. Pure: `now`-free, no I/O.

- A check-in more than `late_after_s` after the session's start is late, else present.
- No check-in: absent (a session still running counts as held, as the report always has: absent
  so far).
- A manual mark (attendance.mark) overrides whatever was derived; the latest mark wins.
- percent = (present + late) / (sessions - excused), 0 when nothing counts.
- Warnings: under `threshold` percent (once something counts), `consecutive` absences in a row
  (excused sessions are skipped over, neither breaking nor extending a run), not on the roster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.contract.report import (
    ABSENT,
    CONSECUTIVE_ABSENCES,
    DEFAULT_LATE_AFTER_S,
    EXCUSED,
    LATE,
    LOW_ATTENDANCE,
    NOT_ON_ROSTER,
    PRESENT,
    MarkRow,
)


@dataclass(frozen=True, slots=True)
class Rules:
    """How statuses are derived and when a student is warned."""

    late_after_s: float = DEFAULT_LATE_AFTER_S
    threshold: float = 75.0
    consecutive: int = 3


@dataclass(frozen=True, slots=True)
class Tally:
    """One student's statuses over a semester, counted."""

    statuses: tuple[str, ...]
    present: int
    late: int
    absent: int
    excused: int
    percent: float
    warnings: tuple[str, ...]

    @property
    def attended(self) -> int:
        return self.present + self.late


def derived(checked_in_at: float | None, started_at: float, late_after_s: float) -> str:
    """The status the check-ins give, before any manual mark."""
    if checked_in_at is None:
        return ABSENT
    return LATE if checked_in_at - started_at > late_after_s else PRESENT


def latest_marks(marks: Iterable[MarkRow]) -> dict[tuple[int, str], MarkRow]:
    """The mark in force for each (session, student): the latest (by time, then by order given)."""
    latest: dict[tuple[int, str], MarkRow] = {}
    for mark in marks:
        key = (mark.session_id, mark.student_id)
        if key not in latest or mark.at >= latest[key].at:
            latest[key] = mark
    return latest


def longest_absent_run(statuses: Sequence[str]) -> int:
    """The most absences in a row; excused sessions are skipped over, anything else ends a run."""
    longest = run = 0
    for status in statuses:
        if status == ABSENT:
            run += 1
            longest = max(longest, run)
        elif status != EXCUSED:
            run = 0
    return longest


def tally(statuses: Sequence[str], rules: Rules, *, enrolled: bool = True) -> Tally:
    """Counts, percentage and warnings of one student's statuses (one per session, in order)."""
    count = {s: sum(1 for x in statuses if x == s) for s in (PRESENT, LATE, ABSENT, EXCUSED)}
    counted = len(statuses) - count[EXCUSED]
    attended = count[PRESENT] + count[LATE]
    percent = round(100.0 * attended / counted, 1) if counted else 0.0
    warnings: list[str] = []
    if counted and percent < rules.threshold:
        warnings.append(LOW_ATTENDANCE)
    if longest_absent_run(statuses) >= rules.consecutive:
        warnings.append(CONSECUTIVE_ABSENCES)
    if not enrolled:
        warnings.append(NOT_ON_ROSTER)
    return Tally(tuple(statuses), count[PRESENT], count[LATE], count[ABSENT], count[EXCUSED], percent,
                 tuple(warnings))


@dataclass(frozen=True, slots=True)
class Held:
    """A session as statuses need it."""

    session_id: int
    started_at: float


def statuses(student: str, held: Sequence[Held], checked_in: Mapping[tuple[int, str], float],
             marks: Mapping[tuple[int, str], MarkRow], late_after_s: float) -> tuple[str, ...]:
    """One student's status in each session held, in order: a mark if there is one, else derived."""
    result: list[str] = []
    for h in held:
        mark = marks.get((h.session_id, student))
        result.append(mark.status if mark is not None else
                      derived(checked_in.get((h.session_id, student)), h.started_at, late_after_s))
    return tuple(result)
