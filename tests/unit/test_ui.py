"""The renderings, as a person reads them (rendered to text, no escape codes)."""

from __future__ import annotations

from io import StringIO

from rich.console import Console, RenderableType

from controller import ui

NOW = 1_000_000.0


def text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


ROW = {"id": "esp32-a1b2c3d4e5f6", "online": True, "last_seen": NOW - 75, "name": "CS101 - Intro",
       "ssid": "CS101_Attendance_2024_2025", "room": "LT2", "session_id": 4, "config_version": 7,
       "applied_version": 7, "rssi": -85, "heap": 143000, "uptime_s": 7200, "fw": "1.0.0", "stations": 18}


def test_fleet_table_has_the_seed_totals_and_health() -> None:
    out = text(ui.fleet_table({"total": 12, "online": 10, "offline": 2, "available": 7, "matched": 12,
                               "devices": [ROW]}, NOW))
    assert "total 12" in out and "online 10" in out and "offline 2" in out and "available 7" in out
    assert "esp32-a1b2c3d4e5f6" in out and "1m ago" in out and "v7 ✓" in out and "LT2" in out
    assert "-85" in out and "139k" in out and "2h" in out and "18" in out
    assert "showing 1 of 12 devices" in out


def test_pending_config_shows_both_versions() -> None:
    out = text(ui.fleet_table({"devices": [ROW | {"applied_version": 6}], "matched": 1}, NOW))
    assert "v6→v7" in out


def test_report_view_marks_shared_phone_checkins() -> None:
    report = {"course": "CS101", "session": "2024/2025", "semester": "1st Semester", "held": 4,
              "students": [{"student_id": "U1", "attended": 3, "held": 4, "percent": 75.0, "flagged": 1}],
              "sessions": [{"session_id": 1, "started_at": NOW, "device": "dev-a", "present": 1, "flagged": 1}]}
    out = text(ui.report_view(report))
    assert "4 sessions held" in out and "3/4" in out and "75.0" in out and "███████████████░░░░░" in out
    assert "⚠ 1 shared-phone" in out


def test_sessions_table_shows_moves_and_degraded() -> None:
    base = {"session_id": 3, "course": "CS101", "session": "2024/2025", "semester": "1st", "lecturer": "",
            "ssid": "CS101_Attendance_2024_2025", "active": True, "applied": True, "error": None,
            "started_at": NOW, "checkins": 5}
    out = text(ui.sessions_table([base | {"device": "dev-b", "moves": 1, "moved_from": "dev-a"},
                                  base | {"session_id": 4, "device": "dev-c", "degraded": True}]))
    assert "dev-b (moved from dev-a)" in out and "degraded" in out


def test_inventory_states() -> None:
    devices = [ROW | {"retired": False, "approved": True, "first_seen": None, "operator_name": None, "online": False},
               ROW | {"id": "dev-x", "retired": True, "approved": True, "first_seen": NOW, "operator_name": "spare"},
               ROW | {"id": "dev-y", "retired": False, "approved": False, "first_seen": NOW, "operator_name": None}]
    out = text(ui.inventory_table(devices, NOW))
    assert "never seen" in out and "retired" in out and "pending approval" in out and "spare" in out
