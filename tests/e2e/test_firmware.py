"""End to end with the real firmware logic: `fleet-device` host processes (the ESP32 core over libmosquitto,
a directory as flash, a file as the access point, libmicrohttpd as the captive portal) against a real broker
and `fleet controller`, checked from outside through MQTT, HTTP and the CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.broker import free_port
from controller.client import FleetClient
from controller.service import Controller
from tests.brokers import RunningBroker
from tests.conftest import Recorder

REPO = Path(__file__).resolve().parents[2]
DEVICE_BIN = REPO / "firmware" / "build" / "host" / "fleet-device"
START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester", "lecturer": "alice"}


def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.05)


class HostDevice:
    """One `fleet-device` process with its own flash directory and portal port."""

    def __init__(self, device_id: str, broker_url: str, root: str, state_dir: Path) -> None:
        if not DEVICE_BIN.exists():
            raise RuntimeError(f"{DEVICE_BIN} is missing: run `make firmware` (make test does)")
        self.id, self.root, self.state_dir = device_id, root, state_dir
        self.broker_url = broker_url
        self.portal_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        state_dir.mkdir(parents=True, exist_ok=True)

    def start(self, broker_url: str | None = None) -> None:
        log = (self.state_dir / "device.log").open("ab")
        self.proc = subprocess.Popen(
            [str(DEVICE_BIN), "--id", self.id, "--broker", broker_url or self.broker_url, "--state-dir",
             str(self.state_dir), "--portal-port", str(self.portal_port), "--root", self.root, "--heartbeat-s", "1"],
            stdout=log, stderr=subprocess.STDOUT)
        eventually(self._portal_up, 10, f"{self.id} portal")

    def _portal_up(self) -> bool:
        try:
            self.get("/")
        except (urllib.error.URLError, ConnectionError):
            return False
        return True

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def ap(self) -> dict[str, object]:
        path = self.state_dir / "ap.json"
        result: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        return result

    def get(self, path: str) -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.portal_port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()

    def checkin(self, student_id: str) -> tuple[int, str]:
        """POST the portal's form as a phone's browser does."""
        body = urllib.parse.urlencode({"student_id": student_id}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.portal_port}/checkin", data=body,
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def log(self) -> str:
        return (self.state_dir / "device.log").read_text(errors="replace")


@pytest.fixture
def host_devices(broker: RunningBroker, root: str, tmp_path: Path) -> Iterator[Callable[[str], HostDevice]]:
    made: list[HostDevice] = []

    def make(device_id: str) -> HostDevice:
        device = HostDevice(device_id, broker.url, root, tmp_path / device_id)
        device.start()
        made.append(device)
        return device

    yield make
    for device in made:
        device.stop()


def online(client: FleetClient, n: int) -> None:
    eventually(lambda: client.call("devices.list")["online"] == n, 10, f"{n} devices online")


def attendance(client: FleetClient, session_id: int) -> list[str]:
    return sorted(r["student_id"] for r in client.call("attendance.list", {"session_id": session_id})["records"])


def last_heartbeat(recorder: Recorder, device_id: str) -> dict[str, object]:
    beats = [json.loads(p) for t, p, _ in recorder.messages if t.endswith(f"/{device_id}/heartbeat")]
    return beats[-1] if beats else {}


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
        eventually(lambda: last_heartbeat(recorder, chosen.id).get("queued") == 0, 10, "queue drained")
        assert attendance(client, started["session_id"]) == ["U2021/0042"]


def test_kill9_restart_applies_from_flash_and_resends_unacked(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
    host_devices: Callable[[str], HostDevice],
) -> None:
    start_controller()
    device = host_devices("esp32-0000000000a1")
    with FleetClient(broker.url, root) as client:
        online(client, 1)
        started = client.call("session.start", START)
        assert client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 5})["status"] == \
            "applied"
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
