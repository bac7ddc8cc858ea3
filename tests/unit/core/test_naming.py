"""The seed's naming formats and the SSID rules."""

from __future__ import annotations

import pytest

from controller.contract.requests import SessionStartParams, check_password
from controller.core.naming import base_ssid, device_label, session_config, unique_ssid
from controller.errors import BadRequest


def test_seed_formats() -> None:
    request = SessionStartParams("CS101", None, "2024/2025", "1st Semester", lecturer="alice")
    config = session_config(request, session_id=42, title="Introduction to Computer Science", taken_ssids=set())
    assert config.device_id == "ESP32_CS101_2024_2025_1st_Semester"
    assert config.ssid == "CS101_Attendance_2024_2025"
    assert config.device_name == "CS101 - Introduction to Computer Science"
    assert config.location == "CS101 Classroom - 2024/2025 1st Semester"
    assert config.password == ""
    assert config.session_id == 42


def test_label_replaces_spaces_and_slashes() -> None:
    assert device_label("EE2", "2023/24", "2nd Semester") == "ESP32_EE2_2023_24_2nd_Semester"


@pytest.mark.parametrize("course,session", [("ENGINEERING_LONG", "2024/2025"), ("A" * 16, "2024/2025 Extra"),
                                            ("X", "20 24/25!")])
def test_ssid_is_at_most_32_bytes_of_safe_characters(course: str, session: str) -> None:
    ssid = base_ssid(course, session)
    assert 1 <= len(ssid.encode()) <= 32
    assert all(c.isalnum() or c in "_-" for c in ssid)


def test_long_course_shortens_attendance_first() -> None:
    assert base_ssid("ENGINEERING12345", "2024/2025") == "ENGINEERING12345_Att_2024_2025"


def test_unique_ssid_suffixes_within_32_bytes() -> None:
    base = "B" * 32
    assert unique_ssid("CS101_Attendance_2024_2025", set()) == "CS101_Attendance_2024_2025"
    assert unique_ssid("CS101_Attendance_2024_2025", {"CS101_Attendance_2024_2025"}) == "CS101_Attendance_2024_2025_2"
    second = unique_ssid(base, {base})
    third = unique_ssid(base, {base, second})
    assert len(second) == 32 and second.endswith("_2")
    assert len(third) == 32 and third.endswith("_3")


@pytest.mark.parametrize("password", ["short", "x" * 64, "tab\tpass", "pässwörd1"])
def test_bad_passwords(password: str) -> None:
    with pytest.raises(BadRequest):
        check_password(password)


@pytest.mark.parametrize("password", ["", "12345678", "x" * 63])
def test_good_passwords(password: str) -> None:
    assert check_password(password) == password


def test_bad_course_code() -> None:
    with pytest.raises(BadRequest):
        session_config(SessionStartParams("CS 101", None, "s", "x"), session_id=1, title="t", taken_ssids=())


def test_location_names_the_room_when_known() -> None:
    request = SessionStartParams("CS101", None, "2024/2025", "1st Semester")
    config = session_config(request, session_id=1, title="Intro", taken_ssids=(), room="LT2")
    assert config.location == "CS101 LT2 - 2024/2025 1st Semester"


def test_replies_topics() -> None:
    from controller.contract.topics import Topics

    topics = Topics("fleet")
    assert topics.is_replies("fleet/clients/alice/replies")
    for bad in ("fleet/devices/esp32-000000000001/config", "fleet/clients//replies", "fleet/clients/a/b/replies",
                "other/clients/alice/replies", "fleet/clients/alice/replies/x"):
        assert not topics.is_replies(bad), bad
