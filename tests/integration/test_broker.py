"""Integration tests for the embedded broker and the test harness brokers, with real paho clients.

Every broker here listens on 127.0.0.1 at an ephemeral port.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from controller.broker.conf import parse
from controller.broker.server import EmbeddedBroker, describe_security
from controller.broker.startup import BrokerError, free_port, port_is_free
from tests.brokers import RunningBroker, start_amqtt, start_mosquitto

TIMEOUT_S = 3.0
REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_BROKER = (
    "import logging, sys; from pathlib import Path; from controller.broker.server import run_broker; "
    "logging.basicConfig(level=logging.INFO, stream=sys.stdout, format='%(message)s'); "
    "run_broker(Path(sys.argv[1]), 0)"
)
OPEN_ON_ANY_PORT = "listener 0 127.0.0.1\nallow_anonymous true\n"


class Client:
    """A paho client driven synchronously: connect, subscribe, publish, read messages."""

    def __init__(self, host: str, port: int, *, username: str | None = None, client_id: str | None = None) -> None:
        self.host = host
        self.port = port
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}")
        if username is not None:
            self.paho.username_pw_set(username, "secret")
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self._subscribed = threading.Event()
        self.paho.on_connect = self._on_connect
        self.paho.on_message = self._on_message
        self.paho.on_subscribe = self._on_subscribe

    def connect(self) -> ReasonCode:
        self.paho.connect(self.host, self.port, keepalive=30)
        self.paho.loop_start()
        return self.connack.get(timeout=TIMEOUT_S)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscribed.clear()
        self.paho.subscribe(topic, qos)
        assert self._subscribed.wait(TIMEOUT_S), "no SUBACK"

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.paho.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(TIMEOUT_S)

    def next_message(self) -> mqtt.MQTTMessage:
        return self.messages.get(timeout=TIMEOUT_S)

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()

    def drop_connection(self) -> None:
        """Vanish without DISCONNECT, as a device losing power does."""
        self.paho.loop_stop()
        sock = self.paho.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connack.put(reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages.put(message)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        _reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        self._subscribed.set()


@pytest.fixture(params=["amqtt", "mosquitto"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningBroker]:
    running = start_amqtt() if request.param == "amqtt" else start_mosquitto(tmp_path)
    with running:
        yield running


@pytest.fixture
def clients(broker: RunningBroker) -> Iterator[list[Client]]:
    """Clients made with `connected(broker, clients)`, closed at the end of the test."""
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def connected(broker: RunningBroker, made: list[Client]) -> Client:
    client = Client(broker.host, broker.port)
    made.append(client)
    assert not client.connect().is_failure
    return client


def topic() -> str:
    return f"test-{uuid.uuid4().hex[:8]}/devices/esp32-0001/state"


def test_harness_broker_is_on_an_ephemeral_loopback_port(broker: RunningBroker) -> None:
    assert broker.host == "127.0.0.1"
    assert broker.port not in (0, 1883)
    assert broker.url == f"mqtt://127.0.0.1:{broker.port}"


def test_publish_subscribe_round_trip(broker: RunningBroker, clients: list[Client]) -> None:
    subscriber = connected(broker, clients)
    publisher = connected(broker, clients)
    name = topic()
    subscriber.subscribe(name)
    publisher.publish(name, b'{"v":1}')
    message = subscriber.next_message()
    assert (message.topic, message.payload, message.retain) == (name, b'{"v":1}', False)


def test_retained_message_reaches_a_late_subscriber(broker: RunningBroker, clients: list[Client]) -> None:
    publisher = connected(broker, clients)
    name = topic()
    publisher.publish(name, b'{"v":1,"version":7}', retain=True)
    late = connected(broker, clients)
    late.subscribe(name)
    message = late.next_message()
    assert (message.topic, message.payload, message.retain) == (name, b'{"v":1,"version":7}', True)


def test_a_client_gets_only_the_retained_messages_of_its_own_filters(
    broker: RunningBroker, clients: list[Client]
) -> None:
    root = f"test-{uuid.uuid4().hex[:8]}"
    watcher = connected(broker, clients)
    watcher.subscribe(f"{root}/#")  # an operator watching everything
    publisher = connected(broker, clients)
    publisher.publish(f"{root}/devices/dev-b/config", b'{"v":1,"for":"b"}', retain=True)
    publisher.publish(f"{root}/devices/dev-c/config", b'{"v":1,"for":"c"}', retain=True)
    device_c = connected(broker, clients)
    device_c.subscribe(f"{root}/devices/dev-c/config")
    assert device_c.next_message().payload == b'{"v":1,"for":"c"}'
    with pytest.raises(queue.Empty):
        device_c.messages.get(timeout=0.5)  # never device B's config


def test_quick_publishers_are_not_lost(broker: RunningBroker, clients: list[Client]) -> None:
    """Publish then DISCONNECT at once, as `mosquitto_pub` does, many times."""
    root = f"test-{uuid.uuid4().hex[:8]}"
    subscriber = connected(broker, clients)
    subscriber.subscribe(f"{root}/#", qos=0)
    for i in range(20):
        quick = Client(broker.host, broker.port)
        assert not quick.connect().is_failure
        quick.paho.publish(f"{root}/{i}", b"x", qos=0)
        quick.close()
    got = {subscriber.next_message().topic for _ in range(20)}
    assert got == {f"{root}/{i}" for i in range(20)}


def test_will_is_published_when_the_socket_drops(broker: RunningBroker, clients: list[Client]) -> None:
    watcher = connected(broker, clients)
    name = topic()
    watcher.subscribe(name)
    device = Client(broker.host, broker.port)
    device.paho.will_set(name, b'{"v":1,"online":false,"boot":3}', qos=1, retain=True)
    assert not device.connect().is_failure
    device.drop_connection()
    message = watcher.next_message()
    assert (message.topic, message.payload) == (name, b'{"v":1,"online":false,"boot":3}')


def test_restart_keeps_the_port(broker: RunningBroker, clients: list[Client]) -> None:
    port = broker.port
    broker.restart()
    assert broker.port == port
    connected(broker, clients)


def test_embedded_broker_port_zero_reports_the_bound_port() -> None:
    with EmbeddedBroker(parse(OPEN_ON_ANY_PORT)) as embedded:
        (port,) = embedded.ports
        assert port != 0
        assert embedded.url == f"mqtt://127.0.0.1:{port}"
        assert not port_is_free("127.0.0.1", port)
        client = Client("127.0.0.1", port)
        assert not client.connect().is_failure
        client.close()


def test_embedded_broker_several_listeners() -> None:
    conf = parse("listener 0 127.0.0.1\nlistener 0 127.0.0.1\nallow_anonymous true\n")
    with EmbeddedBroker(conf) as embedded:
        first, second = embedded.ports
        assert first != second
        for port in (first, second):
            client = Client("127.0.0.1", port)
            assert not client.connect().is_failure
            client.close()


def _loopback_ipv6() -> bool:
    return port_is_free("::1", 0)


@pytest.mark.skipif(not _loopback_ipv6(), reason="no IPv6 loopback on this machine")
def test_embedded_broker_ipv6_listener() -> None:
    # amqtt would pass a bracketed "[::1]" to getaddrinfo and fail; the bind must be unbracketed.
    with EmbeddedBroker(parse("listener 0 ::1\nallow_anonymous true\n")) as embedded:
        (port,) = embedded.ports
        assert embedded.url == f"mqtt://[::1]:{port}"
        client = Client("::1", port)
        assert not client.connect().is_failure
        client.close()


def test_embedded_broker_on_an_occupied_port_fails_clearly() -> None:
    with EmbeddedBroker(parse(OPEN_ON_ANY_PORT)) as first:
        (port,) = first.ports
        second = EmbeddedBroker(parse(f"listener {port} 127.0.0.1\nallow_anonymous true\n"))
        with pytest.raises(BrokerError) as caught:
            second.start()
        assert str(caught.value) == f"port {port} on 127.0.0.1 is already in use"
        assert not second.running
        second.stop()  # harmless after a failed start
        assert not port_is_free("127.0.0.1", port)  # the first broker still serves


def test_embedded_broker_failed_start_closes_listeners_it_opened() -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        taken = busy.getsockname()[1]
        mine = free_port()
        conf = parse(f"listener {mine} 127.0.0.1\nlistener {taken} 127.0.0.1\nallow_anonymous true\n")
        with pytest.raises(BrokerError, match=f"port {taken} on 127.0.0.1 is already in use"):
            EmbeddedBroker(conf).start()
        assert port_is_free("127.0.0.1", mine)
    finally:
        busy.close()


def test_embedded_broker_stop_is_clean_and_frees_the_port() -> None:
    embedded = EmbeddedBroker(parse(OPEN_ON_ANY_PORT))
    embedded.start()
    (port,) = embedded.ports
    client = Client("127.0.0.1", port)
    assert not client.connect().is_failure
    embedded.stop()
    embedded.stop()  # idempotent
    assert not embedded.running
    assert port_is_free("127.0.0.1", port)
    client.paho.loop_stop()
    with pytest.raises(BrokerError, match="not running"):
        _ = embedded.url


def test_embedded_broker_can_start_again_after_stop() -> None:
    embedded = EmbeddedBroker(parse(OPEN_ON_ANY_PORT))
    embedded.start()
    embedded.stop()
    embedded.start()
    try:
        client = Client("127.0.0.1", embedded.ports[0])
        assert not client.connect().is_failure
        client.close()
    finally:
        embedded.stop()


@pytest.mark.parametrize("username", [None, "esp32-0001"])
def test_embedded_broker_without_anonymous_refuses_everyone(username: str | None) -> None:
    # Mosquitto 2.0 refuses every client for `allow_anonymous false` with no password file;
    # amqtt's AnonymousAuthPlugin would let in any client that sends a username.
    with EmbeddedBroker(parse("listener 0 127.0.0.1\nallow_anonymous false\n")) as embedded:
        client = Client("127.0.0.1", embedded.ports[0], username=username)
        try:
            assert client.connect().is_failure
        finally:
            client.paho.loop_stop()


def test_port_is_free_and_free_port() -> None:
    port = free_port()
    assert port_is_free("127.0.0.1", port)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert not port_is_free("127.0.0.1", port)
        assert not port_is_free(None, port)
    assert not port_is_free("no-such-host.invalid", port)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_broker_serves_until_a_signal(tmp_path: Path, stop_signal: signal.Signals) -> None:
    conf = tmp_path / "broker.conf"
    conf.write_text("listener 1883 127.0.0.1\nallow_anonymous true\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_BROKER, str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"mqtt://127\.0\.0\.1:(\d+)", first)
        assert found, first
        port = int(found.group(1))
        assert port != 1883  # run_broker's port argument replaced the file's
        client = Client("127.0.0.1", port)
        assert not client.connect().is_failure
        client.close()
        process.send_signal(stop_signal)
        assert process.wait(TIMEOUT_S) == 0
        output = first + process.stdout.read()
        assert f"received {stop_signal.name}" in output
        assert "broker stopped" in output
        assert port_is_free("127.0.0.1", port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_startup_line_names_the_limits() -> None:
    line = describe_security(parse("listener 0 127.0.0.1\nallow_anonymous true\nmax_packet_size 1024\n"
                                   "max_queued_messages 500\n"))
    assert "packets up to 1,024 bytes" in line
    assert "at most 500 messages held for a client that falls behind" in line
    assert "packets up to" not in describe_security(parse(OPEN_ON_ANY_PORT))


@pytest.mark.parametrize("kind", ["amqtt", "mosquitto"])
def test_use_username_as_clientid(kind: str, tmp_path: Path) -> None:
    """As Mosquitto 2.0.11 means it: the listener replaces each client id by the username, so
    accounts with the same client id do not take each other over, the same account does; a client
    without a username is refused as not authorised even with `allow_anonymous true`."""
    conf = "use_username_as_clientid true\nallow_anonymous true\n"
    running = start_amqtt(f"listener 0 127.0.0.1\n{conf}") if kind == "amqtt" else start_mosquitto(tmp_path, conf)
    made: list[Client] = []
    dropped: dict[str, threading.Event] = {}

    def connect(username: str | None, client_id: str) -> ReasonCode:
        client = Client(running.host, running.port, username=username, client_id=client_id)
        made.append(client)
        dropped[f"{username}/{client_id}"] = gone = threading.Event()
        client.paho.on_disconnect = lambda paho_client, *_: (gone.set(), paho_client.disconnect())
        return client.connect()

    with running:
        try:
            assert str(connect(None, "anonymous")) == "Not authorized"
            assert not connect("u1", "same").is_failure
            assert not connect("u2", "same").is_failure  # u2's client id is u2: u1 keeps its connection
            first_u1, u2 = made[1], made[2]
            first_u1.subscribe("t/#")
            u2.publish("t/x", b"both here")
            assert first_u1.next_message().payload == b"both here"
            assert not dropped["u1/same"].is_set()
            assert not connect("u1", "other").is_failure  # u1's client id is u1 again: the first u1 goes
            assert dropped["u1/same"].wait(TIMEOUT_S)
            u2.subscribe("t/#")
            made[3].publish("t/y", b"still here")
            assert u2.next_message().payload == b"still here"
            assert not dropped["u2/same"].is_set() and not dropped["u1/other"].is_set()
        finally:
            for client in made:
                client.close()
