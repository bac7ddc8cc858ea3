"""The device simulator against the embedded amqtt broker (and once Mosquitto), watched by an
independent subscriber.

Every device publish the watcher sees is checked against the contract (`tests.contract`); each test
runs under a fresh random topic root, with seeded randomness and short heartbeats.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from controller.adapters.mqtt import new_client, parse_broker_url
from controller.contract.messages import Config, SessionConfig, encode
from controller.contract.topics import Topics
from controller.sim.simulator import SimConfig, Simulator, SimulatorError
from tests.brokers import AmqttBroker, start_amqtt, start_mosquitto
from tests.contract import ContractViolation, schema_for_topic, validate_publish

WAIT_S = 5.0
SSID = "CS101_Attendance_2024_2025"
DEVICE_SENT = frozenset({"status", "heartbeat", "state", "attendance"})


def active_config(version: int, session_id: int = 42, ssid: str = SSID) -> dict[str, Any]:
    session = SessionConfig(
        session_id, "CS101", "Introduction to Computer Science", "2024/2025", "1st Semester", "alice",
        "ESP32_CS101_2024_2025_1st_Semester", "CS101 - Introduction to Computer Science", ssid, "",
        "CS101 Classroom - 2024/2025 1st Semester",
    )
    return Config(version, session).to_obj()


def idle_config(version: int) -> dict[str, Any]:
    return Config(version).to_obj()


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# --- the watcher ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool
    device_id: str | None
    channel: str | None  # "status", "heartbeat", "attendance/ack", ...
    obj: dict[str, Any] | None  # the validated payload of a device-sent message


class Watcher:
    """A paho subscriber of its own on `topic_filter`, recording and contract-checking everything."""

    def __init__(self, url: str, root: str, topic_filter: str | None = None) -> None:
        self.root = root
        self.seen: list[Seen] = []
        self.violations: list[str] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        address = parse_broker_url(url)
        self.client = new_client(address, f"watch-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.subscribe(topic_filter or f"{root}/#", 1)
        self.client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise AssertionError("the watcher did not get its SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        topic, payload = message.topic, bytes(message.payload)
        parts = topic.split("/")
        ours = parts[0] == self.root and len(parts) > 3 and parts[1] == "devices"
        device_id = parts[2] if ours else None  # amqtt 0.12 also sends other roots' retained messages
        channel = "/".join(parts[3:]) if device_id is not None else None
        obj = None
        if schema_for_topic(topic, self.root) in DEVICE_SENT:
            try:
                obj = validate_publish(topic, payload, self.root)
            except ContractViolation as exc:
                self.violations.append(str(exc))
        with self._cond:
            self.seen.append(Seen(topic, payload, bool(message.retain), device_id, channel, obj))
            self._cond.notify_all()

    def matching(self, predicate: Callable[[Seen], bool]) -> list[Seen]:
        with self._cond:
            return [m for m in self.seen if predicate(m)]

    def of(self, device_id: str, channel: str) -> list[Seen]:
        return self.matching(lambda m: m.device_id == device_id and m.channel == channel)

    def wait_for(self, predicate: Callable[[Seen], bool], count: int = 1, timeout: float = WAIT_S) -> list[Seen]:
        with self._cond:
            if not self._cond.wait_for(lambda: sum(map(predicate, self.seen)) >= count, timeout):
                raise AssertionError(f"saw {sum(map(predicate, self.seen))} of {count} expected messages")
            return [m for m in self.seen if predicate(m)]

    def publish(self, topic: str, obj: dict[str, Any], *, retain: bool = True) -> None:
        self.client.publish(topic, encode(obj), qos=1, retain=retain).wait_for_publish(WAIT_S)

    def assert_clean(self) -> None:
        assert self.violations == []


def status_of(device_id: str, online: bool, boot: int | None = None) -> Callable[[Seen], bool]:
    def match(m: Seen) -> bool:
        return (m.device_id == device_id and m.channel == "status" and m.obj is not None
                and m.obj["online"] is online and (boot is None or m.obj["boot"] == boot))
    return match


def channel_of(device_id: str, channel: str) -> Callable[[Seen], bool]:
    return lambda m: m.device_id == device_id and m.channel == channel


def state_of(device_id: str, version: int) -> Callable[[Seen], bool]:
    def match(m: Seen) -> bool:
        return m.device_id == device_id and m.channel == "state" and m.obj is not None \
            and m.obj["config_version"] == version
    return match


def seqs(messages: list[Seen]) -> list[int]:
    return [e["seq"] for m in messages if m.obj is not None for e in m.obj["events"]]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def broker() -> Iterator[AmqttBroker]:
    running = start_amqtt()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def root() -> str:
    return f"simtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topics(root: str) -> Topics:
    return Topics(root)


@pytest.fixture
def watcher(broker: AmqttBroker, root: str) -> Iterator[Watcher]:
    watching = Watcher(broker.url, root)
    yield watching
    watching.close()
    watching.assert_clean()


@pytest.fixture
def make_sim(broker: AmqttBroker, root: str) -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**overrides: Any) -> Simulator:
        defaults: dict[str, Any] = {
            "broker_url": broker.url, "root": root, "seed": 7, "heartbeat_s": 0.5, "suback_timeout_s": 1.0,
            # amqtt 0.12 mixes up sessions when a client id comes back soon after a clean disconnect
            "id_prefix": f"t{uuid.uuid4().hex[:8]}-",
        }
        config = SimConfig(**{**defaults, **overrides})
        sim = Simulator(config)
        started.append(sim)
        sim.start()
        return sim

    yield make
    for sim in started:
        sim.stop()


# --- against the broker --------------------------------------------------------------------------


def test_devices_connect_with_retained_births_and_heartbeats(
    broker: AmqttBroker, root: str, watcher: Watcher, make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(count=20)
    ids = sim.config.device_ids()
    assert sim.wait_connected(20, WAIT_S)

    for device_id in ids:  # one heartbeat at once, the next within heartbeat_s
        watcher.wait_for(channel_of(device_id, "heartbeat"), count=2)
    for device_id in ids:
        [birth] = watcher.of(device_id, "status")
        assert birth.obj is not None
        assert birth.obj["online"] is True and birth.obj["boot"] == 1 and birth.obj["fw"] == "1.0.0"
        assert birth.obj["id"] == device_id and birth.obj["ip"].startswith("127.0.")
    heartbeat = watcher.of(ids[0], "heartbeat")[0].obj
    assert heartbeat is not None
    assert {"boot", "uptime_s", "rssi", "heap", "fw", "config_version", "stations", "queued"} <= set(heartbeat)
    assert -85 <= heartbeat["rssi"] <= -40 and heartbeat["config_version"] == 0 and heartbeat["queued"] == 0

    late = Watcher(broker.url, root, f"{root}/devices/+/status")  # births are retained
    try:
        retained = late.wait_for(lambda m: m.retain and m.obj is not None and m.obj["online"] is True, count=20)
        assert {m.device_id for m in retained} == set(ids)
        late.assert_clean()
    finally:
        late.close()
    assert sim.stats().connected == 20
    assert sim.stats().published >= 60
    assert all(view.online for view in sim.devices.values())


def test_config_version_rule(
    topics: Topics, watcher: Watcher, make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(count=2)
    target, other = sim.config.device_ids()
    assert sim.wait_connected(2, WAIT_S)

    watcher.publish(topics.config(target), active_config(5))
    [state] = watcher.wait_for(state_of(target, 5))
    assert state.obj == {"v": 1, "id": target, "config_version": 5, "result": "applied", "active_session": True,
                         "session_id": 42, "ssid": SSID}
    view = sim.device(target)
    assert (view.config_version, view.ssid, view.session_id, view.active_session) == (5, SSID, 42, True)

    ignored = sim.stats().configs_ignored  # v5 may come twice (live and retained) if it raced the SUBSCRIBE
    watcher.publish(topics.config(target), active_config(3, ssid="Older_Session"))  # lower: ignored
    wait_until(lambda: sim.stats().configs_ignored > ignored, what="the lower version to be ignored")
    assert len(watcher.of(target, "state")) == 1
    assert (sim.device(target).config_version, sim.device(target).ssid) == (5, SSID)

    watcher.publish(topics.config(target), active_config(7, ssid="S" * 40))  # 40-byte SSID: rejected
    [rejected] = watcher.wait_for(state_of(target, 7))
    assert rejected.obj is not None
    assert rejected.obj["result"] == "rejected" and rejected.obj["applied_version"] == 5
    assert "ssid" in rejected.obj["error"]
    assert (sim.device(target).config_version, sim.device(target).ssid) == (5, SSID)

    watcher.publish(topics.config(target), idle_config(8))
    [idle] = watcher.wait_for(state_of(target, 8))
    assert idle.obj == {"v": 1, "id": target, "config_version": 8, "result": "applied", "active_session": False}
    watcher.wait_for(lambda m: m.device_id == target and m.channel == "heartbeat" and m.obj is not None
                     and m.obj["config_version"] == 8)

    stats = sim.stats()
    assert (stats.configs_applied, stats.configs_rejected) == (2, 1) and stats.configs_ignored >= 1
    assert watcher.of(other, "state") == [] and sim.device(other).config_version == 0


def test_kill_publishes_the_will_and_revive_boots_again(watcher: Watcher, make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(count=3)
    victim = sim.config.device_ids()[1]
    assert sim.wait_connected(3, WAIT_S)
    watcher.wait_for(status_of(victim, True, boot=1))

    sim.kill(victim)
    [will] = watcher.wait_for(status_of(victim, False))
    assert will.obj == {"v": 1, "id": victim, "online": False, "boot": 1}
    assert not sim.device(victim).online and sim.stats().connected == 2

    sim.revive(victim)
    watcher.wait_for(status_of(victim, True, boot=2))
    watcher.wait_for(lambda m: m.device_id == victim and m.channel == "heartbeat" and m.obj is not None
                     and m.obj["boot"] == 2)
    assert sim.wait_connected(3, WAIT_S)
    assert sim.device(victim).boot == 2
    with pytest.raises(SimulatorError):
        sim.revive(victim)  # it is up


def test_checkins_are_resent_until_acked(
    topics: Topics, watcher: Watcher, make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(count=1, checkin_rate=1200.0)  # 20 a second while a session is active
    [device] = sim.config.device_ids()
    assert sim.wait_connected(1, WAIT_S)

    watcher.publish(topics.config(device), active_config(1))
    watcher.wait_for(state_of(device, 1))
    watcher.wait_for(channel_of(device, "attendance"), count=5)
    watcher.publish(topics.config(device), idle_config(2))  # the session ends: no new check-ins
    watcher.wait_for(state_of(device, 2))
    last = sim.device(device).next_seq - 1
    wait_until(lambda: max(seqs(watcher.of(device, "attendance")), default=0) == last, what="every event sent")
    sent = seqs(watcher.of(device, "attendance"))
    assert sent == list(range(1, last + 1))  # rising, none lost, none reused
    assert all(m.obj is not None and m.obj["session_id"] == 42 for m in watcher.of(device, "attendance"))
    assert sim.device(device).queued == last

    sim.kill(device)  # unacked events survive a reboot and go out again after reconnecting
    sim.revive(device)
    wait_until(lambda: len(seqs(watcher.of(device, "attendance"))) >= 2 * last, what="the resend")
    resent = watcher.of(device, "attendance")[len(watcher.of(device, "attendance")) - 1]
    assert seqs(watcher.of(device, "attendance"))[last:] == list(range(1, last + 1))
    assert resent.obj is not None and len(resent.obj["events"]) <= 32 and len(resent.payload) <= 1024

    half = last // 2
    watcher.publish(topics.attendance_ack(device), {"v": 1, "upto": half}, retain=False)
    wait_until(lambda: sim.device(device).queued == last - half, what="the partial ack")
    watcher.publish(topics.attendance_ack(device), {"v": 1, "upto": last}, retain=False)
    wait_until(lambda: sim.device(device).queued == 0, what="the full ack")
    assert sim.stats().checkins_acked == last
    assert sim.device(device).next_seq == last + 1


def test_random_deaths_leave_a_will_and_come_back_with_a_higher_boot(
    watcher: Watcher, make_sim: Callable[..., Simulator],
) -> None:
    sim = make_sim(count=2, death_rate=7200.0, down_s=(0.1, 0.3))  # about two deaths a second each
    watcher.wait_for(lambda m: m.channel == "status" and m.obj is not None and m.obj["online"] is True
                     and m.obj["boot"] >= 3)
    assert sim.stats().deaths >= 2
    for device_id in sim.config.device_ids():
        statuses = [m.obj for m in watcher.of(device_id, "status") if m.obj is not None]
        for before, after in itertools.pairwise(statuses):  # birth, will, birth, will...
            if before["online"] and not after["online"]:
                assert after["boot"] == before["boot"] and "reason" not in after
            if not before["online"] and after["online"]:
                assert after["boot"] == before["boot"] + 1


def test_stop_publishes_a_shutdown_status(watcher: Watcher, make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(count=3)
    assert sim.wait_connected(3, WAIT_S)
    sim.stop()
    for device_id in sim.config.device_ids():
        [offline] = watcher.wait_for(status_of(device_id, False))
        assert offline.obj == {"v": 1, "id": device_id, "online": False, "boot": 1, "reason": "shutdown"}
    time.sleep(0.2)  # no will follows a clean DISCONNECT
    assert len(watcher.matching(lambda m: m.channel == "status" and m.obj is not None
                                and m.obj["online"] is False)) == 3
    assert sim.stats().connected == 0
    with pytest.raises(SimulatorError):
        sim.kill(sim.config.device_ids()[0])


@pytest.mark.mosquitto
def test_the_same_life_cycle_on_mosquitto(tmp_path: Path, root: str) -> None:
    mosquitto = start_mosquitto(tmp_path)
    watcher = Watcher(mosquitto.url, root)
    sim = Simulator(SimConfig(broker_url=mosquitto.url, root=root, count=5, heartbeat_s=0.5, seed=3))
    try:
        sim.start()
        assert sim.wait_connected(5, WAIT_S)
        device = sim.config.device_ids()[2]
        watcher.publish(Topics(root).config(device), active_config(3))
        watcher.wait_for(state_of(device, 3))
        sim.kill(device)
        watcher.wait_for(status_of(device, False, boot=1))
        sim.revive(device)
        watcher.wait_for(status_of(device, True, boot=2))
        sim.stop()
        shutdowns = watcher.wait_for(lambda m: m.channel == "status" and m.obj is not None
                                     and m.obj.get("reason") == "shutdown", count=5)
        assert {m.device_id for m in shutdowns} == set(sim.config.device_ids())
        watcher.assert_clean()
    finally:
        sim.stop()
        watcher.close()
        mosquitto.stop()


# --- the config (no broker) ---------------------------------------------------------------------


def test_config_names_devices() -> None:
    assert SimConfig(count=3).device_ids() == ["sim-00001", "sim-00002", "sim-00003"]
    assert SimConfig(count=2, id_prefix="lab-", start_index=41).device_ids() == ["lab-00041", "lab-00042"]
    with pytest.raises(SimulatorError):
        SimConfig(id_prefix="Sim-")
    with pytest.raises(SimulatorError):
        SimConfig(root="a/#")
