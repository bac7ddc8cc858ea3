"""End to end with the real firmware logic: `fleet-device` host processes against a real broker and
`fleet controller`, checked from outside through MQTT, HTTP and the request API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.broker.startup import free_port
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.conftest import Recorder
from tests.hostdevice import START, HostDevice, attendance, last_heartbeat, online, start_applied
from tests.waiting import eventually


def test_session_applies_on_a_host_device_and_a_checkin_is_stored_once(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice], recorder: Recorder,
) -> None:
    start_controller()
    devices = [host_devices(f"esp32-00000000000{i}") for i in (1, 2, 3)]
    with FleetClient(broker.url, root) as client:
        online(client, 3)
        t0 = time.monotonic()
        started = client.call("session.start", START)
        waited = client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})
        elapsed = time.monotonic() - t0
        assert waited["status"] == "applied"
        assert elapsed < 1.0, f"applied after {elapsed:.2f} s"
        chosen = next(d for d in devices if d.id == started["device"])
        assert chosen.ap()["ssid"] == "CS101_Attendance_2024_2025"
        assert chosen.ap()["running"] is True
        status, page = chosen.get("/")
        assert status == 200 and "CS101" in page and "student_id" in page

        status, body = chosen.checkin("U2021/0042")
        assert status == 200 and "checked in" in body.lower()
        status, body = chosen.checkin("U2021/0042")
        assert status == 200 and "already" in body.lower()
        status, body = chosen.checkin("not a student!")
        assert status == 400
        idle = next(d for d in devices if d.id != started["device"])
        status, body = idle.checkin("U2021/0001")
        assert 400 <= status < 500  # no active session on that device

        eventually(lambda: attendance(client, started["session_id"]) == ["U2021/0042"], 10, "one row")

        def drained() -> bool:
            hb = last_heartbeat(recorder, chosen.id)
            return hb is not None and hb.queued == 0
        eventually(drained, 10, "queue drained")
        assert attendance(client, started["session_id"]) == ["U2021/0042"]


def test_kill9_restart_applies_from_flash_and_resends_unacked(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice],
) -> None:
    start_controller()
    device = host_devices("esp32-0000000000a1")
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = start_applied(client)
        device.kill9()
        (device.state_dir / "ap.json").unlink()  # prove the AP is reopened from flash, not from the broker
        dead = f"mqtt://127.0.0.1:{free_port()}"  # the broker is unreachable for this boot
        device.start(broker_url=dead)
        eventually(lambda: device.ap().get("ssid") == "CS101_Attendance_2024_2025", 5, "AP from flash")
        assert device.checkin("U2021/0100")[0] == 200
        assert device.checkin("U2021/0101")[0] == 200
        device.kill9()  # unacked check-ins live in flash only now
        device.start()
        eventually(lambda: attendance(client, started["session_id"]) == ["U2021/0100", "U2021/0101"], 15,
                   "resent check-ins")
        time.sleep(1.5)
        assert attendance(client, started["session_id"]) == ["U2021/0100", "U2021/0101"]


def test_bad_and_old_configs(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice], recorder: Recorder,
) -> None:
    start_controller()
    device = host_devices("esp32-0000000000b1")
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = client.call("session.start", START)
        client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})
        good = started["config"]
    topic = f"{root}/devices/{device.id}/config"
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    try:
        bad = dict(good, version=good["version"] + 1, ssid="S" * 40)
        pub.publish(topic, json.dumps(bad), qos=1, retain=True).wait_for_publish(5)
        state = recorder.wait_for(lambda t, o: t.endswith(f"{device.id}/state") and o["result"] == "rejected", 10)
        assert state["config_version"] == good["version"] + 1 and "ssid" in str(state["error"]).lower()
        assert device.ap()["ssid"] == good["ssid"]  # the previous config is kept

        n_states = len([t for t, _, _ in recorder.messages if t.endswith(f"{device.id}/state")])
        older = dict(good, version=good["version"] - 1 if good["version"] > 1 else 0, ssid="OLDER")
        pub.publish(topic, json.dumps(older), qos=1, retain=True).wait_for_publish(5)
        time.sleep(1.0)
        assert device.ap()["ssid"] == good["ssid"]  # a lower version is ignored
        assert len([t for t, _, _ in recorder.messages if t.endswith(f"{device.id}/state")]) == n_states
    finally:
        pub.loop_stop()
        pub.disconnect()


def test_checkins_during_a_broker_outage_arrive_after_it_returns(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice],
) -> None:
    start_controller()
    device = host_devices("esp32-0000000000c1")
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = client.call("session.start", START)
        client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})
    broker.stop()
    taken = [f"U2024/{i:04d}" for i in range(1, 6)]
    for student in taken:
        assert device.checkin(student)[0] == 200  # the portal keeps working while the broker is gone
    time.sleep(20)
    broker.restart()
    with FleetClient(broker.url, root, presence_timeout=15) as client:
        eventually(lambda: attendance(client, started["session_id"]) == taken, 40, "check-ins after the outage")
