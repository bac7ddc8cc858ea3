"""Flapping devices and two devices sharing one client id are flagged, and do not disturb the others."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.waiting import eventually


def twin(broker: RunningBroker, root: str, device_id: str, boot: int) -> paho.Client:
    """A device that announces itself (birth + heartbeat) on every (re)connect, as firmware does."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
    client.reconnect_delay_set(0.2, 0.5)
    topic = f"{root}/devices/{device_id}"

    def on_connect(c: paho.Client, *_: object) -> None:
        c.publish(f"{topic}/status", json.dumps({"v": 1, "online": True, "boot": boot}), qos=1, retain=True)
        c.publish(f"{topic}/heartbeat", json.dumps({"v": 1, "boot": boot, "uptime_s": 1}), qos=0)

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=5)
    client.loop_start()
    return client


@pytest.fixture
def twins(broker: RunningBroker, root: str) -> Iterator[list[paho.Client]]:
    """Two devices with one id, each heartbeating. Mosquitto makes them take the connection from each
    other in turn; amqtt 0.12 (against the MQTT spec) keeps both connected."""
    made = [twin(broker, root, "esp32-00000000beef", 7), twin(broker, root, "esp32-00000000beef", 3)]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.3):
            for boot, client in zip((7, 3), made, strict=True):
                client.publish(f"{root}/devices/esp32-00000000beef/heartbeat",
                               json.dumps({"v": 1, "boot": boot, "uptime_s": 1}))

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    yield made
    stop.set()
    beating.join()
    for client in made:
        client.loop_stop()
        client.disconnect()


def test_twins_are_flagged_and_a_neighbour_is_undisturbed(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
    twins: list[paho.Client],
) -> None:
    start_controller()
    neighbour = make_device("esp32-00000000cafe")
    neighbour.birth()
    neighbour.heartbeat()
    with FleetClient(broker.url, root) as client:

        def flags() -> dict[str, list[str]]:
            return {d["id"]: d["flags"] for d in client.call("devices.list")["devices"]}

        eventually(lambda: "duplicate_id" in flags().get("esp32-00000000beef", []))
        rows = {d["id"]: d for d in client.call("devices.list")["devices"]}
        assert rows["esp32-00000000cafe"]["flags"] == [] and rows["esp32-00000000cafe"]["online"] is True
        started = client.call("session.start", {"course": "CS101", "title": "Intro", "session": "2024/2025",
                                                "semester": "1st", "device": neighbour.id})
        assert started["device"] == neighbour.id
