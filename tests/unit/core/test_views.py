"""The typed answers of read requests, built from plain values (no broker, no database)."""

from __future__ import annotations

from controller.contract.messages import Config
from controller.contract.requests import AttendanceReportParams, DevicesListParams
from controller.contract.results import SessionWaited
from controller.core import views
from controller.core.liveness import DeviceLive
from controller.core.values import CheckinRecord, Desired, DeviceEntry, DeviceInfo, SessionRecord

NOW = 1_000.0
LIVE = [DeviceLive("dev-a", boot=1, last_seen=NOW), DeviceLive("dev-b", boot=1, last_seen=NOW - 5),
        DeviceLive("dev-c", last_seen=NOW - 500), DeviceLive("dev-r", boot=1, last_seen=NOW)]
INVENTORY = {"dev-r": DeviceInfo(retired=True), "dev-b": DeviceInfo(room="LT2", approved=False)}
DESIRED = {"dev-a": Desired("dev-a", Config(3), 7)}


def session(session_id: int, **changes: object) -> SessionRecord:
    fields: dict[str, object] = dict(
        id=session_id, course_code="CS101", course_title="Intro", academic_session="2024/2025", semester="1st",
        lecturer="", started_by="", device_id="dev-a", ssid="CS101_Attendance_2024_2025", room=None, config_version=3,
        failover_grace_s=60.0, moves=0, moved_from=None, degraded=False, active=True, started_at=NOW, ended_at=None,
        applied_at=None, error=None)
    return SessionRecord(**(fields | changes))


def test_totals_leave_retired_devices_out_and_rows_are_filtered_sorted_and_cut() -> None:
    online, busy = {"dev-a", "dev-b", "dev-r"}, {"dev-a": 7}
    fleet = views.devices_result(LIVE, DESIRED, online, busy, query=DevicesListParams(), inventory=INVENTORY, now=NOW)
    assert (fleet.total, fleet.online, fleet.offline, fleet.available, fleet.matched) == (3, 2, 1, 0, 3)
    assert [d.id for d in fleet.devices] == ["dev-a", "dev-b", "dev-c"]
    assert fleet.devices[0].session_id == 7 and fleet.devices[0].config_version == 3 and fleet.devices[1].room == "LT2"
    first = views.devices_result(LIVE, DESIRED, online, busy, query=DevicesListParams(offline_first=True, limit=1),
                                 inventory=INVENTORY, now=NOW)
    assert [d.id for d in first.devices] == ["dev-c"] and first.matched == 3
    serving = views.devices_result(LIVE, DESIRED, online, busy, query=DevicesListParams(session_id=7),
                                   inventory=INVENTORY, now=NOW)
    assert [d.id for d in serving.devices] == ["dev-a"]


def test_the_inventory_lists_never_seen_devices_with_their_operator_name() -> None:
    entry = DeviceEntry("dev-z", None, None, None, None, None, None, "spare", "LT9", False, True)
    [row] = views.inventory_result({}, [entry], {}, set(), NOW).devices
    assert row.first_seen is None and row.operator_name == "spare" and row.device.room == "LT9"
    assert row.to_obj()["name"] == "spare"  # the row's name is the operator's when no session names it


def test_wait_answers_settled_sessions_and_parks_the_rest() -> None:
    assert views.wait_result(session(1)) is None
    assert views.wait_result(session(1, applied_at=NOW)) == SessionWaited(1, "applied", None)
    assert views.wait_result(session(1, error="bad")) == SessionWaited(1, "rejected", "bad")
    assert views.wait_result(session(1, active=False)) == SessionWaited(1, "ended", None)


def test_sessions_report_and_courses() -> None:
    listed = views.sessions_result([session(1), session(2, applied_at=NOW)], {2: 5})
    assert [(s.session_id, s.applied, s.checkins) for s in listed.sessions] == [(1, False, 0), (2, True, 5)]
    checkins = [CheckinRecord(1, "U1", "dev-a", 1, "aa:bb:cc:dd:ee:01", NOW),
                CheckinRecord(1, "U2", "dev-a", 2, "aa:bb:cc:dd:ee:01", NOW)]
    report = views.report_result(AttendanceReportParams("CS101", "2024/2025", "1st"), [session(1), session(2)],
                                 checkins)
    assert report.held == 2 and [(s.student_id, s.percent, s.flagged) for s in report.students] == [
        ("U1", 50.0, 1), ("U2", 50.0, 1)]
    assert [(h.session_id, h.present) for h in report.sessions] == [(1, 2), (2, 0)]
