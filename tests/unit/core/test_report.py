"""The semester report: counts, percentages and suspicious check-ins."""

from __future__ import annotations

from controller.core.report import Checkin, Held, build, suspicious
from controller.core.selection import describe_room

HELD = [Held(1, 10.0, "dev-a"), Held(2, 20.0, "dev-a"), Held(3, 30.0, "dev-b"), Held(4, 40.0, "dev-b")]


def test_counts_and_percentages() -> None:
    checkins = [Checkin(1, "U1", None), Checkin(2, "U1", None), Checkin(3, "U1", None), Checkin(1, "U2", None)]
    report = build(HELD, checkins)
    assert report["held"] == 4
    assert report["students"] == [
        {"student_id": "U1", "attended": 3, "held": 4, "percent": 75.0, "flagged": 0},
        {"student_id": "U2", "attended": 1, "held": 4, "percent": 25.0, "flagged": 0},
    ]
    assert [s["present"] for s in report["sessions"]] == [2, 1, 1, 0]


def test_one_phone_several_students_is_flagged_per_session() -> None:
    checkins = [Checkin(1, "U1", "AA:BB:CC:DD:EE:01"), Checkin(1, "U2", "aa:bb:cc:dd:ee:01"),
                Checkin(2, "U1", "aa:bb:cc:dd:ee:01"), Checkin(2, "U3", "aa:bb:cc:dd:ee:02")]
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
