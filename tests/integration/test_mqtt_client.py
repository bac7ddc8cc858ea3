"""The controller's paho client reads the socket in chunks (controller.adapters.mqtt._BufferedClient).

A scripted peer on a loopback socket plays the broker, so each test decides exactly how the
bytes arrive: many packets in one segment and then silence, or one packet split across writes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as paho
import pytest

from bench.wire import publish_packet
from controller.adapters.mqtt import BrokerAddress, new_client
from tests.waiting import eventually

CONNACK = b"\x20\x02\x00\x00"


class ScriptedBroker:
    """Accepts one client, answers its CONNECT, then sends what the test writes."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._peer: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._peer, _ = self._server.accept()
        self._peer.recv(4096)  # CONNECT
        self._peer.sendall(CONNACK)
        self._accepted.set()

    def send(self, data: bytes) -> None:
        assert self._accepted.wait(10), "the client never connected"
        assert self._peer is not None
        self._peer.sendall(data)

    def close(self) -> None:
        if self._peer is not None:
            self._peer.close()
        self._server.close()


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedBroker, paho.Client, list[tuple[str, bytes]]]]:
    broker = ScriptedBroker()
    received: list[tuple[str, bytes]] = []
    client = new_client(BrokerAddress("127.0.0.1", broker.port))
    client.on_message = lambda _c, _u, m: received.append((m.topic, m.payload))
    client.connect("127.0.0.1", broker.port, keepalive=60)
    client.loop_start()
    yield broker, client, received
    client.loop_stop()
    client.disconnect()
    broker.close()


def test_every_packet_of_one_segment_is_delivered_without_more_bytes_arriving(
    scripted: tuple[ScriptedBroker, paho.Client, list[tuple[str, bytes]]],
) -> None:
    """select() cannot see bytes already buffered: they must be handled before waiting again."""
    broker, _client, received = scripted
    packets = [(f"t/devices/d{i}/heartbeat", b'{"v":1,"n":%d}' % i) for i in range(2000)]
    broker.send(b"".join(publish_packet(topic, payload) for topic, payload in packets))
    eventually(lambda: len(received) == len(packets), timeout=5)
    assert received == packets


def test_a_packet_split_across_writes_is_reassembled(
    scripted: tuple[ScriptedBroker, paho.Client, list[tuple[str, bytes]]],
) -> None:
    broker, _client, received = scripted
    first, second = publish_packet("t/a", b"x" * 300), publish_packet("t/b", b"y" * 5)
    stream = first + second
    for cut in (1, 2, 150, len(first) - 1, len(first) + 1):  # inside the header, the length, the payload
        received.clear()
        broker.send(stream[:cut])
        time.sleep(0.05)
        broker.send(stream[cut:])
        eventually(lambda: len(received) == 2, timeout=5)
        assert received == [("t/a", b"x" * 300), ("t/b", b"y" * 5)]


def test_client_sockets_send_without_nagle_delay(
    scripted: tuple[ScriptedBroker, paho.Client, list[tuple[str, bytes]]],
) -> None:
    _broker, client, _received = scripted
    eventually(client.is_connected, timeout=5)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
