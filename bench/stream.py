"""Heartbeat streams: pre-encoded contract messages for N device ids, written at a paced rate.

Payloads come from the simulator's own `SimDevice` and the controller's codec, so the stream is
exactly what devices send. Encoding happens before the clock starts; pacing writes one chunk per
`tick_s` from a thread (socket writes release the GIL).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Final

from bench.wire import RawConnection, publish_packet
from controller.contract.messages import encode
from controller.contract.topics import Topics
from controller.sim.device import SimDevice

TICK_S: Final = 0.01


def device_id(prefix: str, n: int) -> str:
    return f"{prefix}{n:05d}"


def births(topics: Topics, prefix: str, count: int) -> list[bytes]:
    """A retained online status per device, as a device sends it on connect."""
    rng = random.Random(1)
    packets = []
    for n in range(1, count + 1):
        device = SimDevice(device_id(prefix, n), n, rng, 0.0)
        packets.append(publish_packet(topics.status(device.device_id), encode(device.birth().to_obj(device.device_id)),
                                      retain=True))
    return packets


def heartbeats(topics: Topics, prefix: str, count: int, rounds: int, start_uptime: float = 60.0) -> list[bytes]:
    """`rounds` heartbeats of each of `count` devices, round after round (30 s of uptime apart)."""
    rng = random.Random(2)
    devices = [SimDevice(device_id(prefix, n), n, rng, 0.0) for n in range(1, count + 1)]
    topic = [topics.heartbeat(d.device_id) for d in devices]
    packets = []
    for r in range(rounds):
        now = start_uptime + 30.0 * r
        for i, device in enumerate(devices):
            packets.append(publish_packet(topic[i], encode(device.heartbeat(now).to_obj(device.device_id))))
    return packets


@dataclass(frozen=True, slots=True)
class Sent:
    started: float
    ended: float
    messages: int

    @property
    def rate(self) -> float:
        return self.messages / max(1e-9, self.ended - self.started)


class PacedPublisher:
    """Writes `items` (cycled, each a connection and one encoded packet) at `rate` messages/s for
    `duration_s`: every `TICK_S` the next `rate * TICK_S` items, joined per connection."""

    def __init__(self, items: list[tuple[RawConnection, bytes]], rate: float, duration_s: float) -> None:
        per_tick = max(1, round(rate * TICK_S))
        self._ticks = max(1, round(duration_s / TICK_S))
        n_chunks = max(1, len(items) // per_tick)
        self._chunks: list[list[tuple[RawConnection, bytes]]] = []
        for k in range(n_chunks):
            by_conn: dict[int, tuple[RawConnection, list[bytes]]] = {}
            for conn, packet in items[k * per_tick:(k + 1) * per_tick]:
                by_conn.setdefault(id(conn), (conn, []))[1].append(packet)
            self._chunks.append([(conn, b"".join(packets)) for conn, packets in by_conn.values()])
        self._per_tick = per_tick
        self._thread = threading.Thread(target=self._run, name="bench-publisher", daemon=True)
        self.sent: Sent | None = None
        self.behind_s = 0.0
        """How far the writes fell behind schedule at the end (the broker did not read fast enough)."""

    @property
    def rate(self) -> float:
        return self._per_tick / TICK_S

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> Sent:
        self._thread.join(timeout)
        if self.sent is None:
            raise RuntimeError("the publisher did not finish")
        return self.sent

    def _run(self) -> None:
        t0 = time.monotonic()
        chunks, n = self._chunks, len(self._chunks)
        for k in range(self._ticks):
            delay = t0 + k * TICK_S - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for conn, data in chunks[k % n]:
                conn.send(data)
        end = time.monotonic()
        self.behind_s = max(0.0, end - (t0 + self._ticks * TICK_S))
        self.sent = Sent(t0, end, self._ticks * self._per_tick)
