"""Attendance over a semester: per student and per session, with suspicious check-ins marked. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from controller.contract.messages import JsonObject


@dataclass(frozen=True, slots=True)
class Checkin:
    session_id: int
    student_id: str
    station_mac: str | None


@dataclass(frozen=True, slots=True)
class Held:
    session_id: int
    started_at: float
    device: str | None


def suspicious(checkins: Sequence[Checkin]) -> set[tuple[int, str]]:
    """(session, student) pairs checked in from a phone that checked in several students that session."""
    students: dict[tuple[int, str], set[str]] = defaultdict(set)
    for c in checkins:
        if c.station_mac:
            students[(c.session_id, c.station_mac.lower())].add(c.student_id)
    return {(sid, student) for (sid, _), names in students.items() if len(names) > 1 for student in names}


def build(held: Sequence[Held], checkins: Sequence[Checkin]) -> JsonObject:
    """One row per student (attended, held, percentage, flagged) and a head count per session.

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
    students = [
        {"student_id": student, "attended": len(sessions), "held": n,
         "percent": round(100.0 * len(sessions) / n, 1) if n else 0.0,
         "flagged": sum(1 for sid in sessions if (sid, student) in flagged)}
        for student, sessions in sorted(attended.items())
    ]
    return {
        "held": n,
        "students": students,
        "sessions": [{"session_id": h.session_id, "started_at": h.started_at, "device": h.device,
                      "present": len(per_session[h.session_id]),
                      "flagged": sum(1 for s in per_session[h.session_id] if (h.session_id, s) in flagged)}
                     for h in held],
    }
