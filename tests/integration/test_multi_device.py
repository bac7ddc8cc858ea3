"""A session on several devices against real brokers: claimed by the capacity model, one SSID on
every device, check-ins from each landing once, all released at the end (issue 13)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from controller.adapters.client import FleetClient
from controller.contract.requests import AttendanceReportParams, SessionScaleParams, SessionStartParams
from controller.contract.rosters import AttendanceMarkParams, CourseSetParams, RosterEntry
from controller.core.capacity import capacity, devices_for
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.integration.test_controller import START, online_device, wait_online
from tests.waiting import eventually

IDS = ("esp32-0000000000f1", "esp32-0000000000f2", "esp32-0000000000f3")


def test_a_big_lecture_runs_on_several_devices_and_each_student_lands_once(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    devices = {i: online_device(make_device, i) for i in IDS}
    wanted = devices_for(150)
    assert 1 < wanted <= len(IDS)
    with FleetClient(broker.url, root) as client:
        wait_online(client, len(IDS))
        started = client.call("session.start", START | {"students": 150})
        session_id = started["session_id"]
        assert len(started["devices"]) == wanted and started["devices"][0] == started["device"]
        configs = [devices[d].wait_config() for d in started["devices"]]
        assert {c["ssid"] for c in configs} == {"CS101_Attendance_2024_2025"}
        assert {(c["session_id"], c["device_id"], c["location"]) for c in configs} == {
            (session_id, "ESP32_CS101_2024_2025_1st_Semester", "CS101 Classroom - 2024/2025 1st Semester")}
        [row] = client.call("session.list", {"active": True})["sessions"]
        assert row["devices"] == started["devices"] and row["device"] == started["device"]

        first, second = (devices[d] for d in started["devices"][:2])
        first.send("attendance", {"v": 1, "id": first.id, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0042"}, {"seq": 2, "student_id": "U2021/0043"}]})
        second.send("attendance", {"v": 1, "id": second.id, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0042"}, {"seq": 2, "student_id": "U2021/0044"}]})
        eventually(lambda: any(a.get("upto") == 2 for a in first.acks) and any(a.get("upto") == 2 for a in second.acks))
        records = client.call("attendance.list", {"session_id": session_id})["records"]
        assert sorted(r["student_id"] for r in records) == ["U2021/0042", "U2021/0043", "U2021/0044"]

        client.call("session.end", {"session_id": session_id})
        for d, active in zip(started["devices"], configs, strict=True):
            assert devices[d].wait_config(newer_than=int(str(active["version"])))["active_session"] is False
        eventually(lambda: client.call("devices.list")["available"] == len(IDS))


def test_too_few_free_devices_says_so_and_anyway_takes_what_is_free(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    devices = {i: online_device(make_device, i) for i in IDS[:2]}
    with FleetClient(broker.url, root) as client:
        wait_online(client, 2)
        with pytest.raises(ApiError) as caught:
            client.call("session.start", START | {"devices": 3})
        assert caught.value.code == "not_enough_devices"
        assert caught.value.message == (f"3 devices wanted but only 2 free: 2 check in about {capacity(2)} students "
                                        "in 5 minutes; pass --anyway to start on them")
        assert client.call("session.list")["sessions"] == []
        started = client.call("session.start", START | {"devices": 3, "anyway": True})
        assert sorted(started["devices"]) == sorted(devices)
        for device in devices.values():
            assert device.wait_config()["session_id"] == started["session_id"]


def test_a_running_session_gains_and_releases_devices_and_shows_them(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    devices = {i: online_device(make_device, i) for i in IDS}
    with FleetClient(broker.url, root) as client:
        wait_online(client, len(IDS))
        started = client.start_session(SessionStartParams("CS101", "Intro", "2024/2025", "1st Semester"))
        session_id, first = started.session_id, started.device
        ssid = devices[first].wait_config()["ssid"]
        grown = client.scale_session(SessionScaleParams(session_id, 3))
        assert grown.devices[0] == first and sorted(grown.devices) == sorted(IDS) and len(grown.added) == 2
        added = {d: devices[d].wait_config() for d in grown.added}
        assert {c["ssid"] for c in added.values()} == {ssid} and {c["session_id"] for c in added.values()} == {
            session_id}
        [row] = client.sessions(active=True).sessions
        assert sorted(row.devices) == sorted(IDS)
        added_one = grown.added[0]
        devices[added_one].send("attendance", {"v": 1, "id": added_one, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0042"}]})
        eventually(lambda: any(a.get("upto") == 1 for a in devices[added_one].acks))

        with pytest.raises(ApiError) as caught:  # no fourth device in the room
            client.scale_session(SessionScaleParams(session_id, 4))
        assert caught.value.code == "no_device_available"
        shrunk = client.scale_session(SessionScaleParams(session_id, 1))
        assert shrunk.devices == (first,) and sorted(shrunk.released) == sorted(grown.added)
        for d in grown.added:
            assert devices[d].wait_config(newer_than=int(str(added[d]["version"])))["active_session"] is False
        shown = client.show_session(session_id)
        assert [(d.device, d.left_why) for d in shown.devices] == [(first, None)] + [
            (d, "released") for d in grown.added]
        assert {d.device: d.checkins for d in shown.devices}[added_one] == 1 and shown.session.checkins == 1
        client.end_session(session_id)
        assert [d.left_why for d in client.show_session(session_id).devices] == ["ended", "released", "released"]


def test_a_roster_of_n_with_k_check_ins_reports_n_rows_and_n_minus_k_absent(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    """Through a real controller and two devices: every enrolled student is a row, those who never
    came absent at 0 %, the late ones by the course's grace, a stranger kept and flagged."""
    start_controller()
    devices = {i: online_device(make_device, i) for i in IDS[:2]}
    roster = [RosterEntry(f"U2021/{i:04d}", f"Student {i}") for i in range(12)]
    late_after = 3.0
    with FleetClient(broker.url, root) as client:
        wait_online(client, 2)
        client.import_roster("CS101", roster, replace=True)
        client.set_course(CourseSetParams("CS101", late_after))
        t0 = time.time()
        started = client.call("session.start", START | {"devices": 2})
        session_id = started["session_id"]
        first, second = (devices[d] for d in started["devices"])
        first.send("attendance", {"v": 1, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0000"}, {"seq": 2, "student_id": "U2021/0001"}]})
        second.send("attendance", {"v": 1, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0002"}, {"seq": 2, "student_id": "U2021/0003"},
            {"seq": 3, "student_id": "X9"}]})
        eventually(lambda: any(a.get("upto") == 2 for a in first.acks) and any(a.get("upto") == 3 for a in second.acks))
        time.sleep(max(0.0, t0 + late_after + 1.0 - time.time()))
        first.send("attendance", {"v": 1, "session_id": session_id, "events": [
            {"seq": 3, "student_id": "U2021/0004"}, {"seq": 4, "student_id": "U2021/0005"}]})
        second.send("attendance", {"v": 1, "session_id": session_id, "events": [
            {"seq": 4, "student_id": "U2021/0006"}]})
        eventually(lambda: any(a.get("upto") == 4 for a in first.acks) and any(a.get("upto") == 4 for a in second.acks))
        on_roster = {r.student_id: r.on_roster for r in client.attendance(session_id).records}
        assert on_roster["X9"] is False and on_roster["U2021/0000"] is True
        client.mark(AttendanceMarkParams(session_id, "U2021/0011", "excused", "field trip"))
        client.call("session.end", {"session_id": session_id})

        report = client.report(AttendanceReportParams("CS101", "2024/2025", "1st Semester"))
    k = 7
    rows = {s.student_id: s for s in report.students}
    enrolled = [s for s in report.students if s.enrolled]
    assert len(enrolled) == len(roster) == report.enrolled
    assert sum(s.absent for s in enrolled) == len(roster) - k - 1  # the excused one is not absent
    assert {s.student_id for s in enrolled if s.present} == {f"U2021/{i:04d}" for i in range(4)}
    assert {s.student_id for s in enrolled if s.late} == {f"U2021/{i:04d}" for i in range(4, 7)}
    assert rows["U2021/0010"].percent == 0.0 and rows["U2021/0010"].warnings == ("low_attendance",)
    assert (rows["U2021/0011"].excused, rows["U2021/0011"].warnings) == (1, ())
    assert not rows["X9"].enrolled and rows["X9"].warnings == ("not_on_roster",)
    assert [m.by for m in report.marks] == [client.user] and report.sessions[0].present == k + 1
