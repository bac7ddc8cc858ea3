"""The semester report: counts, percentages and suspicious check-ins."""

from __future__ import annotations

from collections.abc import Sequence

from controller.contract.messages import JsonObject
from controller.core import report as semester
from controller.core.report import suspicious
from controller.core.selection import describe_room
from controller.core.values import CheckinRecord, SessionRecord


def held(session_id: int, started_at: float, device: str) -> SessionRecord:
    return SessionRecord(
        id=session_id, course_code="CS101", course_title="Intro", academic_session="2024/2025", semester="1st",
        lecturer="", started_by="", device_id=device, ssid="CS101_Attendance_2024_2025", room=None, config_version=1,
        failover_grace_s=60.0, moves=0, moved_from=None, degraded=False, active=False, started_at=started_at,
        ended_at=None, applied_at=None, error=None)


def checkin(session_id: int, student_id: str, station_mac: str | None) -> CheckinRecord:
    return CheckinRecord(session_id, student_id, "dev-a", 1, station_mac, 0.0)


def build(sessions_held: Sequence[SessionRecord], checkins: Sequence[CheckinRecord]) -> JsonObject:
    """The report's counts as its reply carries them."""
    students, sessions = semester.build(sessions_held, checkins)
    return {"held": len(sessions_held), "students": [s.to_obj() for s in students],
            "sessions": [h.to_obj() for h in sessions]}


HELD = [held(1, 10.0, "dev-a"), held(2, 20.0, "dev-a"), held(3, 30.0, "dev-b"), held(4, 40.0, "dev-b")]


def test_counts_and_percentages() -> None:
    checkins = [checkin(1, "U1", None), checkin(2, "U1", None), checkin(3, "U1", None), checkin(1, "U2", None)]
    report = build(HELD, checkins)
    assert report["held"] == 4
    assert [{k: s[k] for k in ("student_id", "attended", "held", "percent", "flagged")}
            for s in report["students"]] == [
        {"student_id": "U1", "attended": 3, "held": 4, "percent": 75.0, "flagged": 0},
        {"student_id": "U2", "attended": 1, "held": 4, "percent": 25.0, "flagged": 0},
    ]
    assert [s["present"] for s in report["sessions"]] == [2, 1, 1, 0]


def test_one_phone_several_students_is_flagged_per_session() -> None:
    checkins = [checkin(1, "U1", "AA:BB:CC:DD:EE:01"), checkin(1, "U2", "aa:bb:cc:dd:ee:01"),
                checkin(2, "U1", "aa:bb:cc:dd:ee:01"), checkin(2, "U3", "aa:bb:cc:dd:ee:02")]
    assert suspicious(checkins) == {(1, "U1"), (1, "U2")}
    report = build(HELD, checkins)
    flags = {s["student_id"]: s["flagged"] for s in report["students"]}
    assert flags == {"U1": 1, "U2": 1, "U3": 0}
    assert report["sessions"][0]["flagged"] == 2


def test_no_sessions_held() -> None:
    assert build([], []) == {"held": 0, "students": [], "sessions": []}


def test_describe_room_names_each_device_state() -> None:
    text = describe_room("LT2", ["dev-c", "dev-a", "dev-b"], online={"dev-a", "dev-b"}, busy={"dev-a": 4},
                         excluded={"dev-b"})
    assert text == "no free device in room LT2: dev-a (busy: session 4), dev-b (retired or unapproved), dev-c (offline)"
    assert describe_room("LT9", [], online=set(), busy={}, excluded=set()) == "no device is placed in room LT9"
