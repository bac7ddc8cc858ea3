"""Shared fixtures: real brokers on ephemeral loopback ports, real SQLite files, a controller.

Under CI=true nothing skips: a missing broker or database is a failure (see tests/brokers.py).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.daemon.controller import Controller
from controller.daemon.settings import ControllerSettings
from tests.brokers import RunningBroker, start_amqtt, start_mosquitto
from tests.databases import throwaway_postgres


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningBroker]:
    """The same scenario on the embedded amqtt broker and on a Mosquitto process."""
    running = start_amqtt() if request.param == "amqtt" else start_mosquitto(tmp_path)
    with running:
        yield running


@pytest.fixture
def amqtt_broker() -> Iterator[RunningBroker]:
    with start_amqtt() as running:
        yield running


@pytest.fixture
def root() -> str:
    """A topic root of its own, so no test sees another's retained messages."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fleet.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database (tests/databases.py)."""
    with throwaway_postgres() as url:
        yield url


def fast_settings(broker_url: str, root: str, db_url: str, **overrides: float | None) -> ControllerSettings:
    values: dict[str, float | None] = {"heartbeat_ttl_s": 90.0, "flush_s": 0.5, "reconcile_s": 0.5, "resend_s": 5.0,
                                "resync_s": 5.0}
    values.update(overrides)
    return ControllerSettings(broker_url=broker_url, root=root, db_url=db_url,
                              controller_id=f"ctl-test-{uuid.uuid4().hex[:6]}", **values)


def crash(ctl: Controller) -> None:
    """Die as kill -9 would: no flush, no offline presence; the broker publishes the will."""
    ctl.halt_ticks()
    ctl._client.loop_stop()
    sock = ctl._client.socket()
    if sock is not None:
        sock.close()


@pytest.fixture
def start_controller(broker: RunningBroker, root: str, db_url: str) -> Iterator[Callable[..., Controller]]:
    started: list[Controller] = []

    def start(broker_url: str | None = None, **overrides: float | None) -> Controller:
        """A started controller on `broker_url` (the `broker` fixture's by default), `overrides` its settings."""
        ctl = Controller(fast_settings(broker_url or broker.url, root, db_url, **overrides))
        ctl.start()
        started.append(ctl)
        return ctl

    yield start
    for ctl in started:
        ctl.stop()


@dataclass
class Recorder:
    """An independent MQTT client that records every message under a root."""

    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[str, dict[str, object]], bool], timeout: float = 5.0) -> dict[str, object]:
        """The first JSON message (topic, obj) matching `predicate`; fails the test on timeout."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for topic, payload, _ in self.messages[seen:]:
                    seen += 1
                    try:
                        obj = json.loads(payload)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and predicate(topic, obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message within {timeout} s; saw {self.topics()}")
                self.cond.wait(left)

    def topics(self) -> list[str]:
        with self.cond:
            return [t for t, _, _ in self.messages]


class Device:
    """A hand-driven device on a paho client: sends exactly what a test tells it to."""

    def __init__(self, broker: RunningBroker, root: str, device_id: str, boot: int = 1) -> None:
        self.root, self.id, self.boot = root, device_id, boot
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
        self.client.will_set(self.topic("status"), json.dumps({"v": 1, "id": device_id, "online": False,
                                                                "boot": boot}), qos=1, retain=True)
        self.configs: list[dict[str, object]] = []
        self.acks: list[dict[str, object]] = []
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(self.topic("config"), 1), (self.topic("attendance/ack"), 1)])
        self.client.loop_start()

    def topic(self, leaf: str) -> str:
        return f"{self.root}/devices/{self.id}/{leaf}"

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.payload:  # an empty payload clears a retained config
            (self.acks if msg.topic.endswith("/ack") else self.configs).append(json.loads(msg.payload))

    def send(self, leaf: str, obj: dict[str, object] | bytes, *, retain: bool = False, qos: int = 1) -> None:
        payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.client.publish(self.topic(leaf), payload, qos=qos, retain=retain).wait_for_publish(5)

    def birth(self) -> None:
        self.send("status", {"v": 1, "id": self.id, "online": True, "boot": self.boot, "fw": "test"}, retain=True)

    def heartbeat(self, **extra: object) -> None:
        self.send("heartbeat", {"v": 1, "id": self.id, "boot": self.boot, "uptime_s": 1, **extra})

    def apply_latest(self) -> dict[str, object]:
        """Report the newest config received as applied (what a real device does)."""
        config = self.wait_config()
        state: dict[str, object] = {"v": 1, "id": self.id, "config_version": config["version"], "result": "applied",
                                    "active_session": config["active_session"]}
        if config["active_session"]:
            state |= {"session_id": config["session_id"], "ssid": config["ssid"]}
        self.send("state", state, retain=True)
        return config

    def wait_config(self, *, newer_than: int = 0, timeout: float = 5.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            fresh = [c for c in self.configs if int(str(c["version"])) > newer_than]
            if fresh:
                return fresh[-1]
            time.sleep(0.02)
        raise AssertionError(f"{self.id} got no config newer than v{newer_than}; has {self.configs}")

    def kill(self) -> None:
        """Drop the socket without DISCONNECT, so the broker publishes the will."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def recorder(broker: RunningBroker, root: str) -> Iterator[Recorder]:
    rec = Recorder()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}", protocol=paho.MQTTv311)
    client.on_message = rec.on_message
    client.connect(broker.host, broker.port)
    client.subscribe(f"{root}/#", qos=1)
    client.loop_start()
    time.sleep(0.2)
    yield rec
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def make_device(broker: RunningBroker, root: str) -> Iterator[Callable[..., Device]]:
    devices: list[Device] = []

    def make(device_id: str, boot: int = 1) -> Device:
        device = Device(broker, root, device_id, boot)
        devices.append(device)
        return device

    yield make
    for device in devices:
        try:
            device.close()
        except Exception:
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> Iterator[None]:
    """Under CI=true a skip is a failure: a missing broker, compiler or database must not hide."""
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, which is a failure: {report.longrepr}"
    yield
