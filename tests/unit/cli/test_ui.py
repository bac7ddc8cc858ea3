"""The renderings, as a person reads them (rendered to text, no escape codes)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console, RenderableType
from rich.text import Text

from controller.cli import clock, ui
from controller.contract.messages import AP_SLOTS
from controller.contract.report import AttendanceReport
from controller.contract.results import AttendanceList, DevicesList, InventoryRow, SessionRow
from controller.contract.session_detail import SessionShown
from controller.contract.timetable import Lecture

NOW = 1_000_000.0


def text(renderable: RenderableType, width: int = 200) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    console.print(renderable, crop=False)  # as cli.py prints: a --wide row may run past the width
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


DEVICE_DEFAULTS = {"online": False, "last_seen": None, "name": None, "ssid": None, "location": None, "room": None,
                   "session_id": None, "config_version": None, "applied_version": None, "boot": None, "fw": None,
                   "rssi": None, "heap": None, "uptime_s": None, "stations": None, "stations_peak": None,
                   "stations_refused": None, "checkins_served": None, "retired": False,
                   "approved": True, "flags": []}
SESSION_DEFAULTS = {"title": "", "device": None, "error": None, "config_version": 1, "ended_at": None, "room": None,
                    "moves": 0, "moved_from": None, "degraded": False, "failover_grace_s": 60.0, "checkins": 0,
                    "devices": []}


def fleet(snapshot: Mapping[str, Any]) -> DevicesList:
    """A devices.list result from the fields a test names (totals 0, rows with their defaults)."""
    devices = [DEVICE_DEFAULTS | d for d in snapshot["devices"]]
    counts = {"total": 0, "online": 0, "offline": 0, "available": 0, "matched": len(devices)}
    return DevicesList.from_obj(counts | dict(snapshot) | {"devices": devices})


def sessions_of(rows: Sequence[Mapping[str, Any]]) -> list[SessionRow]:
    return [SessionRow.from_obj(SESSION_DEFAULTS | s) for s in rows]


def inventory_of(rows: Sequence[Mapping[str, Any]]) -> list[InventoryRow]:
    return [InventoryRow.from_obj(DEVICE_DEFAULTS | d) for d in rows]


def attendance_of(result: Mapping[str, Any]) -> AttendanceList:
    return AttendanceList.from_obj({"session_id": result["session_id"],
                                    "records": [{"seq": 1, "station_mac": None} | r for r in result["records"]],
                                    "rejected": [{"seq": 1} | r for r in result["rejected"]]})


ROW = {"id": "esp32-a1b2c3d4e5f6", "online": True, "last_seen": NOW - 75, "name": "CS101 - Intro",
       "ssid": "CS101_Attendance_2024_2025", "room": "LT2", "session_id": 4, "config_version": 7,
       "applied_version": 7, "rssi": -85, "heap": 143000, "uptime_s": 7200, "fw": "1.0.0", "stations": 18}


def test_fleet_table_has_the_seed_totals_and_health() -> None:
    out = text(ui.fleet_table(fleet({"total": 12, "online": 10, "offline": 2, "available": 7, "matched": 12,
                                     "devices": [ROW]}), NOW))
    assert "total 12" in out and "online 10" in out and "offline 2" in out and "available 7" in out
    assert "esp32-a1b2c3d4e5f6" in out and "1m ago" in out and "v7 ✓" in out and "LT2" in out
    assert "-85" in out and "139k" in out and "2h" in out and "18" in out
    assert "showing 1 of 12 devices" in out


def test_pending_config_shows_both_versions() -> None:
    out = text(ui.fleet_table(fleet({"devices": [ROW | {"applied_version": 6}], "matched": 1}), NOW))
    assert "v6→v7" in out


def test_report_view_marks_shared_phone_checkins() -> None:
    report = {"course": "CS101", "session": "2024/2025", "semester": "1st Semester", "held": 4,
              "students": [{"student_id": "U1", "attended": 3, "held": 4, "percent": 75.0, "flagged": 1}],
              "sessions": [{"session_id": 1, "started_at": NOW, "device": "dev-a", "present": 1, "flagged": 1}]}
    out = text(ui.report_view(AttendanceReport.from_obj(report)))
    assert "4 sessions held" in out and "3/4" in out and "75.0" in out and "███████████████░░░░░" in out
    assert "⚠ 1 shared-phone" in out


def test_report_view_lists_the_never_present_and_says_why_a_student_is_warned() -> None:
    report = {"course": "CS101", "session": "2024/2025", "semester": "1st Semester", "held": 3, "enrolled": 2,
              "late_after_s": 300.0, "threshold": 75.0, "consecutive": 3,
              "students": [
                  {"student_id": "U1", "attended": 2, "held": 3, "percent": 100.0, "flagged": 0, "name": "Ada",
                   "enrolled": True, "present": 1, "late": 1, "absent": 0, "excused": 1,
                   "statuses": ["present", "late", "excused"], "warnings": []},
                  {"student_id": "U2", "attended": 0, "held": 3, "percent": 0.0, "flagged": 0, "name": "Alan",
                   "enrolled": True, "present": 0, "late": 0, "absent": 3, "excused": 0,
                   "statuses": ["absent"] * 3, "warnings": ["low_attendance", "consecutive_absences"]},
                  {"student_id": "X9", "attended": 1, "held": 3, "percent": 33.3, "flagged": 0, "name": None,
                   "enrolled": False, "present": 1, "late": 0, "absent": 2, "excused": 0,
                   "statuses": ["absent", "present", "absent"], "warnings": ["low_attendance", "not_on_roster"]}],
              "sessions": [{"session_id": 1, "started_at": NOW, "device": "dev-a", "present": 2, "flagged": 0}],
              "marks": [{"session_id": 1, "student_id": "U1", "status": "excused", "note": "", "by": "alice",
                         "at": NOW}]}
    out = text(ui.report_view(AttendanceReport.from_obj(report)))
    assert "2 enrolled" in out and "late after 5 min" in out and "1 manual mark" in out
    [alan] = [line for line in out.splitlines() if line.startswith("U2 ")]
    assert "0/3" in alan and "0.0" in alan and "<75 %" in alan and "3+ absent in a row" in alan
    [stranger] = [line for line in out.splitlines() if line.startswith("X9 ")]
    assert "not enrolled" in stranger
    rows_are_whole(text(ui.report_view(AttendanceReport.from_obj(report)), width=80), 80,
                   [["U2", "0/3", "3+ absent in a row"], ["X9", "not enrolled"]])


def test_a_check_in_not_on_the_roster_is_marked_in_the_attendance_list() -> None:
    listed = {"session_id": 12, "rejected": [], "records": [
        {"student_id": "U1", "device": "dev-a", "received_at": NOW, "on_roster": True},
        {"student_id": "X9", "device": "dev-a", "received_at": NOW, "on_roster": False}]}
    out = text(ui.attendance_table(attendance_of(listed)))
    assert "X9 ⚠ not on the roster" in out and "U1 ⚠" not in out


def test_sessions_table_shows_moves_and_degraded() -> None:
    base = {"session_id": 3, "course": "CS101", "session": "2024/2025", "semester": "1st", "lecturer": "",
            "ssid": "CS101_Attendance_2024_2025", "active": True, "applied": True, "error": None,
            "started_at": NOW, "checkins": 5}
    out = text(ui.sessions_table(sessions_of([base | {"device": "dev-b", "moves": 1, "moved_from": "dev-a"},
                                              base | {"session_id": 4, "device": "dev-c", "degraded": True}])))
    assert "moved from" in out and "degraded" in out
    [moved] = [line.split() for line in out.splitlines() if "dev-b" in line]
    assert moved[moved.index("dev-b") + 1] == "dev-a"


def test_sessions_table_names_every_device_of_a_session() -> None:
    base = {"session_id": 3, "course": "CS101", "session": "2024/2025", "semester": "1st", "lecturer": "",
            "ssid": "CS101_Attendance_2024_2025", "active": True, "applied": True, "error": None,
            "started_at": NOW, "checkins": 5}
    out = text(ui.sessions_table(sessions_of([base | {"device": "dev-a", "devices": ["dev-a", "dev-b", "dev-c"]}]),
                                 wide=True))
    assert "dev-a, dev-b, dev-c" in out


def test_inventory_states() -> None:
    devices = [ROW | {"retired": False, "approved": True, "first_seen": None, "operator_name": None, "online": False},
               ROW | {"id": "dev-x", "retired": True, "approved": True, "first_seen": NOW, "operator_name": "spare"},
               ROW | {"id": "dev-y", "retired": False, "approved": False, "first_seen": NOW, "operator_name": None}]
    out = text(ui.inventory_table(inventory_of(devices), NOW))
    assert "never seen" in out and "retired" in out and "pending approval" in out and "spare" in out


# --- fitting the width (kubectl's way) -------------------------------------------------------------


def test_pick_columns_keeps_priority_zero_and_drops_the_least_important_first() -> None:
    priorities, widths = [0, 2, 1, 0, 3], [10, 5, 5, 10, 1]
    assert ui.pick_columns(priorities, widths, None) == (0, 1, 2, 3, 4)
    assert ui.pick_columns(priorities, widths, 200) == (0, 1, 2, 3, 4)
    assert ui.row_width([10, 5, 5, 10, 1]) == 31 + 4 * ui.GAP
    assert ui.pick_columns(priorities, widths, 31 + 4 * ui.GAP - 1) == (0, 1, 2, 3)
    assert ui.pick_columns(priorities, widths, 25 + 2 * ui.GAP) == (0, 2, 3)
    assert ui.pick_columns(priorities, widths, 5) == (0, 3)  # never cut, even when they alone do not fit
    # a column is shown only if every more important one is, even if it alone would fit
    assert ui.pick_columns([0, 1, 2], [10, 50, 1], 20) == (0,)
    # equal priority: the leftmost stays longest
    assert ui.pick_columns([0, 1, 1], [10, 4, 4], 10 + 4 + ui.GAP) == (0, 1)


SIM = ROW | {"id": "sim-00002", "online": False, "flags": ["flapping"], "session_id": None, "ssid": None,
             "config_version": 3, "applied_version": 2, "name": "CS101 - Introduction to Computer Science"}
LONG_SSID = "EE201_Attendance_2024_2025_Lab"
SNAPSHOT = fleet({"total": 3, "online": 2, "offline": 1, "available": 1, "matched": 3,
                  "devices": [ROW, SIM, ROW | {"id": "sim-00003", "session_id": 9, "ssid": LONG_SSID}]})


def rows_are_whole(out: str, width: int | None, rows: list[list[str]]) -> None:
    """No line past `width`; each row on exactly one line, with every one of its given values whole."""
    lines = out.splitlines()
    if width is not None:
        assert max(len(line) for line in lines) <= width, out
    assert "…" not in out, out
    for values in rows:
        holding = [line for line in lines if values[0] in line.split()]
        assert len(holding) == 1, (values[0], out)
        assert all(v in holding[0].split() or v in holding[0] for v in values), (values, out)


def test_fleet_table_at_80_columns_keeps_ids_ssids_and_states_whole() -> None:
    out = text(ui.fleet_table(SNAPSHOT, NOW, checkins={4: 37, 9: 5}), width=80)
    rows_are_whole(out, 80, [["esp32-a1b2c3d4e5f6", "online", "CS101_Attendance_2024_2025", "4"],
                             ["sim-00002", "offline flapping"], ["sim-00003", LONG_SSID, "9"]])
    assert "RSSI" not in out and "139k" not in out and "more columns with --wide" in out
    assert "total 3" in out


def test_fleet_table_at_210_columns_shows_everything_and_check_ins() -> None:
    out = text(ui.fleet_table(SNAPSHOT, NOW, checkins={4: 37, 9: 5}), width=210)
    rows_are_whole(out, 210, [["esp32-a1b2c3d4e5f6", "online", "CS101_Attendance_2024_2025", "37", "v7 ✓", "139k"],
                              ["sim-00003", LONG_SSID, "5"]])
    assert "--wide" not in out and "CS101 - Introduction to Computer Science" in out


def test_wide_brings_back_every_column_at_any_width() -> None:
    out = text(ui.fleet_table(SNAPSHOT, NOW, checkins={4: 37}, wide=True), width=80)
    rows_are_whole(out, None, [["esp32-a1b2c3d4e5f6", "online", "CS101_Attendance_2024_2025", "37", "139k", "1.0.0"]])
    assert "RSSI" in out and "first seen" not in out and "--wide" not in out
    assert max(len(line) for line in out.splitlines()) > 80


def test_fleet_table_with_a_simulated_fleet_shows_check_ins_and_config_at_80() -> None:
    sim = [ROW | {"id": f"sim-{i:05d}", "session_id": None, "ssid": None} for i in range(1, 5)]
    sim[0] |= {"session_id": 1, "ssid": "CS101_Attendance_2024_2025"}
    out = text(ui.fleet_table(fleet({"devices": sim}), NOW, checkins={1: 12}), width=80)
    rows_are_whole(out, 80, [["sim-00001", "online", "CS101_Attendance_2024_2025", "1", "12", "v7 ✓"], ["sim-00004"]])


def style_of(cell: Text, part: str) -> str:
    """The style `part` of a cell is drawn in (its span's, else the cell's own)."""
    start = cell.plain.index(part)
    spans = [str(s.style) for s in cell.spans if s.start <= start < s.end]
    return spans[-1] if spans else str(cell.style)


def test_slots_show_stations_of_ten_the_peak_and_refusals_in_red() -> None:
    row = fleet({"devices": [ROW | {"stations": 3, "stations_peak": 10, "stations_refused": 0}]}).devices[0]
    cell = ui.slots(row)
    assert cell.plain == f"3/{AP_SLOTS} ↑10" and AP_SLOTS == 10
    assert "red" not in str(cell.style) and not any("red" in str(s.style) for s in cell.spans)
    full = ui.slots(replace(row, stations=10, stations_peak=10, stations_refused=23))
    assert full.plain == "10/10 ✗23"  # the peak is left out when it is now
    assert style_of(full, "✗23") == "bold red" and style_of(full, "10/10") == "yellow"
    assert ui.slots(replace(row, stations=None, stations_peak=None)).plain == "-"
    assert ui.slots(replace(row, stations_refused=None)).plain == "3/10 ↑10"  # an ESP32 reports no refusals


def test_served_check_ins_drop_first_and_come_back_with_wide() -> None:
    busy = ROW | {"stations": 7, "stations_peak": 10, "stations_refused": 4, "checkins_served": 187}
    devices = fleet({"devices": [busy, ROW | {"id": "sim-00002"}]})
    roomy = text(ui.fleet_table(devices, NOW, checkins={4: 150}), width=200)
    rows_are_whole(roomy, 200, [["esp32-a1b2c3d4e5f6", "150", "7/10 ↑10 ✗4", "187"], ["sim-00002", "18/10"]])
    narrow = text(ui.fleet_table(devices, NOW, checkins={4: 150}), width=120)
    assert "slots" in narrow and "7/10 ↑10 ✗4" in narrow and "served" not in narrow and "187" not in narrow
    assert "with --wide" in narrow
    wide = text(ui.fleet_table(devices, NOW, checkins={4: 150}, wide=True), width=120)
    assert "served" in wide and "187" in wide


def test_inventory_shows_slots() -> None:
    device = ROW | {"stations": 2, "stations_peak": 9, "first_seen": NOW, "operator_name": None}
    out = text(ui.inventory_table(inventory_of([device]), NOW), width=200)
    assert "slots" in out and "2/10 ↑9" in out


SESSION = {"session_id": 12, "course": "CS101", "session": "2024/2025", "semester": "1st Semester",
           "lecturer": "alice", "device": "esp32-a1b2c3d4e5f6", "ssid": "CS101_Attendance_2024_2025", "active": True,
           "applied": True, "error": None, "started_at": NOW, "checkins": 118}


def test_sessions_table_fits_80_columns_and_wide_shows_the_rest() -> None:
    sessions = [SESSION, SESSION | {"session_id": 13, "device": "sim-00002", "moves": 1, "moved_from": "sim-00001",
                                    "ssid": LONG_SSID, "applied": False}]
    out = text(ui.sessions_table(sessions_of(sessions)), width=80)
    rows_are_whole(out, 80, [["12", "esp32-a1b2c3d4e5f6", "CS101_Attendance_2024_2025", "applied", "118"],
                             ["13", "sim-00002", LONG_SSID, "pending"]])
    assert "lecturer" not in out and "moved from" not in out
    wide = text(ui.sessions_table(sessions_of(sessions), wide=True), width=80)
    assert "lecturer" in wide and "alice" in wide and "1st Semester" in wide and "…" not in wide
    assert "sim-00001" in wide


def test_inventory_attendance_and_report_fit_80_columns() -> None:
    devices = [ROW | {"retired": False, "approved": False, "first_seen": NOW, "operator_name": "LT2 front"},
               ROW | {"id": "sim-00002", "retired": True, "approved": True, "first_seen": NOW, "operator_name": None}]
    rows_are_whole(text(ui.inventory_table(inventory_of(devices), NOW), width=80), 80,
                   [["esp32-a1b2c3d4e5f6", "pending approval"], ["sim-00002", "retired"]])
    assert "first seen" in text(ui.inventory_table(inventory_of(devices), NOW, wide=True), width=80)

    attendance = {"session_id": 12,
                  "records": [{"student_id": "U2024/0001", "device": "esp32-a1b2c3d4e5f6", "received_at": NOW}],
                  "rejected": [{"student_id": "not a student!", "device": "sim-00002", "reason": "bad_student_id",
                                "received_at": NOW}]}
    rows_are_whole(text(ui.attendance_table(attendance_of(attendance)), width=80), 80,
                   [["U2024/0001", "esp32-a1b2c3d4e5f6"], ["bad_student_id", "not a student!", "sim-00002"]])

    report = {"course": "CS101", "session": "2024/2025", "semester": "1st Semester", "held": 4,
              "students": [{"student_id": "U2024/0001", "attended": 3, "held": 4, "percent": 75.0, "flagged": 1}],
              "sessions": [{"session_id": 1, "started_at": NOW, "device": "esp32-a1b2c3d4e5f6", "present": 1,
                            "flagged": 1}]}
    out = text(ui.report_view(AttendanceReport.from_obj(report)), width=80)
    rows_are_whole(out, 80, [["U2024/0001", "3/4", "⚠ 1 shared-phone check-in(s)"], ["esp32-a1b2c3d4e5f6"]])
    assert "4 sessions held" in out


def test_a_narrow_terminal_still_never_cuts_an_identifier() -> None:
    out = text(ui.fleet_table(SNAPSHOT, NOW), width=40)
    assert "…" not in out and "esp32-a1b2c3d4e5f6" in out and "CS101_Attendance_2024_2025" in out


def shown_of(devices: Sequence[Mapping[str, Any]], *, timeline: Sequence[int] = (0, 4, 9), active: bool = True,
             checkins: int = 13) -> SessionShown:
    """A session.show result with session 4 (running since NOW - 180) and the given devices."""
    session = SESSION_DEFAULTS | {"session_id": 4, "course": "CS101", "title": "Intro", "session": "2024/2025",
                                  "semester": "1st", "lecturer": "", "ssid": "CS101_Attendance_2024_2025",
                                  "active": active, "applied": True, "started_at": NOW - 180, "room": "LT2",
                                  "checkins": checkins, "device": devices[0]["device"] if devices else None}
    rows = [{"joined_at": NOW - 180, "left_at": None, "left_why": None, "online": True, "applied": True,
             "stations": None, "stations_peak": None, "stations_refused": None, "checkins": 0} | d for d in devices]
    return SessionShown.from_obj({"session": session, "devices": rows, "bucket_s": 60, "timeline": list(timeline),
                                  "rejected": 1})


def test_a_sparkline_is_one_bar_per_count_scaled_to_the_largest() -> None:
    assert ui.sparkline([0, 1, 4, 8]).plain == "▁▂▅█"  # 1/8 and 4/8 of the top: bars 2 and 5 of 8
    assert ui.sparkline([3, 3]).plain == "██"
    assert ui.sparkline([]).plain == ""
    assert ui.sparkline([0, 0]).plain == "▁▁"


def test_session_view_shows_devices_slots_check_ins_and_the_timeline() -> None:
    shown = shown_of([{"device": "esp32-0000000000f1", "stations": 4, "stations_peak": 9, "checkins": 11},
                      {"device": "esp32-0000000000f2", "left_at": NOW - 60, "left_why": "moved", "online": False,
                       "applied": False, "checkins": 2}])
    drawn = text(ui.session_view(shown, NOW), width=80)
    assert "Session 4" in drawn and "CS101_Attendance_2024_2025" in drawn and "running 3m" in drawn
    assert "13 check-ins, 1 rejected · per minute ▁▅█ (peak 9)" in drawn
    lines = {line.split()[0]: line for line in drawn.splitlines() if line.startswith("esp32-")}
    assert "4/10 ↑9" in lines["esp32-0000000000f1"] and " 11 " in lines["esp32-0000000000f1"] + " "
    assert "failed over" in lines["esp32-0000000000f2"]
    assert "saturated" not in drawn


def test_a_saturated_session_tells_the_lecturer_to_add_a_device() -> None:
    full = shown_of([{"device": "esp32-0000000000f1", "stations": 10, "stations_peak": 10, "stations_refused": 0},
                     {"device": "esp32-0000000000f2", "stations": 3}])
    warning = ui.saturation(full)
    assert warning is not None
    assert warning.plain == "⚠ saturated: esp32-0000000000f1 full — add a device: fleet session scale 4 --devices 3"
    refused = shown_of([{"device": "esp32-0000000000f1", "stations": 6, "stations_refused": 5}])
    assert "5 phone(s) refused for want of a slot" in text(ui.session_view(refused, NOW))
    ended = shown_of([{"device": "esp32-0000000000f1", "stations": 10, "stations_refused": 5}], active=False)
    assert "saturated" not in text(ui.session_view(ended, NOW))  # nothing to do about an ended one


def test_the_timetable_is_drawn_in_the_controllers_zone() -> None:
    before = Lecture(1, "ev", "CS101", "Intro", "LT2", "Dr Ada", "2026/2027", "1st Semester", 1_792_400_400,
                     1_792_404_000, None, "scheduled", None)  # Mon 19 Oct 2026 09:00 UTC: 10:00 BST
    after = replace(before, id=2, starts_at=1_793_008_800, ends_at=1_793_012_400, state="no_device", session_id=None,
                    error="no free device in LT2")  # Mon 26 Oct 2026 10:00 UTC: 10:00 GMT
    drawn = text(ui.timetable_table([before, after], ZoneInfo("Europe/London"), wide=True))
    assert "Timetable (Europe/London)" in drawn
    assert "Mon 2026-10-19" in drawn and "Mon 2026-10-26" in drawn and drawn.count("10:00-11:00") == 2
    assert "no_device" in drawn and "no free device in LT2" in drawn


@pytest.fixture
def utc_machine_london_fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A controller host on UTC (TZ=UTC, applied to the C library's localtime too) whose CLI is told
    FLEET_ZONE=Europe/London."""
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv(clock.ENV_ZONE, "Europe/London")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_sessions_start_and_end_are_shown_in_fleet_zone_not_the_machines(utc_machine_london_fleet: None) -> None:
    """`session start --until 11:30` in London ends at 10:30 UTC: list and show both say 11:30."""
    started, ends = 1_792_400_400.0, 1_792_405_800.0  # Mon 19 Oct 2026 09:00 and 10:30 UTC: 10:00 and 11:30 BST
    row = {"session_id": 4, "course": "CS101", "session": "2024/2025", "semester": "1st", "lecturer": "",
           "ssid": "CS101_Attendance_2024_2025", "active": True, "applied": True, "started_at": started,
           "ends_at": ends, "device": "dev-a"}
    listed = text(ui.sessions_table(sessions_of([row]), wide=True))
    shown = replace(shown_of([{"device": "dev-a"}]), session=sessions_of([row])[0])
    drawn = text(ui.session_view(shown, ends - 60))
    for out in (listed, drawn):
        assert "2026-10-19 10:00:00" in out and "2026-10-19 11:30:00" in out
        assert "09:00:00" not in out and "10:30:00" not in out
    assert "started 2026-10-19 10:00:00" in drawn and "ends 2026-10-19 11:30:00" in drawn
    assert clock.shown(ends).endswith("11:30")


def test_lectures_waiting_for_a_device_are_one_warning_each_with_why() -> None:
    lecture = Lecture(7, "ev-1", "CS101", "Intro", "LT2", "Dr Ada", "2026/2027", "1st", 1_800_000_000, 1_800_003_600,
                      None, "no_device", "no free device in room LT2: esp32-0000000000c1 (offline)")
    drawn = text(ui.waiting_lectures([lecture]))
    assert "lecture 7 (CS101 in LT2" in drawn and "esp32-0000000000c1 (offline); retried until it ends" in drawn
    assert text(ui.waiting_lectures([])).strip() == ""
