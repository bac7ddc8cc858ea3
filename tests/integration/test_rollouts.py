"""Firmware rollouts end to end on the controller's side (issue 16 part 3): the embedded broker, a real
controller on SQLite with a clock the test drives, and scripted devices (paho clients in this file)
that answer an update command as the contract says: downloading, verifying, rebooting, a new birth
running the new version, confirmed; or a rollback to the old version; or nothing at all."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.contract.firmware import FirmwareAddParams
from controller.contract.requests import DeviceSetParams, SessionStartParams
from controller.contract.rollouts import RolloutStartParams, RolloutStatus
from controller.contract.timetable import Series, TimetableImportParams
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker
from tests.conftest import fast_settings
from tests.waiting import eventually

OLD, NEW = "1.2.0", "1.3.0"
SHA = "2519e783e507fca907a503ddb613e88f12b74980cbc1e23b2bdc674a63ea3afd"
SIGNATURE = "MEUCIQDnmWc1lBz2VXbH4rYk6n0PqN3m3y5YQ0o3m6Gq3hQ0WQIgB2t7fP0Vg1kqQ4r8o8s7bq8Jm0y0o0z8Zk6X1u7q5vE="
URL_BASE = "http://10.1.0.5:9100/firmware/"


class Clock:
    """Wall time moved on by the test; it runs on from there."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def __call__(self) -> float:
        return time.time() + self.offset


class ScriptedDevice:
    """A device that answers update commands by its `mode`: `ok` (installs and confirms), `rollback`
    (boots the new image, whose birth names the new version, fails its health check, and comes back
    on the old one), `fail` (refuses the
    image: bad_signature) or `silent` (never answers)."""

    def __init__(self, broker: RunningBroker, root: str, device_id: str, clock: Clock, mode: str = "ok") -> None:
        self.root, self.id, self.clock, self.mode = root, device_id, clock, mode
        self.boot, self.fw = 1, OLD
        self.commands: list[dict[str, Any]] = []
        self.withdrawn = 0
        self._work: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id, protocol=paho.MQTTv311)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(self.topic("update"), qos=1)
        self.client.loop_start()
        self._worker = threading.Thread(target=self._run, daemon=True)
        self._worker.start()
        self.birth()

    def topic(self, leaf: str) -> str:
        return f"{self.root}/devices/{self.id}/{leaf}"

    def send(self, leaf: str, obj: dict[str, Any], *, retain: bool = False) -> None:
        self.client.publish(self.topic(leaf), json.dumps(obj), qos=1, retain=retain).wait_for_publish(5)

    def birth(self) -> None:
        self.send("status", {"v": 1, "id": self.id, "online": True, "boot": self.boot, "fw": self.fw}, retain=True)
        self.heartbeat()

    def heartbeat(self) -> None:
        self.send("heartbeat", {"v": 1, "id": self.id, "boot": self.boot, "uptime_s": 1})

    def state(self, version: str, state: str, **extra: Any) -> None:
        self.send("update/state", {"v": 1, "id": self.id, "version": version, "state": state, "running": self.fw,
                                   **extra}, retain=True)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if not msg.payload:
            self.withdrawn += 1
            return
        command = json.loads(msg.payload)
        self.commands.append(command)
        self._work.put(command)  # answered off paho's thread

    def _run(self) -> None:
        while (command := self._work.get()) is not None:
            self._answer(command)

    def _answer(self, command: dict[str, Any]) -> None:
        version = command["version"]
        if self.mode == "silent":
            return
        if self.mode == "fail":
            self.state(version, "failed", reason="bad_signature")
            return
        for percent in (0, 50, 100):
            self.state(version, "downloading", percent=percent)
        self.state(version, "verifying")
        self.state(version, "rebooting")
        self.boot += 1
        if self.mode == "rollback":  # the trial boot names the new version, then the bootloader goes back
            old, self.fw = self.fw, version
            self.birth()
            time.sleep(2.5)  # the trial spans a few of the controller's ticks (one a second)
            self.fw, self.boot = old, self.boot + 1
            self.birth()
            self.state(version, "rolled_back", reason="no_broker_after_boot")
            return
        self.fw = version
        self.birth()
        self.state(version, "confirmed")

    def close(self) -> None:
        self._work.put(None)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def controllers(amqtt_broker: RunningBroker, root: str, db_url: str,
                clock: Clock) -> Iterator[Callable[[], Controller]]:
    """Controllers on one database and the test's clock (stopped at the end)."""
    started: list[Controller] = []

    def start() -> Controller:
        settings = replace(fast_settings(amqtt_broker.url, root, db_url, schedule_s=0.2),
                           rollout_s=0.2, image_url_base=URL_BASE, update_timeout_s=600.0)
        ctl = Controller(settings, clock=clock)
        ctl.start()
        started.append(ctl)
        return ctl

    yield start
    for ctl in started:
        ctl.stop()


@pytest.fixture
def fleet(amqtt_broker: RunningBroker, root: str, clock: Clock) -> Iterator[Callable[..., list[ScriptedDevice]]]:
    made: list[ScriptedDevice] = []

    def make(n: int, mode: str = "ok", prefix: str = "dev") -> list[ScriptedDevice]:
        devices = [ScriptedDevice(amqtt_broker, root, f"{prefix}-{i:03d}", clock, mode) for i in range(n)]
        made.extend(devices)
        return devices

    yield make
    for device in made:
        device.close()


@contextmanager
def setup(amqtt_broker: RunningBroker, root: str, n: int) -> Iterator[FleetClient]:
    """A client, once the image is kept and the `n` devices are online."""
    with FleetClient(amqtt_broker.url, root) as client:
        client.add_firmware(FirmwareAddParams(NEW, SHA, 1_048_576, SIGNATURE))
        eventually(lambda: client.call("devices.list")["online"] == n, what=f"{n} devices online")
        yield client


def tick(clock: Clock, devices: list[ScriptedDevice], seconds: float) -> None:
    """Move the clock on; every device heartbeats at once so it stays online at the new time."""
    clock.advance(seconds)
    for device in devices:
        device.heartbeat()


def commanded(devices: list[ScriptedDevice]) -> set[str]:
    return {d.id for d in devices if d.commands}


def state_of(client: FleetClient, rollout_id: int) -> RolloutStatus:
    return client.rollout(rollout_id)


def test_a_rollout_goes_canary_first_then_in_waves_at_the_rate_and_completes(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]], clock: Clock,
) -> None:
    controllers()
    devices = fleet(6)
    with setup(amqtt_broker, root, 6) as client:
        started = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0.1, rate_per_min=2,
                                                          max_failures=0.1, min_sample=2))
        rollout_id = started.rollout.id
        assert [(w.wave, w.total) for w in started.waves] == [(0, 1), (1, 2), (2, 2), (3, 1)]
        eventually(lambda: commanded(devices) == {"dev-000"}, what="the canary commanded")
        [command] = devices[0].commands
        assert command == {"v": 1, "version": NEW, "url": f"{URL_BASE}{SHA}.bin", "size": 1_048_576, "sha256": SHA,
                           "signature": SIGNATURE}
        eventually(lambda: state_of(client, rollout_id).waves[0].counts == {"confirmed": 1}, what="canary confirmed")
        eventually(lambda: len(commanded(devices)) == 2, what="a second command within the minute's budget")
        time.sleep(1.0)  # several ticks: the budget of 2 a minute holds
        assert len(commanded(devices)) == 2
        for expected in (4, 6):
            tick(clock, devices, 61)
            eventually(lambda n=expected: len(commanded(devices)) == n, what=f"{expected} commanded")  # type: ignore[misc]
        eventually(lambda: state_of(client, rollout_id).rollout.state == "completed", what="completed")
        final = state_of(client, rollout_id)
        assert final.rollout.counts == {"confirmed": 6} and final.notes == ()
        assert all(d.fw == NEW and len(d.commands) == 1 for d in devices)
        with pytest.raises(ApiError) as refused:  # everyone runs it now: nothing to go up to, and nothing overlaps
            client.start_rollout(RolloutStartParams("1.2.0", all=True))
        assert refused.value.code == "unknown_version"


def test_a_device_serving_a_session_waits_until_it_ends(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]],
) -> None:
    controllers()
    devices = fleet(2)
    with setup(amqtt_broker, root, 2) as client:
        session = client.start_session(SessionStartParams(course="CS101", title="Intro", session="2026/2027",
                                                          semester="1st", device="dev-001"))
        rollout_id = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0, rate_per_min=60)).rollout.id
        eventually(lambda: state_of(client, rollout_id).rollout.counts.get("confirmed") == 1, what="dev-000 done")
        status = state_of(client, rollout_id)
        assert [(n.device, n.state, n.reason) for n in status.notes] == [("dev-001", "waiting", "session")]
        assert status.rollout.state == "running" and devices[1].commands == []
        client.end_session(session.session_id)
        eventually(lambda: state_of(client, rollout_id).rollout.state == "completed", what="done after the session")
        assert devices[1].fw == NEW


def test_a_device_whose_room_has_a_lecture_within_the_hour_waits_until_it_is_over(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]], clock: Clock,
) -> None:
    controllers()
    devices = fleet(2)
    with setup(amqtt_broker, root, 2) as client:
        client.set_device(DeviceSetParams("dev-001", room="LT1"))
        begins = int(clock()) + 40 * 60  # in 40 minutes, for an hour: its session is not started yet
        client.import_timetable(TimetableImportParams("2026/2027", "1st", (
            Series("lt1-cs101", "CS101", "Intro", "LT1", "alice", 3600, (begins,)),)))
        rollout_id = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0, rate_per_min=60)).rollout.id
        eventually(lambda: state_of(client, rollout_id).rollout.counts.get("confirmed") == 1, what="dev-000 done")
        status = state_of(client, rollout_id)
        assert [(n.device, n.state, n.reason) for n in status.notes] == [("dev-001", "waiting", "lecture")]
        assert devices[1].commands == []
        tick(clock, devices, 40 * 60 + 3600 + 60)  # past the lecture's end (its session came and went)
        eventually(lambda: state_of(client, rollout_id).rollout.state == "completed", what="done after the lecture")
        assert devices[1].fw == NEW


def test_canaries_that_roll_back_halt_the_rollout_and_the_rest_is_untouched(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]],
) -> None:
    ctl = controllers()
    devices = fleet(10)
    canaries = [devices[0], devices[5]]  # 2 of 10, spread over the ids: dev-000 and dev-005
    rest = [d for d in devices if d not in canaries]
    for device in canaries:
        device.mode = "rollback"
    with setup(amqtt_broker, root, 10) as client:
        rollout_id = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0.2, rate_per_min=100,
                                                             max_failures=0.1, min_sample=5)).rollout.id
        eventually(lambda: state_of(client, rollout_id).rollout.state == "halted", what="halted")
        status = state_of(client, rollout_id)
        assert status.rollout.reason == "canary wave: 2 of 2 updates failed (100% > 10% allowed)"
        assert status.waves[0].counts == {"rolled_back": 2}
        assert {(n.device, n.state, n.reason) for n in status.notes} == {
            ("dev-000", "rolled_back", "no_broker_after_boot"), ("dev-005", "rolled_back", "no_broker_after_boot")}
        time.sleep(1.0)  # ticks go by: nothing more is sent
        assert commanded(devices) == {"dev-000", "dev-005"} and all(d.commands == [] for d in rest)
        assert all(d.fw == OLD for d in devices)  # the canaries back on the old version, the rest never left it
        assert client.rollouts().rollouts[0].state == "halted"
        registry = ctl.observer.metrics.registry  # what /metrics serves
        assert registry.get_sample_value("fleet_rollouts", {"state": "halted"}) == 1
        assert registry.get_sample_value("fleet_rollout_devices", {"state": "pending"}) == 8
        assert registry.get_sample_value("fleet_update_failures_total", {"reason": "no_broker_after_boot"}) == 2


def test_pause_resume_and_abort(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]], clock: Clock,
) -> None:
    controllers()
    devices = fleet(4, "silent")
    with setup(amqtt_broker, root, 4) as client:
        rollout_id = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0, rate_per_min=1)).rollout.id
        eventually(lambda: len(commanded(devices)) == 1, what="the first command")
        devices[0].send("update/state", {"v": 1, "version": NEW, "state": "exploded"})  # counted and dropped
        devices[0].send("update/state", {"v": 1, "version": NEW, "state": "downloading"})  # no percent
        eventually(lambda: client.stats().rejected.get("schema") == 2, what="two bad update states counted")
        assert client.stats().received["update/state"] == 2
        assert state_of(client, rollout_id).rollout.counts == {"commanded": 1, "pending": 3}
        assert client.change_rollout("pause", rollout_id).rollout.state == "paused"
        tick(clock, devices, 61)
        time.sleep(1.0)
        assert len(commanded(devices)) == 1  # paused: the budget is back, nothing is sent
        with pytest.raises(ApiError) as refused:
            client.change_rollout("pause", rollout_id)
        assert refused.value.code == "rollout_state"
        assert client.change_rollout("resume", rollout_id).rollout.state == "running"
        eventually(lambda: len(commanded(devices)) == 2, what="the next command after resume")
        aborted = client.change_rollout("abort", rollout_id).rollout
        assert aborted.state == "aborted"
        eventually(lambda: sum(d.withdrawn for d in devices) == 2, what="both commands withdrawn")
        tick(clock, devices, 61)
        time.sleep(1.0)
        assert len(commanded(devices)) == 2
        with pytest.raises(ApiError) as ended:
            client.change_rollout("resume", rollout_id)
        assert ended.value.code == "rollout_state"


def test_start_refuses_an_unknown_version_a_downgrade_and_an_overlap(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]],
) -> None:
    controllers()
    fleet(2, "silent")
    with setup(amqtt_broker, root, 2) as client:
        client.add_firmware(FirmwareAddParams("1.1.0", "0" * 64, 1000, SIGNATURE))
        codes = []
        for params in (RolloutStartParams("9.9.9", all=True), RolloutStartParams("1.1.0", all=True),
                       RolloutStartParams(NEW, devices=("nope-1",))):
            with pytest.raises(ApiError) as refused:
                client.start_rollout(params)
            codes.append(refused.value.code)
        assert codes == ["unknown_version", "downgrade", "unknown_device"]
        client.start_rollout(RolloutStartParams(NEW, devices=("dev-000",)))
        with pytest.raises(ApiError) as overlap:
            client.start_rollout(RolloutStartParams(NEW, all=True))
        assert overlap.value.code == "rollout_overlap"
        assert client.start_rollout(RolloutStartParams("1.1.0", devices=("dev-001",), allow_downgrade=True)).rollout.id


def test_a_controller_restarted_mid_rollout_carries_on(
    amqtt_broker: RunningBroker, root: str, controllers: Callable[[], Controller],
    fleet: Callable[..., list[ScriptedDevice]], clock: Clock,
) -> None:
    first = controllers()
    devices = fleet(3, "silent")
    with setup(amqtt_broker, root, 3) as client:
        rollout_id = client.start_rollout(RolloutStartParams(NEW, all=True, canary=0.3, rate_per_min=60,
                                                             min_sample=1)).rollout.id
        eventually(lambda: len(commanded(devices)) == 1, what="the canary commanded")
        [canary] = [d for d in devices if d.commands]
        first.stop()
        for device in devices:
            device.mode = "ok"
        canary._answer(canary.commands[0])  # it installs while no controller runs; its progress is retained
        assert first.store.rollouts.status(rollout_id)[0].counts == {"commanded": 1, "pending": 2}
        controllers()
        eventually(client.controller_online, what="the second controller")
        eventually(lambda: state_of(client, rollout_id).rollout.state == "completed", what="completed after restart")
        assert all(len(d.commands) == 1 for d in devices)  # the canary was not commanded twice
