"""Attendance over a semester: per student (the roster's and who else checked in) and per session, with
suspicious check-ins marked; the statuses come from `core.attendance`. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from controller.contract.report import HeldRow, MarkRow, StudentRow
from controller.contract.rosters import RosterEntry
from controller.core import attendance
from controller.core.attendance import Rules
from controller.core.values import CheckinRecord, SessionRecord


def suspicious(checkins: Sequence[CheckinRecord]) -> set[tuple[int, str]]:
    """(session, student) pairs checked in from a phone that checked in several students that session."""
    students: dict[tuple[int, str], set[str]] = defaultdict(set)
    for c in checkins:
        if c.station_mac:
            students[(c.session_id, c.station_mac.lower())].add(c.student_id)
    return {(sid, student) for (sid, _), names in students.items() if len(names) > 1 for student in names}


DEFAULT_RULES = Rules()


def build(held: Sequence[SessionRecord], checkins: Sequence[CheckinRecord], *, roster: Sequence[RosterEntry] = (),
          marks: Sequence[MarkRow] = (),
          rules: Rules = DEFAULT_RULES) -> tuple[tuple[StudentRow, ...], tuple[HeldRow, ...]]:
    """One row per student — everyone on the roster, at 0 % if never present, and everyone else who
    checked in or was marked, flagged not on the roster (a course without a roster flags no one) —
    and a head count per session held.

    Flagged check-ins (a phone that checked in several students) are counted and marked, so a
    lecturer sees them instead of trusting them silently.
    """
    flagged = suspicious(checkins)
    checked_in = {(c.session_id, c.student_id): c.received_at for c in checkins}
    per_session: dict[int, set[str]] = defaultdict(set)
    for c in checkins:
        per_session[c.session_id].add(c.student_id)
    sessions = [attendance.Held(h.id, h.begins_at or h.started_at) for h in held]  # late counts from the lecture
    held_ids = {h.id for h in held}
    in_force = attendance.latest_marks(m for m in marks if m.session_id in held_ids)
    names = {r.student_id: r.name for r in roster}
    everyone = set(names) | {c.student_id for c in checkins} | {student for _, student in in_force}
    students = []
    for student in sorted(everyone):
        enrolled = student in names or not names
        counted = attendance.tally(attendance.statuses(student, sessions, checked_in, in_force, rules.late_after_s),
                                   rules, enrolled=enrolled)
        students.append(StudentRow(
            student, counted.attended, len(held), counted.percent,
            sum(1 for h in held if (h.id, student) in flagged and (h.id, student) in checked_in),
            names.get(student), enrolled, counted.present, counted.late, counted.absent, counted.excused,
            counted.statuses, counted.warnings))
    rows = tuple(
        HeldRow(h.id, h.started_at, h.device_id, len(per_session[h.id]),
                sum(1 for s in per_session[h.id] if (h.id, s) in flagged))
        for h in held
    )
    return tuple(students), rows
