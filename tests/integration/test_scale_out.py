"""Two controllers on one Mosquitto and one PostgreSQL database, splitting work through shared subscriptions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker, start_mosquitto
from tests.conftest import Device, crash, fast_settings
from tests.waiting import eventually

START = {"course": "CS101", "title": "Intro", "session": "2024/2025", "semester": "1st Semester",
         "failover_grace_s": 1}


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[RunningBroker]:
    with start_mosquitto(tmp_path) as running:
        yield running


def test_two_controllers_split_the_work_once_and_survive_one_dying(
    mosquitto: RunningBroker, root: str, pg_url: str,
) -> None:
    controllers = [Controller(replace(fast_settings(mosquitto.url, root, pg_url, resync_s=0.5),
                                      shared_group="controllers")) for _ in range(2)]
    for ctl in controllers:
        ctl.start()
    devices = [Device(mosquitto, root, f"esp32-00000000090{i}") for i in range(4)]
    try:
        for d in devices:
            d.birth()
        for _ in range(10):
            for d in devices:
                d.heartbeat()
        eventually(lambda: sum(c.stats.received["heartbeat"] for c in controllers) == 40)
        time.sleep(0.5)
        assert sum(c.stats.received["heartbeat"] for c in controllers) == 40  # each processed exactly once
        assert all(c.stats.received["heartbeat"] > 0 for c in controllers)  # and split between them

        with FleetClient(mosquitto.url, root) as client:
            eventually(lambda: client.call("devices.list")["online"] == 4)
            before = sum(c.stats.received["request"] for c in controllers)
            for _ in range(10):
                assert client.call("stats")["received"]
            assert sum(c.stats.received["request"] for c in controllers) == before + 10  # answered once each

        won: list[str] = []
        lost: list[str] = []
        lock = threading.Lock()

        def start(n: int) -> None:
            with FleetClient(mosquitto.url, root) as client:
                try:
                    device = client.call("session.start", START | {"course": f"C{n}"})["device"]
                    with lock:
                        won.append(device)
                except ApiError as exc:
                    with lock:
                        lost.append(exc.code)

        threads = [threading.Thread(target=start, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(won) == sorted(d.id for d in devices) and lost == ["no_device_available"] * 2

        crash(controllers[0])
        survivor = controllers[1]
        with FleetClient(mosquitto.url, root, presence_timeout=5) as client:
            eventually(client.controller_online, timeout=5)  # the survivor re-asserts presence over the will
            seen = survivor.stats.received["heartbeat"]
            for d in devices:
                d.heartbeat()
            eventually(lambda: survivor.stats.received["heartbeat"] == seen + 4)  # the share moves over
            for _ in range(5):
                assert client.call("devices.list")["online"] == 4
    finally:
        for d in devices:
            d.close()
        controllers[1].stop()
        controllers[0].store.close()
