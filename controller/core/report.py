"""Attendance over a semester: per student and per session, with suspicious check-ins marked. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from controller.contract.results import HeldRow, StudentRow
from controller.core.values import CheckinRecord, SessionRecord


def suspicious(checkins: Sequence[CheckinRecord]) -> set[tuple[int, str]]:
    """(session, student) pairs checked in from a phone that checked in several students that session."""
    students: dict[tuple[int, str], set[str]] = defaultdict(set)
    for c in checkins:
        if c.station_mac:
            students[(c.session_id, c.station_mac.lower())].add(c.student_id)
    return {(sid, student) for (sid, _), names in students.items() if len(names) > 1 for student in names}


def build(held: Sequence[SessionRecord],
          checkins: Sequence[CheckinRecord]) -> tuple[tuple[StudentRow, ...], tuple[HeldRow, ...]]:
    """One row per student (attended, held, percentage, flagged) and a head count per session held.

    Flagged check-ins are counted and marked, so a lecturer sees them instead of trusting them
    silently.
    """
    flagged = suspicious(checkins)
    attended: dict[str, set[int]] = defaultdict(set)
    per_session: dict[int, set[str]] = defaultdict(set)
    for c in checkins:
        attended[c.student_id].add(c.session_id)
        per_session[c.session_id].add(c.student_id)
    n = len(held)
    students = tuple(
        StudentRow(student, len(sessions), n, round(100.0 * len(sessions) / n, 1) if n else 0.0,
                   sum(1 for sid in sessions if (sid, student) in flagged))
        for student, sessions in sorted(attended.items())
    )
    sessions = tuple(
        HeldRow(h.id, h.started_at, h.device_id, len(per_session[h.id]),
                sum(1 for s in per_session[h.id] if (h.id, s) in flagged))
        for h in held
    )
    return students, sessions
