"""Heartbeat ingest: `fleet controller` against a raw paho subscriber on one heartbeat stream.

One Mosquitto (unbounded per-client queues, so neither consumer loses messages to the broker),
one stream of contract heartbeats from `devices` distinct ids, offered faster than either
consumer can take it, and both consumers subscribed at once. The controller's count is its
`received.heartbeat` counter read through the request API (what `fleet stats --json` shows),
sampled every 0.1 s; the reply's arrival time dates the count, since the request is answered
in turn by the same worker. The raw subscriber dates every message itself. Both rates are
taken over the same window: from `skip_s` after the stream starts to its end.

Before the window, every device sends a retained birth and one heartbeat, and the controller
writes all of them to its database, so the window sees a registry of `devices` known devices
and the steady work of a fleet that size (coalesced liveness flushes included).
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs, profile, rawsub
from bench.control import ControlClient, Pending
from bench.stream import PacedPublisher, births, heartbeats
from bench.wire import RawConnection
from controller.contract.topics import Topics
from controller.daemon.settings import ControllerSettings

log = logging.getLogger(__name__)

ROOT = "bench-ingest"
_SAMPLE_EVERY_S = 0.1


@dataclass(frozen=True)
class IngestSettings:
    devices: int = 10_000
    offered_rate: float = 60_000.0
    duration_s: float = 25.0
    """Long enough to average over several of the controller's 5 s liveness flushes."""
    skip_s: float = 3.0
    profile_to: Path | None = None
    """Attach py-spy to the controller during the window and write its summary here."""


@dataclass(frozen=True)
class IngestResult:
    devices: int
    offered_rate: float
    offered_behind_s: float
    window_s: float
    controller_rate: float
    raw_rate: float
    ratio: float
    controller_cpu_share: float
    raw_cpu_share: float
    mosquitto_cpu_share: float
    bench_cpu_share: float
    machine_busy_cores: float
    """Cores busy on the whole machine during the window; minus the four shares above: other work."""
    controller_per_cpu_s: float
    raw_per_cpu_s: float
    ratio_per_cpu_s: float
    controller_backlog_at_end: int
    raw_backlog_at_end: int
    controller_rss_end_bytes: int
    controller_samples: int
    profiled: bool
    controller_timeline: list[tuple[float, int]] = field(default_factory=list)
    """(seconds from the window's start, heartbeats processed): the controller's stats samples."""
    notes: list[str] = field(default_factory=list)


def _interpolate(samples: list[tuple[float, int]], t: float) -> float | None:
    """The count at time `t` from (time, count) samples, linearly; None outside their span."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0:
        return float(samples[0][1]) if samples and times[0] == t else None
    if i == len(samples):
        return None
    (t0, c0), (t1, c1) = samples[i - 1], samples[i]
    return c0 + (c1 - c0) * (t - t0) / max(1e-9, t1 - t0)


class _StatsPoller:
    """Sends a `stats` request every `_SAMPLE_EVERY_S` until stopped; replies come back in turn."""

    def __init__(self, api: ControlClient) -> None:
        self._api = api
        self.pending: list[Pending] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-stats-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_EVERY_S):
            self.pending.append(self._api.send("stats"))

    def samples(self, base: int) -> list[tuple[float, int]]:
        out = []
        for p in self.pending:
            if p.reply is not None and p.reply.ok:
                received = p.reply.result.get("received", {})
                out.append((p.reply.received_at, int(received.get("heartbeat", 0)) - base))
        return sorted(out)

    def answered_after(self, t: float) -> bool:
        return any(p.reply is not None and p.reply.received_at >= t for p in self.pending)


def _heartbeats_seen(api: ControlClient) -> int:
    received = api.call("stats", timeout=60).value().get("received", {})
    return int(received.get("heartbeat", 0))


@dataclass(frozen=True)
class _Window:
    """What the measurement saw: the window's bounds and everything dated inside it."""

    start: float
    end: float
    offered_rate: float
    offered_messages: int
    behind_s: float
    cpu: list[tuple[float, float]]
    """(CPU seconds, share of a core) of the controller, the raw subscriber, Mosquitto, this process."""
    machine_busy_cores: float
    samples: list[tuple[float, int]]
    rss_end: int


def _warm_up(api: ControlClient, publisher: RawConnection, packets: list[bytes], raw_dir: Path, devices: int) -> int:
    """Every device's birth and first heartbeat, flushed to the database; the heartbeat count after it."""
    publisher.send(b"".join(packets))
    procs.wait_until("warm-up heartbeats", lambda: _heartbeats_seen(api) >= devices
                     and rawsub.read_count(raw_dir) >= devices, 120)
    time.sleep(ControllerSettings().flush_s + 1.0)  # the first flush inserts every device: kept out of the window
    return _heartbeats_seen(api)


def _measure(api: ControlClient, publisher: RawConnection, stream: list[bytes], settings: IngestSettings, *,
             pids: tuple[int, int, int], base: int, pyspy_out: Path) -> _Window:
    """Offer the stream; sample the controller's count until a sample is dated after the stream's end."""
    controller_pid, raw_pid, broker_pid = pids
    pub = PacedPublisher([(publisher, p) for p in stream], settings.offered_rate, settings.duration_s)
    poller = _StatsPoller(api)
    poller.start()
    pub.start()
    time.sleep(settings.skip_s)
    spy = None
    if settings.profile_to is not None and profile.available():
        spy = profile.record(controller_pid, settings.duration_s - settings.skip_s, pyspy_out)
    windows = [procs.CpuWindow(p) for p in (controller_pid, raw_pid, broker_pid, os.getpid())]
    machine = procs.MachineBusy()
    start = time.monotonic()
    sent = pub.join(settings.duration_s + 30)
    cpu = [w.end() for w in windows]
    busy = machine.end()
    procs.wait_until("a stats reply dated after the stream", lambda: poller.answered_after(sent.ended), 120)
    poller.stop()
    if spy is not None:
        spy.wait(30)
    samples = [(sent.started, 0), *poller.samples(base)]  # nothing of the stream had arrived before it started
    return _Window(start, sent.ended, pub.rate, sent.messages, pub.behind_s, cpu, busy, samples,
                   procs.usage(controller_pid).rss_bytes)


def run(workdir: Path, settings: IngestSettings) -> IngestResult:
    workdir.mkdir(parents=True, exist_ok=True)
    topics = Topics(ROOT)
    log.info("ingest: encoding %d births and a stream of heartbeats", settings.devices)
    warmup = births(topics, "dev-", settings.devices) + heartbeats(topics, "dev-", settings.devices, 1)
    stream = heartbeats(topics, "dev-", settings.devices, 3, start_uptime=120.0)
    raw_dir = workdir / "rawsub-ingest"
    raw_dir.mkdir(exist_ok=True)
    with procs.Mosquitto("mosquitto-ingest", workdir, "max_queued_messages 0") as broker:
        controller = procs.fleet("controller-ingest", workdir, "--broker", broker.url, "--root", ROOT, "controller",
                                 "--db", f"sqlite:///{workdir / 'ingest.db'}")
        with controller, ControlClient(broker.url, ROOT) as api:
            api.wait_controller(60)
            with procs.python_module("rawsub-ingest", workdir, "bench.rawsub", broker.url, topics.heartbeat("+"),
                                     str(raw_dir)) as raw:
                procs.wait_until("the raw subscriber", (raw_dir / rawsub.READY_FILE).exists, 30)
                publisher = RawConnection(procs.HOST, broker.port, "bench-publisher", keepalive_s=600)
                base = _warm_up(api, publisher, warmup, raw_dir, settings.devices)
                raw_base = rawsub.read_count(raw_dir)
                log.info("ingest: %d devices known; offering %.0f msg/s for %.0f s", settings.devices,
                         settings.offered_rate, settings.duration_s)
                window = _measure(api, publisher, stream, settings, pids=(controller.pid, raw.pid, broker.pid),
                                  base=base, pyspy_out=workdir / "ingest.pyspy")
            controller.kill()  # its backlog would take long to drain; nothing more is read from it
    return _analyse(settings, window, rawsub.read_times(raw_dir), raw_base, workdir / "ingest.pyspy")


def _analyse(settings: IngestSettings, w: _Window, raw_times: array[float], raw_base: int,
             pyspy: Path) -> IngestResult:
    c0, c1 = _interpolate(w.samples, w.start), _interpolate(w.samples, w.end)
    if c0 is None or c1 is None:
        raise RuntimeError("the controller's stats samples do not cover the measurement window")
    seconds = w.end - w.start
    raw_in_window = bisect.bisect_right(raw_times, w.end) - bisect.bisect_left(raw_times, w.start)
    ctl_rate, raw_rate = (c1 - c0) / seconds, raw_in_window / seconds
    ctl_per_cpu = (c1 - c0) / max(1e-9, w.cpu[0][0])
    raw_per_cpu = raw_in_window / max(1e-9, w.cpu[1][0])
    notes = []
    if settings.profile_to is not None:
        if pyspy.exists():
            settings.profile_to.parent.mkdir(parents=True, exist_ok=True)
            settings.profile_to.write_text(
                f"py-spy on `fleet controller` during the ingest window ({settings.offered_rate:.0f} msg/s offered, "
                f"{settings.devices} devices)\n\n" + profile.summarize(pyspy))
            notes.append(f"profiled run: py-spy was attached, see {settings.profile_to.name}")
        else:
            notes.append("py-spy was not available; no profile written")
    return IngestResult(
        devices=settings.devices, offered_rate=w.offered_rate, offered_behind_s=w.behind_s, window_s=seconds,
        controller_rate=ctl_rate, raw_rate=raw_rate, ratio=ctl_rate / raw_rate,
        controller_cpu_share=w.cpu[0][1], raw_cpu_share=w.cpu[1][1], mosquitto_cpu_share=w.cpu[2][1],
        bench_cpu_share=w.cpu[3][1], machine_busy_cores=w.machine_busy_cores,
        controller_per_cpu_s=ctl_per_cpu, raw_per_cpu_s=raw_per_cpu, ratio_per_cpu_s=ctl_per_cpu / raw_per_cpu,
        controller_backlog_at_end=w.offered_messages - round(c1),
        raw_backlog_at_end=w.offered_messages - (bisect.bisect_right(raw_times, w.end) - raw_base),
        controller_rss_end_bytes=w.rss_end, controller_samples=len(w.samples), profiled=settings.profile_to is not None,
        controller_timeline=[(round(t - w.start, 3), n) for t, n in w.samples], notes=notes,
    )
