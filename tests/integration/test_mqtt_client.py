"""The overrides of paho's internals in controller.adapters.mqtt: the client reading the socket in
chunks (`_BufferedClient`) and `drop_unsent`.

A scripted peer on a loopback socket plays the broker, so each test decides exactly how the
bytes arrive: many packets in one segment and then silence, one packet split across writes, a
stream that never stops, a connection that drops with bytes or messages in flight.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest

from bench.wire import publish_packet
from controller.adapters.mqtt import BrokerAddress, drop_unsent, new_client
from tests.waiting import eventually

CONNACK = b"\x20\x02\x00\x00"


class Peer:
    """A listening socket playing the broker: each `accept()` takes the next connection, reads its
    CONNECT and answers CONNACK; after that the test writes to the connection what it wants."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(5)
        self.port = self._server.getsockname()[1]
        self.connections: list[socket.socket] = []

    def accept(self) -> socket.socket:
        conn, _ = self._server.accept()
        conn.settimeout(5)
        conn.recv(4096)  # CONNECT
        conn.sendall(CONNACK)
        conn.settimeout(None)  # read_until waits with select(); a flood's sendall() may block
        self.connections.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.connections:
            conn.close()
        self._server.close()


def read_until(conn: socket.socket, marker: bytes, timeout: float = 5.0) -> bytes:
    """What the client sent on `conn` until `marker`; fails if it has not come within `timeout`."""
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} did not arrive within {timeout} s"
        ready, _, _ = select.select([conn], [], [], min(left, 0.1))
        if ready:
            chunk = conn.recv(65536)
            assert chunk, f"the connection closed before {marker!r} arrived"
            data += chunk
    return data


@pytest.fixture
def peer() -> Iterator[Peer]:
    peer = Peer()
    yield peer
    peer.close()


@pytest.fixture
def scripted(peer: Peer) -> Iterator[tuple[socket.socket, paho.Client, list[tuple[str, bytes]]]]:
    """A client on paho's network thread, connected to `peer`: the connection and what it received."""
    received: list[tuple[str, bytes]] = []
    client = new_client(BrokerAddress("127.0.0.1", peer.port))
    client.on_message = lambda _c, _u, m: received.append((m.topic, m.payload))
    client.connect("127.0.0.1", peer.port, keepalive=60)  # writes CONNECT: no network thread yet
    conn = peer.accept()
    client.loop_start()
    yield conn, client, received
    client.loop_stop()
    client.disconnect()


def test_every_packet_of_one_segment_is_delivered_without_more_bytes_arriving(
    scripted: tuple[socket.socket, paho.Client, list[tuple[str, bytes]]],
) -> None:
    """select() cannot see bytes already buffered: they must be handled before waiting again."""
    conn, _client, received = scripted
    packets = [(f"t/devices/d{i}/heartbeat", b'{"v":1,"n":%d}' % i) for i in range(2000)]
    conn.sendall(b"".join(publish_packet(topic, payload) for topic, payload in packets))
    eventually(lambda: len(received) == len(packets), timeout=5)
    assert received == packets


def test_a_packet_split_across_writes_is_reassembled(
    scripted: tuple[socket.socket, paho.Client, list[tuple[str, bytes]]],
) -> None:
    conn, _client, received = scripted
    first, second = publish_packet("t/a", b"x" * 300), publish_packet("t/b", b"y" * 5)
    stream = first + second
    for cut in (1, 2, 150, len(first) - 1, len(first) + 1):  # inside the header, the length, the payload
        received.clear()
        conn.sendall(stream[:cut])
        time.sleep(0.05)
        conn.sendall(stream[cut:])
        eventually(lambda: len(received) == 2, timeout=5)
        assert received == [("t/a", b"x" * 300), ("t/b", b"y" * 5)]


def test_client_sockets_send_without_nagle_delay(
    scripted: tuple[socket.socket, paho.Client, list[tuple[str, bytes]]],
) -> None:
    _conn, client, _received = scripted
    eventually(client.is_connected, timeout=5)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def _loop_until(client: paho.Client, done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out driving the client"
        client.loop(0.05)


def test_bytes_left_from_a_closed_connection_are_not_read_on_the_next(peer: Peer) -> None:
    """`_sock_close` empties the buffer: a handler that reconnects while the old connection's bytes
    are still buffered must not get them as if the new connection had sent them."""
    received: list[str] = []
    client = new_client(BrokerAddress("127.0.0.1", peer.port))

    def on_message(c: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        received.append(message.topic)
        if message.topic == "old/1":
            c.reconnect()

    client.on_message = on_message
    client.connect("127.0.0.1", peer.port, keepalive=60)
    first = peer.accept()
    first.sendall(publish_packet("old/1", b"a") + publish_packet("old/2", b"b"))  # one segment
    _loop_until(client, lambda: bool(received))
    client.loop_write()  # the new CONNECT, queued inside the callback
    second = peer.accept()
    second.sendall(publish_packet("new/1", b"c"))
    _loop_until(client, lambda: "new/1" in received)
    assert received == ["old/1", "new/1"]
    client.disconnect()


def test_drop_unsent_forgets_what_the_last_connection_sent(peer: Peer) -> None:
    """A QoS 1 message written on a connection that then dropped is not sent again after the next
    CONNACK; one published while disconnected is."""
    dropped: list[int] = []
    client = new_client(BrokerAddress("127.0.0.1", peer.port))
    client.on_connect = lambda c, _u, _f, _rc, _p: dropped.append(drop_unsent(c))
    client.connect("127.0.0.1", peer.port, keepalive=60)
    first = peer.accept()
    _loop_until(client, client.is_connected)
    client.publish("t/lost", b"1", qos=1)
    _loop_until(client, lambda: client.want_write() is False)
    read_until(first, b"t/lost")  # on the wire, never acknowledged
    first.close()
    _loop_until(client, lambda: not client.is_connected())
    client.publish("t/queued", b"2", qos=1)
    client.reconnect()
    second = peer.accept()
    _loop_until(client, lambda: len(dropped) == 2)
    client.loop(0.05)
    sent = read_until(second, b"t/queued")
    assert dropped == [0, 1]
    assert b"t/lost" not in sent  # paho would have sent it before t/queued
    client.disconnect()


def test_a_ceaseless_stream_does_not_starve_the_clients_writes(
    scripted: tuple[socket.socket, paho.Client, list[tuple[str, bytes]]],
) -> None:
    """`loop_read` makes one `recv()` at most: while the broker never stops sending, paho's network
    thread still gets to write what the client publishes."""
    conn, client, received = scripted
    burst = b"".join(publish_packet(f"t/devices/d{i}/heartbeat", b'{"v":1}') for i in range(1000))
    stop = threading.Event()

    def flood() -> None:
        deadline = time.monotonic() + 10
        with contextlib.suppress(OSError):
            while not stop.is_set() and time.monotonic() < deadline:
                conn.sendall(burst)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        eventually(lambda: len(received) > 1000, timeout=5)
        client.publish("t/out", b"reply", qos=0)
        assert b"t/out" in read_until(conn, b"t/out", timeout=3)
    finally:
        stop.set()
    flooder.join(5)
