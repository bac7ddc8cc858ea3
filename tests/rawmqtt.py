"""Hand-built MQTT 3.1.1 packets on a plain socket, for tests that send what no client library will:
bad UTF-8, oversized or truncated packets, a CONNECT that never comes.
"""

from __future__ import annotations

import socket
import struct
import time

from controller.broker import wire

CONNACK, PUBLISH, PUBACK, SUBACK = 0x20, 0x30, 0x40, 0x90


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + wire.encode_remaining_length(len(body)) + body


def connect(client_id: bytes | str, *, username: bytes | str | None = None, password: bytes | str | None = None,
            will: tuple[bytes | str, bytes] | None = None, clean: bool = True, keepalive: int = 30) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    if will is not None:
        flags |= 0x04 | 0x08  # will QoS 1
    body = wire.encode_string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + wire.encode_string(client_id)
    if will is not None:
        body += wire.encode_string(will[0]) + wire.encode_string(will[1])
    if username is not None:
        body += wire.encode_string(username)
    if password is not None:
        body += wire.encode_string(password)
    return packet(0x10, body)


def publish(topic: bytes | str, payload: bytes = b"x", *, qos: int = 0, packet_id: int = 1,
            retain: bool = False) -> bytes:
    body = wire.encode_string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return packet(PUBLISH | qos << 1 | int(retain), body)


def subscribe(topic_filter: bytes | str, qos: int = 0, packet_id: int = 1) -> bytes:
    return packet(0x82, struct.pack("!H", packet_id) + wire.encode_string(topic_filter) + bytes([qos]))


class RawClient:
    """A TCP connection that sends bytes as given and reads packets back."""

    def __init__(self, host: str, port: int, *, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect((host, port))
        self._buffer = bytearray()
        self._at = 0  # where the next unread packet starts in _buffer

    def send(self, data: bytes) -> bool:
        """False if the broker has already closed the connection."""
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return True

    def connect(self, client_id: bytes | str = "raw", **kwargs: object) -> int | None:
        """The CONNACK's return code, or None if the connection closed first."""
        self.send(connect(client_id, **kwargs))  # type: ignore[arg-type]
        answer = self.read_packet(3.0)
        return answer[1][1] if answer is not None and answer[0] == CONNACK else None

    def read_packet(self, timeout: float) -> tuple[int, bytes] | None:
        """The next packet (first byte, body); None on end of stream or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(1 << 16)
            except (TimeoutError, OSError):
                return None
            if not data:
                return None
            if self._at:
                del self._buffer[:self._at]
                self._at = 0
            self._buffer += data

    def closed_within(self, timeout: float) -> bool:
        """Whether the broker closes the connection within `timeout` (what it sends first is read
        and dropped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                if not self.sock.recv(1 << 16):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True  # reset
        return False

    def close(self) -> None:
        self.sock.close()

    def _parse(self) -> tuple[int, bytes] | None:
        buffer, start = self._buffer, self._at
        length, multiplier, at = 0, 1, start + 1
        while True:
            if at >= len(buffer):
                return None
            byte = buffer[at]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            at += 1
            if not byte & 0x80:
                break
        if len(buffer) < at + length:
            return None
        self._at = at + length
        return buffer[start], bytes(buffer[at:at + length])
