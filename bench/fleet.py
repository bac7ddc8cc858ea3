"""A 10k-device fleet on Mosquitto: `fleet simulate`, session latency, offline detection, memory, restart.

One Mosquitto, one `fleet controller` and one `fleet simulate N` process (the simulator as a user
runs it, 30 s heartbeats with its ±10 % jitter). In order:

1. the controller starts on an empty database (its cold start is the restart's baseline) and its
   RSS is read with no device tracked;
2. the simulator connects N devices; from then until the restart its established connections are
   counted from /proc every 2 s and its CPU time is read (the steady state: 30 s heartbeats);
3. with N devices online and flushed, the controller's RSS is read again (memory per device);
4. probe devices written with raw MQTT die in the three ways a device dies: socket loss (the
   broker publishes the will at once), silence with the socket left open (the broker's keepalive
   expires, then the will) and a zombie that keeps pinging but sends no heartbeat (only the
   controller's TTL catches it). A poller asks the controller for its fleet table every 0.25 s
   (socket loss: as fast as replies come) and dates the first reply that shows the probe offline;
5. sessions start one after another at random gaps, each through the request API: the latency
   is from sending `session.start` to the device's retained `state` reporting the config applied
   (seen by this process on the wire), and to the reply of `session.wait` (what the lecturer sees);
6. the controller is killed (SIGKILL: no final flush) and started again; the time from its start
   to the first fleet table equal to the one before the kill is the cold-restart figure.
"""

from __future__ import annotations

import gc
import logging
import random
import signal
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from bench import procs, profile
from bench.control import ControlClient, Reply
from bench.wire import PINGREQ, RawConnection, Will, publish_packet
from controller.contract.messages import Heartbeat, JsonObject, Status, encode, load_object
from controller.contract.topics import Topics
from controller.core.liveness import Registry
from controller.daemon.settings import ControllerSettings
from controller.sim.device import SimDevice

log = logging.getLogger(__name__)

ROOT: Final = "bench-fleet"
FIRMWARE_KEEPALIVE_S: Final = 15
"""PubSubClient's default, which the firmware keeps (firmware/lib/fleet_core/.../limits.h)."""
SEED_HEARTBEAT_S: Final = 30.0
_POLL_S: Final = 0.25

UNLIMITED = ("--request-rate", "1000000", "--request-burst", "1000000")
"""This benchmark's pollers ask as fast as they can to date what they see (a restart, a device
gone): a measuring instrument, not a client to rate-limit."""


@dataclass(frozen=True)
class FleetSettings:
    devices: int = 10_000
    sessions: int = 100
    session_gap_s: tuple[float, float] = (0.2, 1.8)
    socket_loss_probes: int = 5
    silent_probes: int = 3
    zombie_probes: int = 3
    seed: int = 7
    profile_to: Path | None = None
    """Attach py-spy to the restarted controller and write its summary here."""


@dataclass(frozen=True)
class ProbeResult:
    kind: str
    device: str
    detected_after_s: float | None
    wire_will_after_s: float | None
    """When the will reached this process (None for zombies: no will is ever sent)."""


@dataclass(frozen=True)
class FleetResult:
    devices: int
    ramp_s: float
    sim_connected_min: int
    sim_connected_max: int
    sim_hold_s: float
    sim_cpu_share: float
    sim_rss_bytes: int
    sim_connect_failures_logged: int
    heartbeats_per_s: float
    controller_rss_idle_bytes: int
    controller_rss_fleet_bytes: int
    bytes_per_device: float
    sessions: int
    start_to_applied_s: list[float]
    start_to_confirmed_s: list[float]
    seed_baseline_s: list[float]
    session_errors: list[str]
    probes: list[ProbeResult]
    keepalive_s: int
    heartbeat_ttl_s: float
    cold_start_empty_s: float
    cold_restart_s: float | None
    restart_first_answer_s: float | None
    restart_table_before: JsonObject
    restart_table_after: JsonObject | None
    restart_online_ids_equal: bool
    profiled: bool


@dataclass(frozen=True)
class _Sessions:
    applied: list[float]
    confirmed: list[float]
    errors: list[str]


class _ConnectionCounter:
    """Samples the simulator's established connections to the broker every 2 s."""

    def __init__(self, pid: int, port: int) -> None:
        self._pid, self._port = pid, port
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-connections", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def now(self) -> int:
        return procs.established_to(self._pid, self._port)

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            try:
                self.samples.append((time.monotonic(), self.now()))
            except OSError:
                return


class _Probe:
    """A device written with raw MQTT: birth and one heartbeat, then it dies as told."""

    def __init__(self, broker: procs.Mosquitto, topics: Topics, device_id: str, index: int) -> None:
        self.device_id = device_id
        device = SimDevice(device_id, index, random.Random(index), 0.0)
        will = Will(topics.status(device_id), encode(device.will().to_obj(device_id)))
        self.conn = RawConnection(procs.HOST, broker.port, device_id, keepalive_s=FIRMWARE_KEEPALIVE_S, will=will)
        self.conn.send(publish_packet(topics.status(device_id), encode(device.birth().to_obj(device_id)), retain=True)
                       + publish_packet(topics.heartbeat(device_id), encode(device.heartbeat(60.0).to_obj(device_id))))
        self.died_at = time.monotonic()
        """The last thing the device sent that counts: its heartbeat (or, for socket loss, the drop)."""

    def drop(self) -> None:
        self.died_at = time.monotonic()
        self.conn.close(clean=False)

    def ping(self) -> None:
        self.conn.sock.sendall(PINGREQ)  # keeps the connection alive without counting as a heartbeat
        self.conn.drain()


class _TablePoller:
    """Asks for the fleet table (offline first) every `_POLL_S`; notes when each probe shows offline."""

    def __init__(self, api: ControlClient, probes: list[str]) -> None:
        self._api = api
        self._watch = set(probes)
        self.online_seen: set[str] = set()
        self.offline_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-table-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def observe(self, reply: Reply) -> None:
        for row in reply.result.get("devices", []):
            device = row.get("id")
            if device not in self._watch:
                continue
            if row.get("online"):
                self.online_seen.add(device)
            elif device in self.online_seen and device not in self.offline_at:
                self.offline_at[device] = reply.received_at

    def _run(self) -> None:
        limit = len(self._watch) + 10
        while not self._stop.wait(_POLL_S):
            try:
                reply = self._api.call("devices.list", {"offline_first": True, "limit": limit}, timeout=10)
            except Exception as exc:
                log.warning("fleet table poll failed: %s", exc)
                continue
            self.observe(reply)


def _table(api: ControlClient) -> JsonObject:
    return api.call("devices.list", {"limit": 1}, timeout=30).value()


def _totals(table: JsonObject) -> JsonObject:
    return {k: table.get(k) for k in ("total", "online", "offline", "available")}


def _online_ids(api: ControlClient) -> set[str]:
    rows = api.call("devices.list", {}, timeout=60).value().get("devices", [])
    return {str(r["id"]) for r in rows if r.get("online")}


def _wait_online(api: ControlClient, device: str, timeout: float) -> None:
    """Until the controller's table shows `device` online (probes sort before `sim-…` devices)."""
    def online() -> bool:
        rows = api.call("devices.list", {"limit": 200}, timeout=10).value()["devices"]
        return any(r["id"] == device and r["online"] for r in rows)
    procs.wait_until(f"{device} online", online, timeout, every=0.05)


def _applied_at(api: ControlClient, topics: Topics, device: str, version: int, mark: int) -> float | None:
    """When this process saw `device` report `version` applied, among watched messages from `mark` on."""
    state_topic = topics.state(device)
    for seen in api.seen(mark):
        if seen.topic == state_topic:
            state = load_object(seen.payload)
            if state.get("config_version") == version and state.get("result") == "applied":
                return seen.at
    return None


def _start_sessions(api: ControlClient, topics: Topics, settings: FleetSettings, rng: random.Random) -> _Sessions:
    applied: list[float] = []
    confirmed: list[float] = []
    errors: list[str] = []
    for i in range(settings.sessions):
        time.sleep(rng.uniform(*settings.session_gap_s))
        params = {"course": f"BN{i:04d}", "title": "Benchmark course", "session": "2024/2025",
                  "semester": "1st Semester", "lecturer": "bench"}
        mark = len(api.seen())
        t0 = time.monotonic()
        try:
            started = api.call("session.start", params, timeout=30).value()
            waited = api.call("session.wait", {"session_id": started["session_id"], "timeout_s": 30}, timeout=40)
            status = waited.value().get("status")
        except Exception as exc:
            errors.append(f"session {i}: {exc}")
            continue
        if status != "applied":
            errors.append(f"session {started['session_id']}: {status}")
            continue
        confirmed.append(waited.received_at - t0)
        device, version = str(started["device"]), int(started["config"]["version"])
        deadline = time.monotonic() + 2.0
        at = _applied_at(api, topics, device, version, mark)
        while at is None and time.monotonic() < deadline:
            time.sleep(0.01)
            at = _applied_at(api, topics, device, version, mark)
        if at is None:
            errors.append(f"session {started['session_id']}: applied state not seen on the wire")
        else:
            applied.append(at - t0)
    return _Sessions(applied, confirmed, errors)


@dataclass
class _Up:
    """The fleet once it is up: its processes and what was read on the way."""

    controller: procs.Proc
    sim: procs.Proc
    counter: _ConnectionCounter
    cold_start_empty_s: float
    rss_idle: int
    rss_fleet: int
    ramp_s: float
    sim_cpu: procs.CpuWindow
    heartbeats: tuple[float, int]


def _bring_up(api: ControlClient, broker: procs.Mosquitto, workdir: Path, db: str, devices: int) -> _Up:
    spawned = time.monotonic()
    controller = procs.fleet("controller-fleet", workdir, "--broker", broker.url, "--root", ROOT, "controller",
                             "--db", db, *UNLIMITED)
    cold_start_empty = api.wait_controller(60) - spawned
    time.sleep(2.0)
    rss_idle = controller.usage().rss_bytes
    log.info("fleet: controller up in %.2f s (RSS %.1f MB); starting `fleet simulate %d`", cold_start_empty,
             rss_idle / 1e6, devices)
    sim = procs.fleet("simulate", workdir, "--broker", broker.url, "--root", ROOT, "simulate", str(devices))
    sim_started = time.monotonic()
    procs.wait_until(f"{devices} simulated devices online",
                     lambda: (_table(api).get("online") or 0) >= devices, 300, every=1.0)
    ramp = time.monotonic() - sim_started
    counter = _ConnectionCounter(sim.pid, broker.port)
    counter.start()
    log.info("fleet: %d devices online after %.1f s", devices, ramp)
    time.sleep(ControllerSettings().flush_s + 1.0)
    heartbeats = (time.monotonic(), _heartbeats(api))
    return _Up(controller, sim, counter, cold_start_empty, rss_idle, controller.usage().rss_bytes, ramp,
               procs.CpuWindow(sim.pid), heartbeats)


def _heartbeats(api: ControlClient) -> int:
    return int(api.call("stats").value().get("received", {}).get("heartbeat", 0))


class _Probes:
    """Probe devices dying three ways, and the poller that dates when the controller notices."""

    def __init__(self, api: ControlClient, broker: procs.Mosquitto, topics: Topics, settings: FleetSettings) -> None:
        self._api = api
        self.ids = ([f"probe-loss-{i}" for i in range(settings.socket_loss_probes)]
                    + [f"probe-silent-{i}" for i in range(settings.silent_probes)]
                    + [f"probe-zombie-{i}" for i in range(settings.zombie_probes)])
        self.probes = {pid: _Probe(broker, topics, pid, 90_000 + i) for i, pid in enumerate(self.ids)}
        for pid in self.ids:
            _wait_online(api, pid, 30)
        self.poller = _TablePoller(api, self.ids)
        self.poller.observe(api.call("devices.list", {"limit": 200}))
        self._stop_pings = threading.Event()
        self._pinger = threading.Thread(target=self._ping_zombies, name="bench-zombie-pings", daemon=True)

    def start(self) -> None:
        self.poller.start()
        self._pinger.start()

    def _ping_zombies(self) -> None:
        zombies = [p for pid, p in self.probes.items() if pid.startswith("probe-zombie")]
        while not self._stop_pings.wait(5.0):
            for probe in zombies:
                probe.ping()

    def drop_socket_loss_probes(self) -> None:
        """One at a time, asking for the table as fast as replies come until the controller shows it offline."""
        query = {"offline_first": True, "limit": len(self.ids) + 10}
        for pid in self.ids:
            if pid.startswith("probe-loss"):
                self.probes[pid].drop()
                deadline = time.monotonic() + 30
                while pid not in self.poller.offline_at and time.monotonic() < deadline:
                    self.poller.observe(self._api.call("devices.list", query))

    def wait_all_offline(self, timeout: float) -> None:
        procs.wait_until("every probe offline", lambda: len(self.poller.offline_at) == len(self.ids), timeout, 0.5)

    def close(self) -> None:
        self.poller.stop()
        self._stop_pings.set()
        for probe in self.probes.values():
            probe.conn.close(clean=False)

    def results(self) -> list[ProbeResult]:
        wills = {m.topic.split("/")[-2]: m.at for m in self._api.seen()
                 if m.topic.endswith("/status") and not m.retained and b'"online":false' in m.payload}
        out = []
        for pid in self.ids:
            probe, found, will = self.probes[pid], self.poller.offline_at.get(pid), wills.get(pid)
            out.append(ProbeResult(pid.split("-")[1], pid, None if found is None else found - probe.died_at,
                                   None if will is None else will - probe.died_at))
        return out


@dataclass(frozen=True)
class _Restart:
    seconds: float | None
    first_answer_s: float | None
    before: JsonObject
    after: JsonObject | None
    online_equal: bool


def _crash_and_restart(api: ControlClient, broker: procs.Mosquitto, workdir: Path, db: str, *, controller: procs.Proc,
                       profile_to: Path | None, timeout: float = 60.0) -> _Restart:
    """SIGKILL the controller, start another; time until its table equals the one before the kill."""
    restart = _restart(api, broker, workdir, db, controller=controller, profiled=profile_to is not None,
                       timeout=timeout)
    pyspy = workdir / "restart.pyspy"
    if profile_to is not None and pyspy.exists():
        profile_to.parent.mkdir(parents=True, exist_ok=True)
        profile_to.write_text("py-spy on `fleet controller` from its start after a SIGKILL until its fleet table was "
                              "correct again\n\n" + profile.summarize(pyspy))
    return restart


def _restart(api: ControlClient, broker: procs.Mosquitto, workdir: Path, db: str, *, controller: procs.Proc,
             profiled: bool, timeout: float) -> _Restart:
    before = _table(api)
    online_before = _online_ids(api)
    controller.signal(signal.SIGKILL)
    controller.popen.wait()
    spawned = time.monotonic()
    restarted = procs.fleet("controller-fleet-restart", workdir, "--broker", broker.url, "--root", ROOT,
                            "controller", "--db", db, *UNLIMITED)
    first: float | None = None
    spy = profile.record(restarted.pid, 15, workdir / "restart.pyspy") if profiled and profile.available() else None
    with restarted:
        deadline = spawned + timeout
        while time.monotonic() < deadline:
            reply = api.try_call("devices.list", {"limit": 1}, timeout=0.25)
            if reply is None or not reply.ok:
                continue
            if first is None:
                first = reply.received_at - spawned
            if _totals(reply.result) == _totals(before):
                seconds = reply.received_at - spawned
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes what it has sampled on Ctrl-C
                    spy.wait(30)
                equal = _online_ids(api) == online_before
                return _Restart(seconds, first, _totals(before), _totals(reply.result), equal)
            time.sleep(0.02)
    return _Restart(None, first, _totals(before), None, False)


def run(workdir: Path, settings: FleetSettings) -> FleetResult:
    workdir.mkdir(parents=True, exist_ok=True)
    topics = Topics(ROOT)
    rng = random.Random(settings.seed)
    ttl = ControllerSettings().heartbeat_ttl_s
    db = f"sqlite:///{workdir / 'fleet.db'}"
    with procs.Mosquitto("mosquitto-fleet", workdir) as broker, \
            ControlClient(broker.url, ROOT, (topics.state("+"), topics.status("+"))) as api:
        up = _bring_up(api, broker, workdir, db, settings.devices)
        with up.controller, up.sim:
            probes = _Probes(api, broker, topics, settings)
            try:
                probes.start()
                probes.drop_socket_loss_probes()
                sessions = _start_sessions(api, topics, settings, rng)  # meanwhile silent and zombie probes expire
                probes.wait_all_offline(ttl + 30)
            finally:
                probes.close()
            hb_t, hb_n = up.heartbeats
            heartbeats_per_s = (_heartbeats(api) - hb_n) / (time.monotonic() - hb_t)
            _, sim_share = up.sim_cpu.end()
            sim_rss = up.sim.usage().rss_bytes
            up.counter.stop()
            restart = _crash_and_restart(api, broker, workdir, db, controller=up.controller,
                                         profile_to=settings.profile_to)
            up.sim.stop(30)
    connected = [n for _, n in up.counter.samples]
    hold = up.counter.samples[-1][0] - up.counter.samples[0][0] if up.counter.samples else 0.0
    failures = sum(1 for line in up.sim.log_path.read_text(errors="replace").splitlines() if "connect to" in line)
    baseline = [rng.uniform(0.0, SEED_HEARTBEAT_S) for _ in range(max(1, len(sessions.applied)))]
    return FleetResult(
        devices=settings.devices, ramp_s=up.ramp_s, sim_connected_min=min(connected, default=0),
        sim_connected_max=max(connected, default=0), sim_hold_s=hold, sim_cpu_share=sim_share, sim_rss_bytes=sim_rss,
        sim_connect_failures_logged=failures, heartbeats_per_s=heartbeats_per_s,
        controller_rss_idle_bytes=up.rss_idle, controller_rss_fleet_bytes=up.rss_fleet,
        bytes_per_device=(up.rss_fleet - up.rss_idle) / settings.devices, sessions=settings.sessions,
        start_to_applied_s=sessions.applied, start_to_confirmed_s=sessions.confirmed,
        seed_baseline_s=baseline, session_errors=sessions.errors, probes=probes.results(),
        keepalive_s=FIRMWARE_KEEPALIVE_S, heartbeat_ttl_s=ttl, cold_start_empty_s=up.cold_start_empty_s,
        cold_restart_s=restart.seconds, restart_first_answer_s=restart.first_answer_s,
        restart_table_before=restart.before, restart_table_after=restart.after,
        restart_online_ids_equal=restart.online_equal, profiled=settings.profile_to is not None,
    )


def registry_bytes_per_device(devices: int) -> float:
    """Python heap the controller's per-device state takes, by tracemalloc: each device's birth and
    heartbeat decoded and applied as the controller does, plus its entry in the online set."""
    rng = random.Random(3)
    topics = Topics(ROOT)
    sims = [SimDevice(f"sim-{n:05d}", n, rng, 0.0) for n in range(1, devices + 1)]
    wire = [(topics.status(d.device_id), encode(d.birth().to_obj(d.device_id)), topics.heartbeat(d.device_id),
             encode(d.heartbeat(60.0).to_obj(d.device_id))) for d in sims]
    del sims
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        registry = Registry(ttl=ControllerSettings().heartbeat_ttl_s)
        for status_topic, status, heartbeat_topic, heartbeat in wire:
            where = topics.parse_device(status_topic)
            registry.on_status(where.device_id, Status.from_obj(load_object(status)), 1000.0, retained=False)
            where = topics.parse_device(heartbeat_topic)
            registry.on_heartbeat(where.device_id, Heartbeat.from_obj(load_object(heartbeat)), 1000.0)
        registry.take_dirty()
        online = registry.online_ids(1000.0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    if len(online) != devices:
        raise RuntimeError(f"{len(online)} of {devices} devices online in the tracemalloc registry")
    return (after - before) / devices
