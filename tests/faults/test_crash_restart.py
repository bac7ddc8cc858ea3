"""kill -9 of the controller at its worst moments, then a restart: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.adapters.client import FleetClient
from controller.errors import ControllerOffline
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
START = {"course": "CS101", "title": "Intro", "session": "2024/2025", "semester": "1st Semester"}
pytestmark = pytest.mark.parametrize("broker", ["mosquitto"], indirect=True)


@pytest.fixture
def spawn(
    broker: RunningBroker, root: str, db_url: str, tmp_path: Path,
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(failpoint: str = "") -> subprocess.Popen[bytes]:
        env = os.environ | {"FLEET_FAILPOINT": failpoint}
        log = (tmp_path / f"controller-{len(procs)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "cli", "--broker", broker.url, "--root", root, "-v",
                                 "controller", "--db", db_url], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        with FleetClient(broker.url, root, presence_timeout=1) as client:
            eventually(lambda: proc.poll() is None and client.controller_online())
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)


def test_killed_between_claim_commit_and_publish(
    broker: RunningBroker, root: str, make_device: Callable[..., Device],
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    device = make_device("esp32-0000000000d7")
    device.birth()
    first = spawn("after_claim_commit")
    device.heartbeat()
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        with pytest.raises(ControllerOffline):
            client.call("session.start", START, timeout=3)  # it died after COMMIT, before publishing
    assert first.wait(timeout=10) == 137
    assert device.configs == []
    spawn()
    config = device.wait_config(timeout=15)  # the restarted controller reconciles from the database
    assert config["active_session"] is True and config["version"] == 1
    device.apply_latest()
    with FleetClient(broker.url, root) as client:
        [session] = client.call("session.list")["sessions"]
        assert session["device"] == device.id and session["active"]
        assert client.call("session.wait", {"session_id": session["session_id"], "timeout_s": 5})["status"] == \
            "applied"
        with pytest.raises(Exception, match="no online device is free"):
            client.call("session.start", START | {"course": "EE201"})  # not assigned twice
    time.sleep(1.5)
    assert {c["version"] for c in device.configs} == {1}  # republished maybe, never re-versioned


def test_killed_between_checkin_commit_and_ack(
    broker: RunningBroker, root: str, make_device: Callable[..., Device],
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    device = make_device("esp32-0000000000d8")
    device.birth()
    first = spawn()
    device.heartbeat()
    with FleetClient(broker.url, root) as client:
        eventually(lambda: client.call("devices.list")["online"] == 1)
        sid = client.call("session.start", START)["session_id"]
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=15)
    second = spawn("after_ingest_commit")
    batch = {"v": 1, "session_id": sid, "events": [{"seq": 1, "student_id": "U1"}, {"seq": 2, "student_id": "U2"}]}
    device.send("attendance", batch)
    assert second.wait(timeout=10) == 137  # stored, never acked
    assert device.acks == []
    spawn()
    device.send("attendance", batch)  # the device resends what was not acked
    eventually(lambda: any(a["upto"] == 2 for a in device.acks))
    with FleetClient(broker.url, root) as client:
        records = client.call("attendance.list", {"session_id": sid})["records"]
    assert sorted(r["student_id"] for r in records) == ["U1", "U2"]
    assert json.dumps(device.acks[-1]) == '{"v": 1, "upto": 2}'
