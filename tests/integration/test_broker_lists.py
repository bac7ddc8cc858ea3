"""Clients with a broker list (`mqtt://a,b`): the controller, the CLI's client and simulated devices
start on the first broker that answers and move to the next when theirs dies, on two Mosquitto
processes (the embedded broker can take over 10 s to stop with simulated devices connected)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from controller.adapters.client import FleetClient
from controller.adapters.mqtt import broker_of, connect_first, new_client, parse_broker_urls
from controller.daemon.controller import Controller
from controller.sim.simulator import SimConfig, Simulator
from tests.brokers import RunningBroker, start_mosquitto
from tests.conftest import fast_settings
from tests.waiting import eventually

WAIT_S = 20.0  # paho's first reconnect delay is 1-3 s, then the next broker


Pair = tuple[RunningBroker, RunningBroker]


@pytest.fixture
def two_brokers(tmp_path: Path) -> Iterator[Pair]:
    with start_mosquitto(tmp_path) as first, start_mosquitto(tmp_path) as second:
        yield first, second


def _hostport(broker: RunningBroker) -> str:
    return f"{broker.host}:{broker.port}"


def test_a_client_moves_to_the_next_broker_when_its_broker_dies(two_brokers: Pair) -> None:
    first, second = two_brokers
    client = new_client(parse_broker_urls(f"mqtt://{_hostport(first)},{_hostport(second)}"), "mover-1")
    connects: list[str] = []
    connected = threading.Event()

    def on_connect(c: paho.Client, *_: object) -> None:
        connects.append(broker_of(c))
        connected.set()

    client.on_connect = on_connect
    connect_first(client, keepalive=10)
    client.loop_start()
    try:
        assert connected.wait(WAIT_S) and connects == [_hostport(first)]
        connected.clear()
        first.stop()
        assert connected.wait(WAIT_S), "the client never reached the second broker"
        assert connects == [_hostport(first), _hostport(second)]
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_dead_first_broker_is_skipped_at_start(two_brokers: Pair, root: str,
                                                 db_url: str) -> None:
    first, second = two_brokers
    first.stop()
    url = f"mqtt://{_hostport(first)},{_hostport(second)}"
    ctl = Controller(fast_settings(url, root, db_url))
    ctl.start()
    try:
        with FleetClient(url, root) as cli:
            assert cli.controller_online()
            assert cli.stats().connections == 1  # the controller is on the second broker, once
    finally:
        ctl.stop()


def test_simulated_devices_spread_over_the_list_and_move_when_a_broker_dies(
        two_brokers: Pair) -> None:
    first, second = two_brokers
    url = f"mqtt://{_hostport(first)},{_hostport(second)}"
    with Simulator(SimConfig(broker_url=url, root=f"t{uuid.uuid4().hex[:10]}", count=4, heartbeat_s=1.0,
                             id_prefix="mv-", seed=7)) as sim:
        ids = list(sim.devices)
        assert sim.wait_connected(4, WAIT_S)
        eventually(lambda: all(sim.broker_of(d) is not None for d in ids), WAIT_S, "every device up")
        on = {d: sim.broker_of(d) for d in ids}
        assert sorted(set(on.values())) == sorted([_hostport(first), _hostport(second)]), on
        first.stop()
        eventually(lambda: all(sim.broker_of(d) == _hostport(second) for d in ids), WAIT_S,
                   "every device on the surviving broker")
