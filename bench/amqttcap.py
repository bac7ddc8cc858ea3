"""The embedded amqtt broker's capacity: the heartbeat rate it carries without loss, as a fleet size.

`fleet broker` runs as its own process (as `fleet broker --config broker.conf` does) with
`connections` device connections (each with a will and a retained birth) publishing heartbeats
and one raw subscriber taking them all. The offered rate rises step by step; a step passes when
the publishers kept to their schedule, every message arrived, and the last one arrived within
`max_lag_s` of the step's end (a broker that falls behind only queues, so lag is how loss starts).
The largest passing rate × 30 s is the fleet it carries at the contract's 30 s heartbeat.
"""

from __future__ import annotations

import logging
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench import procs, rawsub
from bench.stream import PacedPublisher, births, device_id, heartbeats
from bench.wire import RawConnection, Will
from controller.broker.startup import free_port
from controller.contract.messages import Status as StatusMessage
from controller.contract.messages import encode
from controller.contract.topics import Topics

log = logging.getLogger(__name__)

ROOT: Final = "bench-amqtt"
HEARTBEAT_S: Final = 30.0
_DRAIN_S: Final = 5.0


@dataclass(frozen=True)
class AmqttSettings:
    connections: int = 500
    rates: tuple[float, ...] = (1000.0, 2000.0, 3000.0, 4000.0, 4500.0, 5000.0, 5500.0, 6000.0, 7000.0, 8000.0,
                                10000.0)
    step_s: float = 8.0
    max_lag_s: float = 0.25
    """A step's last message may arrive this late: a backlog of about 3 % of an 8 s step."""


@dataclass(frozen=True)
class Step:
    rate: float
    sent: int
    delivered: int
    lag_s: float | None
    publisher_behind_s: float
    broker_cpu_share: float
    ok: bool


@dataclass(frozen=True)
class AmqttResult:
    connections: int
    step_s: float
    steps: list[Step]
    max_rate: float
    """The largest offered rate carried without loss (0 if none)."""
    fleet_at_30s: int
    broker_rss_bytes: int
    limit_found: bool
    """False when even the highest step was carried: then `max_rate` is a lower bound."""


@dataclass(frozen=True, slots=True)
class _Offered:
    rate: float
    sent: int
    ended: float
    behind_s: float
    cpu_share: float


def _judge(offered: _Offered, expected_total: int, times: array[float], max_lag_s: float) -> Step:
    """Delivery and lag of one step from the subscriber's arrival times (earlier steps all arrived)."""
    received = len(times)
    delivered = offered.sent - max(0, expected_total - received)
    lag = times[expected_total - 1] - offered.ended if received >= expected_total else None
    ok = delivered == offered.sent and offered.behind_s <= 0.5 and lag is not None and lag <= max_lag_s
    return Step(offered.rate, offered.sent, delivered, lag, offered.behind_s, offered.cpu_share, ok)


def _connect_devices(port: int, topics: Topics, count: int) -> list[RawConnection]:
    conns = []
    for n, birth in enumerate(births(topics, "amq-", count), start=1):
        device = device_id("amq-", n)
        will = Will(topics.status(device), encode(StatusMessage(False, 1).to_obj(device)))
        conn = RawConnection(procs.HOST, port, device, keepalive_s=600, will=will)
        conn.send(birth)
        conns.append(conn)
    return conns


def _offer(broker: procs.Proc, items: list[tuple[RawConnection, bytes]], rate: float, step_s: float) -> _Offered:
    publisher = PacedPublisher(items, rate, step_s)
    cpu = procs.CpuWindow(broker.pid)
    publisher.start()
    sent = publisher.join(step_s + 60)
    return _Offered(rate, sent.messages, sent.ended, publisher.behind_s, cpu.end()[1])


def run(workdir: Path, settings: AmqttSettings) -> AmqttResult:
    workdir.mkdir(parents=True, exist_ok=True)
    topics = Topics(ROOT)
    port = free_port()
    conf = workdir / "amqtt-broker.conf"
    conf.write_text(f"listener {port} {procs.HOST}\nallow_anonymous true\n")
    raw_dir = workdir / "rawsub-amqtt"
    raw_dir.mkdir(exist_ok=True)
    offered: list[_Offered] = []
    with procs.fleet("amqtt-broker", workdir, "broker", "--config", str(conf)) as broker:
        procs.wait_listening(port, 30, broker.popen)
        url = f"mqtt://{procs.HOST}:{port}"
        with procs.python_module("rawsub-amqtt", workdir, "bench.rawsub", url, topics.heartbeat("+"),
                                 str(raw_dir)) as raw:
            procs.wait_until("the raw subscriber", (raw_dir / rawsub.READY_FILE).exists, 30)
            conns = _connect_devices(port, topics, settings.connections)
            packets = heartbeats(topics, "amq-", settings.connections, 4)
            items = [(conns[i % settings.connections], p) for i, p in enumerate(packets)]
            expected = 0
            for rate in settings.rates:
                step = _offer(broker, items, rate, settings.step_s)
                offered.append(step)
                expected += step.sent
                deadline = step.ended + _DRAIN_S
                while rawsub.read_count(raw_dir) < expected and time.monotonic() < deadline:
                    time.sleep(0.05)
                kept_up = (rawsub.read_count(raw_dir) >= expected and step.behind_s <= 0.5
                           and time.monotonic() - step.ended <= settings.max_lag_s + 0.3)
                log.info("amqtt: %.0f msg/s offered: %s", rate, "carried" if kept_up else "not carried")
                if not kept_up:
                    break
            rss = broker.usage().rss_bytes
            for conn in conns:
                conn.close()
            raw.stop()
        times = rawsub.read_times(raw_dir)
    steps: list[Step] = []
    expected = 0
    for step in offered:
        expected += step.sent
        steps.append(_judge(step, expected, times, settings.max_lag_s))
    best = max((s.rate for s in steps if s.ok), default=0.0)
    return AmqttResult(settings.connections, settings.step_s, steps, best, int(best * HEARTBEAT_S), rss,
                       limit_found=not all(s.ok for s in steps) or len(steps) < len(settings.rates))
