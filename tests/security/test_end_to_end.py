"""End to end on the secure profile, both brokers: the controller with its own account, a device
with its own, and a lecturer's `fleet` CLI over TLS with a pinned CA, as a deployment runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.contract.roles import Role
from controller.daemon.controller import Controller
from tests.brokers import HOST, RunningBroker
from tests.conftest import fast_settings
from tests.security.conftest import Profile, TlsFiles
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[2]


class Device:
    """A device speaking the contract with its own credentials: birth, heartbeat, and it applies
    every config it receives."""

    def __init__(self, broker: RunningBroker, root: str, device_id: str, password: str) -> None:
        self.topic = f"{root}/devices/{device_id}"
        self.id = device_id
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
        self.client.username_pw_set(device_id, password)
        self.client.will_set(f"{self.topic}/status", json.dumps({"v": 1, "id": device_id, "online": False,
                                                                 "boot": 1}), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port_of(tls=False))
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *_: object) -> None:
        client.subscribe([(f"{self.topic}/config", 1), (f"{self.topic}/attendance/ack", 1)])
        client.publish(f"{self.topic}/status", json.dumps({"v": 1, "id": self.id, "online": True, "boot": 1}),
                       qos=1, retain=True)
        client.publish(f"{self.topic}/heartbeat", json.dumps({"v": 1, "id": self.id, "boot": 1, "uptime_s": 1}))

    def _on_message(self, client: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        if not message.topic.endswith("/config") or not message.payload:
            return
        config = json.loads(message.payload)
        state = {"v": 1, "id": self.id, "config_version": config["version"], "result": "applied",
                 "active_session": config["active_session"]}
        if config["active_session"]:
            state |= {"session_id": config["session_id"], "ssid": config["ssid"]}
        client.publish(f"{self.topic}/state", json.dumps(state), qos=1, retain=True)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def deployment(profile: Profile, secure_broker: RunningBroker, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Controller and device connected with their own accounts; the lecturer's broker URL."""
    controller_password = profile.user("controller", Role.CONTROLLER)
    lecturer_password = profile.user("alice", Role.LECTURER)
    device_password = profile.device("esp32-a1b2c3d4e5f6")
    local = secure_broker.port_of(tls=False)
    controller = Controller(fast_settings(f"mqtt://controller:{controller_password}@{HOST}:{local}", profile.root,
                                          f"sqlite:///{tmp_path / 'fleet.db'}"))
    controller.start()
    device = Device(secure_broker, profile.root, "esp32-a1b2c3d4e5f6", device_password)
    tls = secure_broker.port_of(tls=True)
    lecturer = f"mqtts://alice:{lecturer_password}@{HOST}:{tls}?cafile={profile.spec.cafile}"
    with FleetClient(lecturer, profile.root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1, 5, "the device online")
    yield {"lecturer": lecturer, "wrong": f"mqtts://alice:wrong@{HOST}:{tls}?cafile={profile.spec.cafile}",
           "root": profile.root}
    controller.stop()
    device.close()


def _fleet(url: str, root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "--broker", url, "--root", root, *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO)


def test_a_lecturer_starts_a_session_over_tls_with_credentials(deployment: dict[str, str],
                                                                tls_files: TlsFiles) -> None:
    url, root = deployment["lecturer"], deployment["root"]
    done = _fleet(url, root, "session", "start", "CS101", "--title", "Introduction to Computer Science",
                  "--session", "2024/2025", "--semester", "1st Semester", "--lecturer", "alice", "--timeout", "10",
                  "--json")
    assert done.returncode == 0, done.stderr
    started = json.loads(done.stdout)
    assert (started["device"], started["applied"]) == ("esp32-a1b2c3d4e5f6", True)
    done = _fleet(deployment["wrong"], root, "devices", "--json")
    assert done.returncode == 1
    assert done.stderr.startswith("error: the broker at mqtts://127.0.0.1:") and "refused" in done.stderr
    assert "wrong" not in done.stderr  # the password is never printed
