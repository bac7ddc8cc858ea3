"""The typed answers of read requests, built from plain values (no broker, no database)."""

from __future__ import annotations

from controller.contract.messages import Config, Heartbeat, State
from controller.contract.requests import AttendanceReportParams, DevicesListParams
from controller.contract.results import SessionWaited
from controller.core import views
from controller.core.liveness import DeviceLive
from controller.core.values import CheckinRecord, Desired, DeviceEntry, DeviceInfo, ServedRecord, SessionRecord

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


def test_check_ins_are_counted_per_minute_from_the_start_and_long_sessions_use_wider_buckets() -> None:
    assert views.timeline([NOW + 5, NOW + 59.9, NOW + 60, NOW + 250], NOW, NOW + 300) == (60, (2, 1, 0, 0, 1))
    assert views.timeline([], NOW, NOW) == (60, (0,))  # just started: one empty bucket
    assert views.timeline([NOW - 3, NOW + 900], NOW, NOW + 120) == (60, (1, 1))  # out of span: the nearest
    width, counts = views.timeline([NOW + 7100], NOW, NOW + 7200)  # two hours: 2-minute bars
    assert (width, len(counts), counts[-1]) == (120, 60, 1)


def test_session_shown_gives_each_devices_slots_and_check_ins_and_the_timeline() -> None:
    record = session(7, devices=("dev-a", "dev-b"), started_at=NOW - 120)
    live = {"dev-a": DeviceLive("dev-a", boot=1, last_seen=NOW), "dev-b": DeviceLive("dev-b", boot=1, last_seen=NOW)}
    live["dev-a"].heartbeat = Heartbeat(1, 5, stations=10, stations_peak=10, stations_refused=3)
    live["dev-a"].reported = State(3, "applied", True, 7, "S")
    history = [ServedRecord("dev-c", NOW - 120, NOW - 60, "moved"), ServedRecord("dev-a", NOW - 120, None, None),
               ServedRecord("dev-b", NOW - 60, None, None)]
    checkins = [CheckinRecord(7, f"U{i}", device, i, None, NOW - 100 + 30 * i)
                for i, device in enumerate(("dev-c", "dev-a", "dev-a", "dev-b"))]
    desired = {"dev-a": Desired("dev-a", Config(3), 7), "dev-b": Desired("dev-b", Config(4), 7)}
    shown = views.session_shown(record, history, checkins, 2, devices=live, desired=desired, online={"dev-a"}, now=NOW)
    assert [(d.device, d.left_why, d.online, d.applied, d.stations, d.stations_refused, d.checkins)
            for d in shown.devices] == [("dev-c", "moved", False, False, None, None, 1),
                                        ("dev-a", None, True, True, 10, 3, 2),
                                        ("dev-b", None, False, False, None, None, 1)]
    assert (shown.bucket_s, shown.timeline, shown.rejected, shown.session.checkins) == (60, (2, 2), 2, 4)
