"""Failover: a session whose device stays offline past its grace period moves to the freshest free device."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.waiting import eventually

START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester", "failover_grace_s": 1}


def alive(make_device: Callable[..., Device], device_id: str, boot: int = 1) -> Device:
    device = make_device(device_id, boot)
    device.birth()
    device.heartbeat()
    return device


def session(client: FleetClient, session_id: int) -> dict[str, object]:
    return next(s for s in client.call("session.list")["sessions"] if s["session_id"] == session_id)


def checkin(device: Device, session_id: int, seq: int, student: str) -> None:
    device.send("attendance", {"v": 1, "session_id": session_id, "events": [{"seq": seq, "student_id": student}]})
    eventually(lambda: any(a["upto"] == seq for a in device.acks))


@pytest.mark.parametrize("broker", ["amqtt", "mosquitto"], indirect=True)
def test_a_dead_device_hands_its_session_over_and_both_devices_checkins_count(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    first = alive(make_device, "esp32-0000000006a1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        started = client.call("session.start", START)
        sid = started["session_id"]
        assert started["device"] == first.id
        config = first.apply_latest()
        checkin(first, sid, 1, "U1")
        standby = alive(make_device, "esp32-0000000006b1")
        eventually(lambda: client.call("devices.list")["online"] == 2)
        killed_at = time.monotonic()
        first.kill()  # brown-out: the will says offline
        moved = standby.wait_config(timeout=10)
        took = time.monotonic() - killed_at
        assert moved["session_id"] == sid and moved["ssid"] == config["ssid"]  # students keep the same Wi-Fi
        assert took < 1 + 5, f"moved after {took:.1f} s"
        standby.apply_latest()
        assert client.call("session.wait", {"session_id": sid, "timeout_s": 5})["status"] == "applied"
        checkin(standby, sid, 1, "U2")
        row = session(client, sid)
        assert (row["device"], row["moves"], row["moved_from"], row["degraded"]) == (standby.id, 1, first.id, False)
        records = client.call("attendance.list", {"session_id": sid})["records"]
        assert sorted((r["student_id"], r["device"]) for r in records) == [("U1", first.id), ("U2", standby.id)]
        # the old device comes back: it finds a newer idle config waiting (retained)
        back = make_device(first.id, boot=2)
        idle = back.wait_config()
        assert idle["active_session"] is False and idle["version"] > config["version"]


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_no_free_device_marks_the_session_degraded_until_one_appears(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    only = alive(make_device, "esp32-0000000007a1")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        sid = client.call("session.start", START)["session_id"]
        only.kill()
        eventually(lambda: session(client, sid)["degraded"] is True)
        rescuer = alive(make_device, "esp32-0000000007b1")
        assert rescuer.wait_config(timeout=10)["session_id"] == sid
        eventually(lambda: session(client, sid)["degraded"] is False)
        assert session(client, sid)["device"] == rescuer.id
