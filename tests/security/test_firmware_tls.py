"""The firmware's host port on the secure profile, both brokers: credentials provisioned into its
flash (DIR/nvs, as `set mqtt_user`/`set mqtt_pass` do on the ESP32), TLS through libmosquitto with
the CA pinned (--cafile), and the ACL letting it reach its own topics."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.broker.startup import free_port
from controller.contract.roles import Role
from tests.brokers import HOST, RunningBroker
from tests.security.conftest import Client, Profile

DEVICE_BIN = Path(__file__).resolve().parents[2] / "firmware" / "build" / "host" / "fleet-device"
DEVICE_ID = "esp32-00000000a001"
IDLE = {"v": 1, "version": 3, "active_session": False}


@pytest.fixture
def device(profile: Profile, secure_broker: RunningBroker, tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Start fleet-device over mqtts:// with `password` in its flash; returns its state directory."""
    if not DEVICE_BIN.exists():
        raise RuntimeError(f"{DEVICE_BIN} is missing: run `make firmware` (make test does)")
    started: list[subprocess.Popen[bytes]] = []

    def start(password: str) -> Path:
        state = tmp_path / f"device-{len(started)}"
        (state / "nvs").mkdir(parents=True)
        (state / "nvs" / "mqtt_user").write_text(DEVICE_ID)  # what `set mqtt_user` stores
        (state / "nvs" / "mqtt_pass").write_text(password)
        log = (state / "device.log").open("wb")
        started.append(subprocess.Popen(
            [str(DEVICE_BIN), "--id", DEVICE_ID, "--broker", f"mqtts://{HOST}:{secure_broker.port_of(tls=True)}",
             "--cafile", str(profile.spec.cafile), "--state-dir", str(state), "--portal-port", str(free_port()),
             "--root", profile.root, "--heartbeat-s", "1"], stdout=log, stderr=subprocess.STDOUT))
        return state

    yield start
    for process in started:
        process.terminate()
        process.wait(10)


def test_the_host_firmware_connects_over_tls_with_credentials_from_flash(
        profile: Profile, connect: Callable[..., Client], device: Callable[[str], Path]) -> None:
    root = profile.root
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/+")
    controller.publish(f"{root}/devices/{DEVICE_ID}/config", json.dumps(IDLE).encode(), retain=True)
    state_dir = device(profile.device(DEVICE_ID))
    status = json.loads(controller.wait_for(f"{root}/devices/{DEVICE_ID}/status", timeout=10))
    assert (status["id"], status["online"]) == (DEVICE_ID, True)
    state = json.loads(controller.wait_for(f"{root}/devices/{DEVICE_ID}/state", timeout=10))
    if state["config_version"] == 0:  # the report of what it booted with comes first
        state = json.loads(controller.wait_for(f"{root}/devices/{DEVICE_ID}/state", timeout=10))
    assert (state["config_version"], state["result"]) == (3, "applied")  # it read its own config
    assert "mqtts://" in (state_dir / "device.log").read_text()


def test_the_host_firmware_with_a_wrong_password_stays_out(profile: Profile, connect: Callable[..., Client],
                                                           device: Callable[[str], Path]) -> None:
    root = profile.root
    profile.device(DEVICE_ID)
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/+")
    state_dir = device("not-the-password")
    assert controller.received(quiet=1.5) == []
    assert "refused the connection" in (state_dir / "device.log").read_text()
