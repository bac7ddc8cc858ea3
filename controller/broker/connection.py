"""One client connection of the embedded broker as amqtt reads it: whole packets that
`controller.broker.wire` accepted, each in time, or the connection closed at once.

amqtt parsed whatever came and never dropped a silent client; `Connection` stands between the socket
and amqtt's parser (it is the `ReaderAdapter` amqtt reads from) so that a CONNECT must arrive
whole within CONNECT_TIMEOUT_S of the accept, and after it a packet at least every
KEEPALIVE_GRACE keepalives (MQTT 3.1.1 §3.1.2.10); a refused packet or a missed deadline aborts
the connection, and amqtt then ends the session as if the client had dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from amqtt.adapters import ReaderAdapter

from controller.broker import wire
from controller.logtext import shown

CONNECT_TIMEOUT_S = 10.0
"""How long a new socket has to deliver its whole CONNECT (a TLS handshake has as long again).
Mosquitto 2.0.11 drops a silent socket after about 90 s; amqtt never did. Read at each use, so a
test may shorten it."""
KEEPALIVE_GRACE = 1.5
"""MQTT 3.1.1 §3.1.2.10: a client silent for 1.5 keepalives is disconnected (amqtt never did)."""
_READ_CHUNK = 256 * 1024


class Connection(ReaderAdapter):  # type: ignore[misc]
    """One client connection as amqtt reads it: whole packets that `controller.broker.wire` accepted, each
    in time (the CONNECT within CONNECT_TIMEOUT_S of the accept, then data at least every 1.5
    keepalives). Anything else aborts the connection at once: amqtt then reads the end of the
    stream and ends the session, publishing its will.

    The socket is read in chunks into `_inbox`, which never holds more than the packet being
    received and one chunk; a packet's fixed header is checked as soon as it is there, before its
    body is waited for. State lives in the object between reads, so amqtt cancelling a read (its
    own keepalive wait) loses nothing.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_packet_size: int | None,
                 refused: Callable[[Connection, wire.Refused], None]) -> None:
        self._reader = reader
        self._writer = writer
        self._max_packet_size = max_packet_size
        self._refused = refused
        peer = writer.get_extra_info("peername")
        self.host = str(peer[0]) if peer else "?"
        self.peer = f"{self.host}:{peer[1]}" if peer else "?"
        self.client_id: str | None = None
        self.use_username_as_clientid = False  # its listener's directive (set by the broker)
        self.closed = False
        self._ready = b""  # the checked packet amqtt is reading
        self._at = 0
        self._inbox = bytearray()  # bytes received, not yet handed to amqtt
        self._start = 0  # where the next packet starts in _inbox
        self._body_at = 0  # where its body starts, once its fixed header is complete
        self._remaining: int | None = None  # its remaining length, once known (and checked)
        self._connected = False
        self._patience: float | None = CONNECT_TIMEOUT_S
        self._deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S

    @property
    def who(self) -> str:
        """The client as denials are counted: its client id, or its address before CONNECT."""
        return shown(self.client_id) if self.client_id is not None else self.host

    def describe(self) -> str:
        return f"{shown(self.client_id)} from {self.peer}" if self.client_id is not None else self.peer

    async def read(self, n: int = -1) -> bytes:
        if self._at >= len(self._ready):
            packet = await self._next_packet()
            if packet is None:
                return b""
            self._ready, self._at = packet, 0
        end = len(self._ready) if n < 0 else self._at + n
        chunk = self._ready[self._at:end]
        self._at += len(chunk)
        return chunk

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def close(self) -> None:
        """Drop the connection now, without flushing what waits to be sent on it."""
        self.closed = True
        self._writer.transport.abort()

    async def _next_packet(self) -> bytes | None:
        if self.closed:
            return None
        try:
            while (packet := self._take_packet()) is None:
                if self._start:  # drop what amqtt has had (all of it, usually: a fresh buffer)
                    if self._start == len(self._inbox):
                        self._inbox = bytearray()
                    else:
                        del self._inbox[:self._start]
                    self._body_at -= self._start
                    self._start = 0
                chunk = await self._in_time(self._reader.read(_READ_CHUNK))
                if not chunk:
                    self.closed = True
                    return None
                self._inbox += chunk
                self._heard()
        except wire.Refused as exc:
            self._refuse(exc)
            return None
        except TimeoutError:
            self._refuse(wire.Refused("timeout", f"sent nothing for {self._patience:g} s (1.5 keepalives)"
                                      if self._connected else f"sent no whole CONNECT within {CONNECT_TIMEOUT_S:g} s"))
            return None
        except ConnectionError:
            self.closed = True
            return None
        if not self._connected:
            self._connected = True
            keepalive = wire.connect_keepalive(packet[self._header_length(packet):])
            self._patience = keepalive * KEEPALIVE_GRACE if keepalive else None
            self._heard()
        return packet

    def _take_packet(self) -> bytes | None:
        """The next whole packet in the inbox, checked; None while part of it has still to arrive."""
        inbox, start = self._inbox, self._start
        if self._remaining is None:
            end = start + 2
            while (length := wire.remaining_length(inbox[start:end])) is None:
                if end > len(inbox):
                    return None
                end += 1
            if end > len(inbox):
                return None
            wire.check_size(inbox[start], length, connected=self._connected, max_packet_size=self._max_packet_size)
            self._body_at, self._remaining = end, length
        stop = self._body_at + self._remaining
        if len(inbox) < stop:
            return None
        wire.check_packet(inbox[start], bytes(inbox[self._body_at:stop]))
        packet = bytes(inbox[start:stop])
        self._start, self._remaining = stop, None
        return packet

    @staticmethod
    def _header_length(packet: bytes) -> int:
        end = 2
        while packet[end - 1] & 0x80:
            end += 1
        return end

    async def _in_time(self, read: Awaitable[bytes]) -> bytes:
        if self._patience is None:
            return await read
        async with asyncio.timeout_at(self._deadline):
            return await read

    def _heard(self) -> None:
        """The client is alive: after CONNECT, data restarts its clock. The CONNECT's own deadline
        never moves, so a client trickling its CONNECT cannot hold a socket open."""
        if self._connected and self._patience is not None:
            self._deadline = asyncio.get_running_loop().time() + self._patience

    def _refuse(self, exc: wire.Refused) -> None:
        self._refused(self, exc)
        self.close()
