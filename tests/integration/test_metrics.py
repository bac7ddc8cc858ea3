"""The controller's /metrics, /healthz, /readyz and systemd notifications against a real broker, a
real SQLite file, simulated devices and real sockets: a scrape agrees with `fleet devices --json`
and `fleet stats --json` (FleetClient's devices() and stats(), which those commands print)."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import __version__
from controller.adapters.client import FleetClient
from controller.adapters.systemd import Notifier
from controller.contract.requests import DevicesListParams, SessionStartParams
from controller.contract.results import DevicesList, StatsResult
from controller.daemon.controller import Controller
from controller.errors import FleetError
from controller.sim.simulator import SimConfig, Simulator
from tests.brokers import RunningBroker, start_amqtt
from tests.conftest import fast_settings
from tests.waiting import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
START = SessionStartParams(course="CS101", title="Intro", session="2024/2025", semester="1st Semester",
                           lecturer="alice")


@pytest.fixture(scope="module")
def broker() -> Iterator[RunningBroker]:
    with start_amqtt() as running:
        yield running


def get(ctl: Controller, path: str) -> tuple[int, str]:
    server = ctl.observer.server
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://{server.host}:{server.port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(ctl: Controller) -> Samples:
    status, text = get(ctl, "/metrics")
    assert status == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def labelled(samples: Samples, name: str, label: str) -> dict[str, int]:
    return {dict(labels)[label]: int(v) for (n, labels), v in samples.items() if n == name}


def agree(samples: Samples, devices: DevicesList, stats: StatsResult) -> list[str]:
    """What differs between a scrape and devices.list + stats answered just before it."""
    expected = {
        ("fleet_devices", "online"): devices.online, ("fleet_devices", "offline"): devices.offline,
        ("fleet_devices", "available"): devices.available,
        ("fleet_devices", "busy"): sum(1 for d in devices.devices if d.session_id is not None),
        ("fleet_devices", "flagged"): sum(1 for d in devices.devices if d.flags),
    }
    diffs = [f"{name}{{state={state}}}: {value(samples, name, state=state)} != {want}"
             for (name, state), want in expected.items() if value(samples, name, state=state) != want]
    checkins = {k: v for k, v in stats.checkins.items() if k in ("stored", "duplicate")}
    refused = {k: v for k, v in stats.checkins.items() if k not in ("stored", "duplicate")}
    for name, label, want in (("fleet_messages_received_total", "channel", stats.received),
                              ("fleet_messages_rejected_total", "reason", stats.rejected),
                              ("fleet_messages_unsent_total", "reason", stats.unsent),
                              ("fleet_checkins_refused_total", "reason", refused)):
        if labelled(samples, name, label) != dict(want):
            diffs.append(f"{name}: {labelled(samples, name, label)} != {dict(want)}")
    got = labelled(samples, "fleet_checkins_total", "result")
    if {k: v for k, v in got.items() if v or k in checkins} != dict(checkins):
        diffs.append(f"fleet_checkins_total: {got} != {checkins}")
    if value(samples, "fleet_broker_connections_total") != stats.connections:
        diffs.append(f"connections: {value(samples, 'fleet_broker_connections_total')} != {stats.connections}")
    return diffs


def test_a_scrape_matches_fleet_devices_and_fleet_stats(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller],
) -> None:
    ctl = start_controller(metrics_port=0)
    # one heartbeat each, then quiet for the test's length: the counters hold still between answers
    sim = Simulator(SimConfig(broker_url=broker.url, root=root, count=4, heartbeat_s=3600, seed=3,
                              id_prefix=f"t{uuid.uuid4().hex[:8]}-"))
    sim.start()
    try:
        with FleetClient(broker.url, root) as client:
            eventually(lambda: client.devices(DevicesListParams()).online == 4, timeout=15, what="4 devices online")
            started = client.start_session(START)
            eventually(lambda: any(s.applied for s in client.sessions(active=True).sessions), timeout=15,
                       what="the session applied")
            retired = next(d.id for d in client.devices(DevicesListParams()).devices if d.session_id is None)
            client.retire(retired)
            diffs: list[str] = []

            def matches() -> bool:
                devices, stats = client.devices(DevicesListParams()), client.stats()
                diffs[:] = agree(scrape(ctl), devices, stats)
                return not diffs

            eventually(matches, timeout=15, what="a scrape agreeing with devices.list and stats")
            samples = scrape(ctl)
            devices = client.devices(DevicesListParams())
            assert (devices.online, devices.available) == (3, 2)
            assert value(samples, "fleet_devices", state="retired") == 1
            assert value(samples, "fleet_devices", state="busy") == 1
            assert labelled(samples, "fleet_sessions", "state") == {"pending": 0, "applied": 1, "rejected": 0,
                                                                     "degraded": 0}
            assert value(samples, "fleet_broker_connected") == 1
            assert value(samples, "fleet_controller_info", version=__version__,
                         controller_id=ctl.settings.controller_id) == 1
            assert value(samples, "fleet_request_duration_seconds_count", method="stats") >= 1
            assert value(samples, "fleet_request_duration_seconds_count", method="unknown") == 0
            assert value(samples, "fleet_session_apply_seconds_count") == 1
            assert 0 < value(samples, "fleet_session_apply_seconds_sum") < 15
            assert value(samples, "fleet_liveness_flush_duration_seconds_count") >= 1
            assert abs(value(samples, "fleet_last_tick_timestamp_seconds") - time.time()) < 5
            assert started.device != retired
            assert not any(labels and dict(labels).get("device") for _, labels in samples)  # no per-device label
    finally:
        sim.stop()


def test_healthz_fails_when_the_ticker_stops_and_readyz_when_the_broker_goes(
    start_controller: Callable[..., Controller],
) -> None:
    own = start_amqtt()  # this test stops its broker
    with own:
        ctl = start_controller(own.url, metrics_port=0, health_stale_s=1.0)
        eventually(lambda: get(ctl, "/readyz") == (200, "ok\n"), what="ready")
        assert get(ctl, "/healthz") == (200, "ok\n")
        own.stop()
        eventually(lambda: get(ctl, "/readyz")[0] == 503, what="not ready without the broker")
        assert "not connected to the broker" in get(ctl, "/readyz")[1]
        assert get(ctl, "/healthz")[0] == 200  # still ticking: alive, only not ready
        assert value(scrape(ctl), "fleet_broker_connected") == 0
        ctl.halt_ticks()
        time.sleep(1.5)
        status, body = get(ctl, "/healthz")
        assert status == 503 and "last tick" in body
        assert get(ctl, "/nothing")[0] == 404


def test_readyz_before_the_broker_accepts_the_controller(root: str, tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers CONNECT
    port = silent.getsockname()[1]
    ctl = Controller(fast_settings(f"mqtt://127.0.0.1:{port}", root, f"sqlite:///{tmp_path / 'f.db'}", metrics_port=0))
    failed: list[BaseException] = []

    def start() -> None:
        try:
            ctl.start(connect_timeout=3)
        except FleetError as exc:
            failed.append(exc)

    starting = threading.Thread(target=start)
    starting.start()
    try:
        eventually(lambda: ctl.observer.server is not None, what="the metrics server")
        server = ctl.observer.server
        assert server is not None
        status, body = get(ctl, "/readyz")
        assert status == 503 and "not connected to the broker" in body and "initial resync" in body
        assert get(ctl, "/healthz")[0] == 503
        starting.join(10)
        assert failed and "did not accept" in str(failed[0])
        with pytest.raises(OSError):  # a failed start serves nothing
            socket.create_connection((server.host, server.port), timeout=2).close()
    finally:
        starting.join(10)
        silent.close()
        ctl.store.close()


def test_systemd_hears_ready_then_watchdog_pings_then_stopping(
    broker: RunningBroker, root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(path))
        systemd.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
        ctl = Controller(fast_settings(broker.url, root, f"sqlite:///{tmp_path / 'fleet.db'}"))
        ctl.start()
        try:
            heard = [systemd.recv(64).decode()]
            while heard.count("WATCHDOG=1") < 2 or "READY=1" not in heard:
                heard.append(systemd.recv(64).decode())
        finally:
            ctl.stop()
        assert heard.count("READY=1") == 1 and set(heard) == {"READY=1", "WATCHDOG=1"}
        assert "WATCHDOG=1" in heard[heard.index("READY=1"):]  # a ping each tick, READY once it resynced
        while (message := systemd.recv(64).decode()) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"


def test_no_watchdog_pings_unless_systemd_asks_and_abstract_sockets_are_reached() -> None:
    name = f"fleet-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind("\0" + name)
        systemd.settimeout(5)
        quiet = Notifier({"NOTIFY_SOCKET": "@" + name})  # no WATCHDOG_USEC: no watchdog asked for
        quiet.watchdog()
        quiet.ready()
        assert systemd.recv(64) == b"READY=1"
        other = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
        assert not other.watchdog_on  # the pings are for another process
        Notifier({}).ready()  # not under systemd: nothing, no error
