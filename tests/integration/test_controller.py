"""The controller against real brokers (amqtt and Mosquitto) and a real SQLite file.

Devices are hand-driven paho clients (conftest.Device) so each test says exactly what goes on the wire.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from controller.errors import ApiError, ControllerOffline
from controller.sim.simulator import SimConfig, Simulator
from tests.brokers import RunningBroker
from tests.conftest import Device, Recorder
from tests.contract import validate_publish
from tests.waiting import eventually

START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester", "lecturer": "alice"}


def online_device(make_device: Callable[..., Device], device_id: str, boot: int = 1) -> Device:
    device = make_device(device_id, boot)
    device.birth()
    device.heartbeat()
    return device


def wait_online(client: FleetClient, n: int) -> dict[str, object]:
    result: dict[str, object] = {}

    def check() -> bool:
        result.update(client.call("devices.list"))
        return result["online"] == n

    eventually(check)
    return result


def test_session_lands_on_the_freshest_free_device_and_is_applied(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    make_device: Callable[..., Device], recorder: Recorder,
) -> None:
    start_controller()
    old = online_device(make_device, "esp32-00000000000a")
    time.sleep(0.3)
    fresh = online_device(make_device, "esp32-00000000000b")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 2)
        started = client.call("session.start", START)
        assert started["device"] == fresh.id
        config = fresh.wait_config()
        assert config == started["config"]
        assert config["ssid"] == "CS101_Attendance_2024_2025"
        assert config["device_id"] == "ESP32_CS101_2024_2025_1st_Semester"
        assert config["device_name"] == "CS101 - Introduction to Computer Science"
        assert config["location"] == "CS101 Classroom - 2024/2025 1st Semester"
        assert config["password"] == "" and config["lecturer"] == "alice"
        fresh.apply_latest()
        waited = client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})
        assert waited["status"] == "applied"
        sessions = client.call("session.list", {"active": True})["sessions"]
        assert [(s["session_id"], s["device"], s["applied"]) for s in sessions] == [
            (started["session_id"], fresh.id, True)]

        second = client.call("session.start", START | {"course": "EE201"})
        assert second["device"] == old.id  # the fresh one is busy now
        with pytest.raises(ApiError) as caught:
            client.call("session.start", START | {"course": "MA100"})
        assert caught.value.code == "no_device_available"

        fleet = client.call("devices.list")
        assert (fleet["total"], fleet["online"], fleet["offline"], fleet["available"]) == (2, 2, 0, 0)

        ended = client.call("session.end", {"session_id": started["session_id"]})
        idle = fresh.wait_config(newer_than=int(config["version"]))
        assert idle == {"v": 1, "version": int(config["version"]) + 1, "active_session": False}
        assert ended["config"] == idle
    # the retained config is what a rebooting device gets on subscribe
    assert recorder.wait_for(lambda t, o: t == fresh.topic("config") and o == idle) == idle
    retained = [(t, p) for t, p, r in recorder.messages if t == fresh.topic("config")]
    assert json.loads(retained[-1][1]) == idle
    for topic, payload, _ in recorder.messages:
        if not topic.endswith("/requests"):
            validate_publish(topic, payload, root)


def test_will_and_ttl_make_devices_offline(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller(heartbeat_ttl_s=3)
    killed = online_device(make_device, "esp32-0000000000c1")
    silent = online_device(make_device, "esp32-0000000000c2")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 2)
        killed.kill()  # the broker publishes its will: offline long before the TTL

        def only_silent_online() -> bool:
            silent.heartbeat()
            rows = {d["id"]: d["online"] for d in client.call("devices.list")["devices"]}
            return rows == {killed.id: False, silent.id: True}

        eventually(only_silent_online, timeout=2.5)
        # now the silent one sends nothing more, though connected: the TTL takes it offline
        eventually(lambda: client.call("devices.list")["online"] == 0, timeout=6)
        with pytest.raises(ApiError) as caught:
            client.call("session.start", START)
        assert caught.value.code == "no_device_available"


def test_stale_will_of_an_older_boot_is_ignored(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    ctl = start_controller()
    device = online_device(make_device, "esp32-0000000000d1", boot=5)
    device.send("status", {"v": 1, "online": False, "boot": 4}, retain=True)
    with FleetClient(broker.url, root) as client:
        eventually(lambda: ctl.stats.rejected["stale_status"] == 1)
        assert client.call("devices.list")["online"] == 1


def test_attendance_is_stored_once_acked_and_rejections_recorded(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    device = online_device(make_device, "esp32-0000000000e1")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        session_id = client.call("session.start", START)["session_id"]
        batch = {"v": 1, "id": device.id, "session_id": session_id, "events": [
            {"seq": 1, "student_id": "U2021/0042", "station_mac": "aa:bb:cc:dd:ee:ff", "uptime_ms": 5},
            {"seq": 2, "student_id": "U2021/0043"},
            {"seq": 3, "student_id": "not a student!"},
        ]}
        device.send("attendance", batch)
        eventually(lambda: any(a.get("upto") == 3 for a in device.acks))
        device.send("attendance", batch)  # a resend after a lost ack: nothing doubles
        eventually(lambda: len(device.acks) == 2)
        device.send("attendance", {"v": 1, "session_id": 999, "events": [{"seq": 4, "student_id": "U1"}]})
        eventually(lambda: len(device.acks) == 3 and device.acks[-1]["upto"] == 4)
        result = client.call("attendance.list", {"session_id": session_id})
        assert sorted(r["student_id"] for r in result["records"]) == ["U2021/0042", "U2021/0043"]
        assert [(r["student_id"], r["reason"]) for r in result["rejected"]] == [("not a student!", "bad_student_id")]
        stats = client.call("stats")
        assert stats["checkins"]["stored"] == 2 and stats["checkins"]["duplicate"] == 2
        # refused events of acknowledged batches count per event, beside stored and duplicate
        assert stats["checkins"]["bad_student_id"] == 2 and stats["checkins"]["unknown_session"] == 1
        assert "unknown_session" not in stats["rejected"] and "bad_student_id" not in stats["rejected"]


GARBAGE: list[tuple[str, bytes, str]] = [
    ("heartbeat", b"{not json", "bad_json"),
    ("heartbeat", b"[1,2,3]", "not_object"),
    ("heartbeat", b'{"v":2,"boot":1,"uptime_s":1}', "bad_version"),
    ("heartbeat", b'{"v":1,"boot":"x","uptime_s":1}', "schema"),
    ("status", b'{"v":1,"online":"yes","boot":1}', "schema"),
    ("state", b'{"v":1,"config_version":1,"result":"maybe"}', "schema"),
    ("attendance", b'{"v":1,"session_id":1,"events":[]}', "schema"),
    ("attendance", b"x" * 2000, "too_large"),
    ("heartbeat", b'{"v":1,"id":"esp32-ffffffffffff","boot":1,"uptime_s":1}', "id_mismatch"),
]


def test_bad_input_is_counted_per_reason_and_never_stops_the_controller(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    ctl = start_controller()
    device = online_device(make_device, "esp32-0000000000f1")
    for leaf, payload, _ in GARBAGE:
        device.send(leaf, payload)
    device.client.publish(f"{root}/devices/BAD_ID/heartbeat", b"{}", qos=1).wait_for_publish(5)
    device.client.publish(f"{root}/devices/{device.id}/nonsense", b"{}", qos=1).wait_for_publish(5)
    device.client.publish(f"{root}/controller/requests/x", b"\x00\xff", qos=1).wait_for_publish(5)
    hijack = {"v": 1, "id": "x1", "reply_to": device.topic("config"), "method": "stats"}  # aim a reply at a device
    device.client.publish(f"{root}/controller/requests/x", json.dumps(hijack), qos=1).wait_for_publish(5)
    device.client.publish(f"{root}/controller/requests/-x", json.dumps(hijack), qos=1).wait_for_publish(5)  # bad user
    expected: dict[str, int] = {"bad_reply_to": 1}
    for _, _, reason in GARBAGE:
        expected[reason] = expected.get(reason, 0) + 1
    expected |= {"bad_device_id": 1, "bad_json": expected["bad_json"] + 1, "bad_topic": 1}
    with FleetClient(broker.url, root) as client:
        eventually(lambda: all(ctl.stats.rejected[r] >= n for r, n in expected.items()))
        stats = client.call("stats")
        for reason, n in expected.items():
            assert stats["rejected"][reason] == n, reason
        fleet = client.call("devices.list")
        assert fleet["online"] == 1, fleet  # and it still answers
        assert device.configs == []  # nothing was published onto the device's config topic
        with pytest.raises(ApiError) as caught:
            client.call("session.start", {"course": "CS 101!", "title": "t", "session": "s", "semester": "x"})
        assert caught.value.code == "bad_request"
        with pytest.raises(ApiError) as caught:
            client.call("no.such.method")
        assert caught.value.code == "unknown_method"


def test_device_ahead_of_the_database_gets_a_higher_version(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    device = online_device(make_device, "esp32-000000000101")
    # a reflashed/reset world: the device says it applied version 9 long ago
    device.send("state", {"v": 1, "config_version": 9, "result": "applied", "active_session": False}, retain=True)
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        started = client.call("session.start", START)
        assert started["config"]["version"] == 10
        device.apply_latest()
        assert client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})["status"] == \
            "applied"


def test_rejected_config_is_reported_and_the_session_stays(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    device = online_device(make_device, "esp32-000000000201")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        started = client.call("session.start", START)
        version = started["config"]["version"]
        device.send("state", {"v": 1, "config_version": version, "result": "rejected", "error": "softAP failed"},
                    retain=True)
        waited = client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})
        assert waited == {"session_id": started["session_id"], "status": "rejected", "error": "softAP failed"}
        [row] = client.call("session.list", {"active": True})["sessions"]
        assert row["error"] == "softAP failed" and row["active"]


def test_restart_republishes_desired_configs_and_keeps_the_fleet_table(
    broker: RunningBroker, root: str, db_url: str, start_controller: Callable[..., Controller],
    make_device: Callable[..., Device],
) -> None:
    first = start_controller()
    device = online_device(make_device, "esp32-000000000301")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        started = client.call("session.start", START)
    device.wait_config()
    first.stop()
    device.configs.clear()
    # the broker lost the retained config (e.g. restarted without persistence)
    device.client.publish(device.topic("config"), b"", qos=1, retain=True).wait_for_publish(5)
    start_controller()
    again = device.wait_config(timeout=8)
    assert again == started["config"]  # same version: the device ignores it if it has it already
    with FleetClient(broker.url, root) as client:
        fleet = client.call("devices.list")
        assert fleet["online"] == 1 and fleet["devices"][0]["session_id"] == started["session_id"]


def retained_configs(broker: RunningBroker, root: str, settle_s: float = 0.5) -> dict[str, dict[str, object]]:
    """Every config the broker holds retained under `root`, read by a fresh subscriber."""
    found: dict[str, dict[str, object]] = {}
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"peek-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311)

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            found[msg.topic.split("/")[-2]] = json.loads(msg.payload)

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.subscribe(f"{root}/devices/+/config", qos=1)
    client.loop_start()
    time.sleep(settle_s)
    client.disconnect()
    client.loop_stop()
    return found


def test_a_broker_restarted_empty_gets_every_desired_config_back(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
) -> None:
    # Devices that behave like the firmware: on every reconnect they re-send their retained birth
    # and state, so the controller sees desired == reported; it must still re-retain the configs.
    start_controller()
    with Simulator(SimConfig(broker_url=broker.url, root=root, count=3, id_prefix="rp-", heartbeat_s=0.5,
                             seed=11)) as sim, FleetClient(broker.url, root) as client:
        assert sim.wait_connected(3, timeout=10)
        wait_online(client, 3)
        kept = client.call("session.start", START)
        ended = client.call("session.start", START | {"course": "CS102"})
        for started in (kept, ended):
            assert client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 10})["status"] \
                == "applied"
        idle = client.call("session.end", {"session_id": ended["session_id"]})["config"]
        eventually(lambda: sim.device(ended["device"]).config_version == idle["version"])
        desired = {kept["device"]: kept["config"], ended["device"]: idle}
        assert retained_configs(broker, root) == desired

        broker.restart()  # persistence off: it comes back with no retained message at all
        assert retained_configs(broker, root, settle_s=0.2) == {}
        eventually(lambda: retained_configs(broker, root) == desired, timeout=20)
        # nothing was re-issued: the devices kept their versions, the sessions stay applied
        assert sim.device(kept["device"]).config_version == kept["config"]["version"]
    with FleetClient(broker.url, root) as client:  # a new CLI call, as a lecturer's next command is
        [row] = client.call("session.list", {"active": True})["sessions"]
        assert row["applied"] and row["session_id"] == kept["session_id"]


def test_controller_presence_and_offline_cli_error(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], recorder: Recorder,
) -> None:
    with FleetClient(broker.url, root, presence_timeout=0.5) as client, pytest.raises(ControllerOffline):
        client.call("stats")
    ctl = start_controller()
    birth = recorder.wait_for(lambda t, o: t.endswith("/controller/status") and o["online"] is True)
    assert birth["controller_id"] == ctl.settings.controller_id
    ctl.stop()
    bye = recorder.wait_for(lambda t, o: t.endswith("/controller/status") and o["online"] is False)
    assert bye["reason"] == "shutdown"
    with FleetClient(broker.url, root, presence_timeout=2) as client, pytest.raises(ControllerOffline):
        client.call("stats")


def test_read_requests_answer_from_the_present_and_change_nothing(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="controller")
    ctl = start_controller()
    ctl.halt_ticks()  # nothing but the requests themselves may touch the controller's state now
    online_before = ctl.fleet.online()
    device = online_device(make_device, "esp32-000000000601")
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)  # the present, not the last tick
        listed = {d["id"]: d for d in client.call("device.list")["devices"]}
        assert listed[device.id]["online"] is True
    assert ctl.fleet.online() == online_before  # no transition recorded by a read ...
    assert not [r for r in caplog.records if f"device {device.id} online" in r.getMessage()]  # ... nor logged
