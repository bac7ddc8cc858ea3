"""Raw MQTT 3.1.1 over a plain socket: the benchmark's load generators and probe devices.

paho costs tens of microseconds per publish in Python; a benchmark that must saturate a broker
or a controller from the same 2-core machine cannot afford that. Here packets are encoded once
(`publish_packet`) and written in large batches, so a publisher costs about what `sendall`
costs. The same connection type also plays devices that die in ways paho cannot: silent (no
packet at all, socket left open) and zombie (keepalive pings, no heartbeats).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from controller.broker import wire

CONNACK_LEN: Final = 4
PINGREQ: Final = b"\xc0\x00"
DISCONNECT: Final = b"\xe0\x00"


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def connect_packet(client_id: str, keepalive_s: int, will: Will | None = None) -> bytes:
    flags = 0x02  # clean session
    payload = wire.encode_string(client_id)
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += wire.encode_string(will.topic) + wire.encode_string(will.payload)
    variable = wire.encode_string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s)
    body = variable + payload
    return b"\x10" + wire.encode_remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, *, retain: bool = False) -> bytes:
    """A QoS 0 PUBLISH."""
    body = wire.encode_string(topic) + payload
    return bytes([0x30 | (1 if retain else 0)]) + wire.encode_remaining_length(len(body)) + body


def subscribe_packet(packet_id: int, topic_filter: str, qos: int = 0) -> bytes:
    body = struct.pack("!H", packet_id) + wire.encode_string(topic_filter) + bytes([qos])
    return b"\x82" + wire.encode_remaining_length(len(body)) + body


class RawConnection:
    """One MQTT connection on a blocking socket: connect, write pre-encoded packets, ping, close."""

    def __init__(self, host: str, port: int, client_id: str, *, keepalive_s: int = 60, will: Will | None = None,
                 timeout: float = 10.0) -> None:
        self.client_id = client_id
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id, keepalive_s, will))
        connack = self._read_exact(CONNACK_LEN)
        if connack[0] != 0x20 or connack[3] != 0:
            self.sock.close()
            raise ConnectionError(f"{client_id}: broker refused the connection ({connack.hex()})")
        self.last_sent = time.monotonic()

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"{self.client_id}: connection closed by the broker")
            data += chunk
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.last_sent = time.monotonic()

    def drain(self) -> None:
        """Read and discard whatever the broker sent (PINGRESP, SUBACK, ...) without blocking."""
        self.sock.setblocking(False)
        try:
            while self.sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self.sock.setblocking(True)

    def close(self, *, clean: bool = True) -> None:
        """Close; `clean=False` drops the socket without DISCONNECT (the broker publishes the will)."""
        try:
            if clean:
                self.sock.sendall(DISCONNECT)
            else:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


def batched(packets: Iterable[bytes], batch_bytes: int = 256 * 1024) -> list[bytes]:
    """Join packets into buffers of about `batch_bytes` for few large writes."""
    out: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for packet in packets:
        current.append(packet)
        size += len(packet)
        if size >= batch_bytes:
            out.append(b"".join(current))
            current, size = [], 0
    if current:
        out.append(b"".join(current))
    return out
