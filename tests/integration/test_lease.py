"""Active/standby (`--ha lease`) on a broker without shared subscriptions (the embedded amqtt) and
PostgreSQL: one controller acts, the other takes over when it dies or loses the lease; and the
start's check that refuses `--shared-group` on such a broker."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.adapters.mqtt import honours_shared, parse_broker_url
from controller.contract.topics import Topics
from controller.core.lease import HaMode
from controller.daemon.controller import Controller
from controller.errors import FleetError
from tests.brokers import RunningBroker, start_mosquitto
from tests.conftest import Device, crash, fast_settings
from tests.waiting import eventually

START = {"course": "CS101", "title": "Intro", "session": "2024/2025", "semester": "1st Semester"}
LEASE_TTL_S = 2.0  # renewed every 0.5 s; a leader acts until 0.75 s before its lease runs out


class Presence:
    """The retained `controller/status`, as a client reads it."""

    def __init__(self, broker: RunningBroker, root: str) -> None:
        self.last: dict[str, object] = {}
        self._lock = threading.Lock()
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"presence-{root}", protocol=paho.MQTTv311)
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.subscribe(Topics(root).controller_status, qos=1)
        self._client.loop_start()

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.last = json.loads(msg.payload)

    def says(self, controller: Controller, role: str) -> bool:
        with self._lock:
            return (self.last.get("controller_id"), self.last.get("online"), self.last.get("role")) == (
                controller.settings.controller_id, True, role)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def pair(broker: RunningBroker, root: str, pg_url: str) -> Iterator[list[Controller]]:
    """Two controllers in lease mode on one broker and one PostgreSQL database, the first started
    first; both stopped (or their stores closed) at the end."""
    controllers = [Controller(replace(fast_settings(broker.url, root, pg_url), ha=HaMode.LEASE,
                                      lease_ttl_s=LEASE_TTL_S)) for _ in range(2)]
    for ctl in controllers:
        ctl.start()
    yield controllers
    for ctl in controllers:
        if ctl._client.is_connected():
            ctl.stop()
        else:  # crashed, or cut off from the broker
            ctl.halt_ticks()
            ctl._client.loop_stop()
            ctl.store.close()


def handled(ctl: Controller) -> int:
    return sum(ctl.stats.received.values())


@pytest.mark.parametrize("broker", ["amqtt", "mosquitto"], indirect=True)  # without and with $share
def test_one_controller_acts_and_the_standby_finishes_the_session_when_it_dies(
    broker: RunningBroker, root: str, pair: list[Controller],
) -> None:
    leader, standby = pair
    assert leader.acting and not standby.acting
    presence = Presence(broker, root)
    device = Device(broker, root, "esp32-00000000a001")
    try:
        eventually(lambda: presence.says(leader, "leader"))
        device.birth()
        device.heartbeat()
        with FleetClient(broker.url, root) as client:
            eventually(lambda: client.call("devices.list")["online"] == 1)
            sid = client.call("session.start", START)["session_id"]
            config = device.apply_latest()
            assert client.call("session.wait", {"session_id": sid, "timeout_s": 5})["status"] == "applied"
            device.send("attendance", {"v": 1, "session_id": sid, "events": [{"seq": 1, "student_id": "U1"}]})
            eventually(lambda: len(device.acks) == 1)
        assert handled(leader) > 0 and handled(standby) == 0  # the standby processed nothing

        crash(leader)  # as kill -9: no release, no offline presence of its own (the broker's will)
        crashed_at = time.monotonic()
        eventually(lambda: standby.acting, timeout=4 * LEASE_TTL_S)  # the lease ran out and was taken
        print(f"the standby took over {time.monotonic() - crashed_at:.2f} s after the leader died")  # -rP shows it
        eventually(lambda: presence.says(standby, "leader"))
        lease = standby.store.lease.current()
        assert lease is not None and lease.holder == standby.settings.controller_id and lease.term == 2

        with FleetClient(broker.url, root) as client:
            row = next(s for s in client.call("session.list")["sessions"] if s["session_id"] == sid)
            assert (row["device"], row["active"], row["moves"]) == (device.id, True, 0)  # not restarted, not moved
            # the device sends U1 again (its ack may have been lost with the leader) and U2
            device.send("attendance", {"v": 1, "session_id": sid, "events": [{"seq": 1, "student_id": "U1"},
                                                                              {"seq": 2, "student_id": "U2"}]})
            eventually(lambda: any(a["upto"] == 2 for a in device.acks))
            client.call("session.end", {"session_id": sid})
            idle = device.wait_config(newer_than=int(str(config["version"])))
            assert idle["active_session"] is False
            records = client.call("attendance.list", {"session_id": sid})["records"]
            assert sorted(r["student_id"] for r in records) == ["U1", "U2"]  # each stored once
        session_configs = {int(str(c["version"])) for c in device.configs if c["active_session"]}
        assert session_configs == {config["version"]}  # the session was applied once, never re-issued
    finally:
        device.close()
        presence.close()


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_a_leader_cut_off_from_the_database_stops_acting_before_the_standby_leads(
    broker: RunningBroker, root: str, pair: list[Controller],
) -> None:
    leader, standby = pair
    presence = Presence(broker, root)
    device = Device(broker, root, "esp32-00000000a002")
    try:
        device.birth()
        eventually(lambda: leader.stats.received["status"] == 1)
        leader.leadership.stop()  # its renewals stop; it stays connected to the broker, its ticker runs
        eventually(lambda: standby.acting, timeout=4 * LEASE_TTL_S)
        assert not leader.acting  # fenced by its own clock: it stopped before its lease could be taken
        eventually(lambda: presence.says(standby, "leader"))
        before = leader.stats.received["heartbeat"]
        for _ in range(3):
            device.heartbeat()
        eventually(lambda: standby.stats.received["heartbeat"] == 3)
        time.sleep(0.3)  # let anything the old leader would still get arrive
        assert leader.stats.received["heartbeat"] == before  # it handles nothing any more
    finally:
        device.close()
        presence.close()


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_a_leader_that_lost_the_broker_lets_the_lease_run_out_to_the_standby(
    broker: RunningBroker, root: str, pair: list[Controller],
) -> None:
    """Its database is fine, but it can act on nothing: it stops renewing, so one that can takes over."""
    leader, standby = pair
    presence = Presence(broker, root)
    try:
        leader._client.disconnect()  # for good, as when its broker node died and it found no other
        eventually(lambda: standby.acting, timeout=4 * LEASE_TTL_S)
        assert not leader.acting
        eventually(lambda: presence.says(standby, "leader"))  # over the old leader's birth, still retained
    finally:
        presence.close()


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_a_clean_stop_hands_the_lease_over_at_once(
    broker: RunningBroker, root: str, pair: list[Controller],
) -> None:
    leader, standby = pair
    presence = Presence(broker, root)
    try:
        leader.stop()  # releases the lease: no waiting for it to run out
        eventually(lambda: standby.acting, timeout=LEASE_TTL_S)
        eventually(lambda: presence.says(standby, "leader"))  # over the old leader's offline goodbye
        with FleetClient(broker.url, root) as client:
            assert client.call("stats")["received"]
    finally:
        presence.close()


def test_shared_subscriptions_are_found_on_mosquitto_and_missing_on_amqtt(
    amqtt_broker: RunningBroker, tmp_path: Path,
) -> None:
    topics = Topics("probe")
    assert not honours_shared(parse_broker_url(amqtt_broker.url), "controllers", topics.controller_probe)
    with start_mosquitto(tmp_path) as mosquitto:
        assert honours_shared(parse_broker_url(mosquitto.url), "controllers", topics.controller_probe)


def test_a_shared_group_on_a_broker_without_shared_subscriptions_is_refused(
    amqtt_broker: RunningBroker, root: str, tmp_path: Path,
) -> None:
    settings = replace(fast_settings(amqtt_broker.url, root, f"sqlite:///{tmp_path / 'fleet.db'}"),
                       shared_group="controllers")
    ctl = Controller(settings)
    try:
        with pytest.raises(FleetError, match=r"ignores MQTT shared subscriptions .*--ha lease"):
            ctl.start()
    finally:
        ctl.store.close()
    done = subprocess.run([sys.executable, "-m", "cli", "--broker", amqtt_broker.url, "--root", root, "controller",
                           "--shared-group", "controllers", "--db", f"sqlite:///{tmp_path / 'cli.db'}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "ignores MQTT shared subscriptions" in lines[0], done.stderr


def test_a_controller_that_cannot_reach_the_broker_leaves_the_lease_to_others(root: str, tmp_path: Path) -> None:
    """It claims only once connected: a lease it took now would keep a standby waiting for nothing."""
    settings = replace(fast_settings("mqtt://127.0.0.1:1", root, f"sqlite:///{tmp_path / 'fleet.db'}"),
                       ha=HaMode.LEASE, lease_ttl_s=60.0)
    ctl = Controller(settings)
    try:
        with pytest.raises(FleetError, match="cannot reach the broker"):
            ctl.start()
        assert ctl.store.lease.current() is None
    finally:
        ctl.store.close()
