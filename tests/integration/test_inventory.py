"""Rooms, the device inventory, approval and the semester report, through the request API."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from controller.adapters.client import FleetClient
from controller.contract.rosters import RosterEntry
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker
from tests.conftest import Device, Recorder
from tests.waiting import eventually

START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester"}
pytestmark = pytest.mark.parametrize("broker", ["amqtt"], indirect=True)


def alive(make_device: Callable[..., Device], device_id: str) -> Device:
    device = make_device(device_id)
    device.birth()
    device.heartbeat(rssi=-60, heap=120000, stations=3)
    return device


def code_of(call: Callable[[], object]) -> str:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.code


def test_rooms_choose_only_devices_in_that_room(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    lt1 = alive(make_device, "esp32-0000000001a1")
    time.sleep(0.2)
    lt2_old = alive(make_device, "esp32-0000000001b1")
    time.sleep(0.2)
    anywhere = alive(make_device, "esp32-0000000001c1")  # the freshest, but in no room
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 3)
        client.call("device.set", {"device": lt1.id, "room": "LT1"})
        client.call("device.set", {"device": lt2_old.id, "room": "LT2", "name": "back wall"})
        started = client.call("session.start", START | {"room": "LT2"})
        assert started["device"] == lt2_old.id
        assert started["config"]["location"] == "CS101 LT2 - 2024/2025 1st Semester"
        with pytest.raises(ApiError) as caught:
            client.call("session.start", START | {"course": "EE201", "room": "LT2"})
        assert caught.value.code == "no_device_available"
        assert f"room LT2: {lt2_old.id} (busy: session {started['session_id']})" in caught.value.message
        fallback = client.call("session.start", START | {"course": "EE201", "room": "LT2", "any_room": True})
        assert fallback["device"] == anywhere.id  # the freshest free one, wherever it is
        with pytest.raises(ApiError) as caught:
            client.call("session.start", START | {"course": "MA100", "room": "LT9"})
        assert caught.value.message == "no device is placed in room LT9"
        rows = {d["id"]: d for d in client.call("devices.list")["devices"]}
        assert rows[lt1.id]["room"] == "LT1" and rows[lt2_old.id]["room"] == "LT2"
        assert rows[lt1.id]["rssi"] == -60 and rows[lt1.id]["heap"] == 120000 and rows[lt1.id]["stations"] == 3


def test_retired_devices_are_never_chosen_and_leave_the_totals(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    old = alive(make_device, "esp32-0000000002a1")
    time.sleep(0.2)
    fresh = alive(make_device, "esp32-0000000002b1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 2)
        client.call("device.retire", {"device": fresh.id})
        fleet = client.call("devices.list")
        assert (fleet["total"], fleet["online"], fleet["available"]) == (1, 1, 1)
        assert client.call("session.start", START)["device"] == old.id
        assert code_of(lambda: client.call("session.start", START | {"course": "EE201"})) == "no_device_available"
        assert code_of(lambda: client.call("session.start", START | {"course": "EE201", "device": fresh.id})) == \
            "unknown_device"
        assert code_of(lambda: client.call("device.retire", {"device": old.id})) == "device_busy"
        client.call("device.restore", {"device": fresh.id})
        assert client.call("session.start", START | {"course": "EE201"})["device"] == fresh.id

        client.call("device.set", {"device": "esp32-0000000002ff", "room": "LT3"})  # registered, never seen
        inventory = {d["id"]: d for d in client.call("device.list")["devices"]}
        assert inventory["esp32-0000000002ff"]["first_seen"] is None
        assert inventory["esp32-0000000002ff"]["room"] == "LT3"
        assert set(inventory) == {old.id, fresh.id, "esp32-0000000002ff"}


def test_forget_clears_retained_topics(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
    recorder: Recorder,
) -> None:
    start_controller()
    device = alive(make_device, "esp32-0000000003a1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        ended = client.call("session.start", START)
        client.call("session.end", {"session_id": ended["session_id"]})
        # a device still connected would reappear at once, with no birth, as offline: refused
        assert code_of(lambda: client.call("device.forget", {"device": device.id})) == "device_online"
        assert client.call("devices.list")["online"] == 1
        device.kill()
        eventually(lambda: client.call("devices.list")["online"] == 0)
        assert client.call("device.forget", {"device": device.id}) == {"device": device.id, "forgotten": True}
        eventually(lambda: [p for t, p, _ in recorder.messages if t == device.topic("config")][-1:] == [b""])
        assert all(d["id"] != device.id for d in client.call("device.list")["devices"])
        assert code_of(lambda: client.call("device.forget", {"device": device.id})) == "unknown_device"


def test_approval_holds_new_devices_until_approved(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    ctl = start_controller(require_approval=True)
    device = alive(make_device, "esp32-0000000004a1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: ctl.stats.rejected["unapproved"] >= 2)
        pending = {d["id"]: d for d in client.call("device.list")["devices"]}
        assert pending[device.id]["approved"] is False and pending[device.id]["online"] is True
        assert client.call("devices.list")["available"] == 0
        assert code_of(lambda: client.call("session.start", START)) == "no_device_available"
        client.call("device.approve", {"device": device.id})
        device.heartbeat()
        assert client.call("session.start", START)["device"] == device.id


def test_courses_are_remembered_and_the_report_counts_sessions(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    device = alive(make_device, "esp32-0000000005a1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        ids = []
        plan = [["U1", "U2"], ["U1"], ["U1", "U3"]]
        last = 0  # a device's seqs rise by one across sessions
        for n, students in enumerate(plan):
            params = START if n == 0 else {k: v for k, v in START.items() if k != "title"}
            sid = client.call("session.start", params)["session_id"]
            ids.append(sid)
            events = [{"seq": last + i + 1, "student_id": s, "station_mac": "aa:bb:cc:dd:ee:01" if n == 2 else
                       f"aa:bb:cc:dd:ee:{10 + i:02x}"} for i, s in enumerate(students)]
            device.send("attendance", {"v": 1, "session_id": sid, "events": events})
            last += len(students)
            eventually(lambda last=last: any(a["upto"] == last for a in device.acks))
            client.call("session.end", {"session_id": sid})
        assert client.call("courses.list")["courses"] == [{"code": "CS101", "title": START["title"]}]
        assert code_of(lambda: client.call("session.start", {"course": "MA100", "session": "2024/2025",
                                                             "semester": "1st Semester"})) == "bad_request"
        report = client.call("attendance.report", {"course": "CS101", "session": "2024/2025",
                                                   "semester": "1st Semester"})
        assert report["held"] == 3
        assert {s["student_id"]: (s["attended"], s["percent"], s["flagged"]) for s in report["students"]} == {
            "U1": (3, 100.0, 1), "U2": (1, 33.3, 0), "U3": (1, 33.3, 1)}
        assert [(s["session_id"], s["present"], s["flagged"]) for s in report["sessions"]] == [
            (ids[0], 2, 0), (ids[1], 1, 0), (ids[2], 2, 2)]


def test_a_large_roster_goes_in_several_requests_each_accepted_and_a_rerun_repairs(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
) -> None:
    """1,000 students: more than one 8 KB request; none is refused as too large; running the import
    again (as after a partial one) adds nothing and updates everyone; --replace shrinks the roster."""
    controller = start_controller()
    students = [RosterEntry(f"U2021/{i:04d}", f"Student with a rather long name number {i}", f"s{i}@example.edu")
                for i in range(1000)]
    with FleetClient(broker.url, root) as client:
        first = client.import_roster("CS101", students, replace=True)
        assert len(first) > 1 and sum(r.added for r in first) == 1000 and first[-1].total == 1000
        again = client.import_roster("CS101", students, replace=False)
        assert sum(r.added for r in again) == 0 and sum(r.updated for r in again) == 1000
        assert len(client.roster("CS101").students) == 1000
        assert client.import_roster("CS101", students[:10], replace=True)[-1].total == 10
    assert controller.stats.rejected["request_bad_request"] == 0
