"""Issue 16's "done when" through the rollout engine at its stated scale: 200 simulated devices, a
real controller on SQLite with a clock the test drives (so a per-minute rate makes several waves in
a short test), the embedded broker, and images served from the controller's own endpoint. A good
build goes canary first then in waves never over the rate, skipping a device that serves a session
until it ends; a build that crashes after boot halts after the canary, rolled back."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from controller.adapters import signing
from controller.adapters.client import FleetClient
from controller.contract.requests import SessionStartParams
from controller.contract.rollouts import RolloutStartParams, RolloutStatus
from controller.daemon.controller import Controller
from controller.sim.simulator import SimConfig, Simulator, UpdateSettings
from controller.sim.update import UpdateFaults
from tests.brokers import RunningBroker
from tests.conftest import fast_settings
from tests.integration.test_rollouts import Clock
from tests.integration.test_sim_rollouts import publish
from tests.waiting import eventually

N = 200
RATE = 50  # a minute: the canary's 10 and 40 more, then 50 a minute of the clock
OLD, NEW = "1.2.0", "1.3.0"
WAIT_S = 120.0


@dataclass
class Rig:
    client: FleetClient
    sim: Simulator
    clock: Clock
    db: Path


@pytest.fixture
def rig(amqtt_broker: RunningBroker, root: str, tmp_path: Path) -> Iterator[Callable[[UpdateFaults], Rig]]:
    stack: list[tuple[Controller, Simulator]] = []
    clients: list[FleetClient] = []

    def start(faults: UpdateFaults) -> Rig:
        keys, clock, db = signing.generate(tmp_path / "keys"), Clock(), tmp_path / "fleet.db"
        settings = replace(fast_settings(amqtt_broker.url, root, f"sqlite:///{db}"), rollout_s=0.2,
                           update_timeout_s=3600.0, images_dir=tmp_path / "images", metrics_port=0,
                           metrics_host="127.0.0.1")
        ctl = Controller(settings, clock=clock)
        ctl.start()
        update = UpdateSettings(keys.public, faults, download_s=0.2, progress_s=0.1, rollback_s=2.0)
        sim = Simulator(SimConfig(broker_url=amqtt_broker.url, root=root, count=N, seed=7, heartbeat_s=2.0,
                                  id_prefix=f"s{uuid.uuid4().hex[:6]}-", fw=OLD, update=update))
        stack.append((ctl, sim))
        sim.start()
        assert sim.wait_connected(N, WAIT_S)
        client = FleetClient(amqtt_broker.url, root).__enter__()  # left in the teardown
        eventually(lambda: client.call("devices.list")["online"] == N, timeout=WAIT_S, what=f"{N} devices online")
        publish(client, tmp_path / "images", keys.private, NEW)
        clients.append(client)
        return Rig(client, sim, clock, db)

    yield start
    for client in clients:
        client.__exit__(None, None, None)
    for ctl, sim in stack:
        sim.stop()
        ctl.stop()


def start(rig: Rig) -> int:
    return rig.client.start_rollout(RolloutStartParams(NEW, all=True, canary=0.05, rate_per_min=RATE,
                                                       max_failures=0.1, min_sample=5)).rollout.id


def status(rig: Rig, rollout_id: int) -> RolloutStatus:
    return rig.client.rollout(rollout_id)


def rows(rig: Rig, rollout_id: int) -> list[tuple[str, int, str, int, float | None]]:
    """The rollout's rollout_device rows: (device, wave, state, attempts, commanded_at)."""
    with sqlite3.connect(rig.db) as db:
        return list(db.execute("SELECT device_id, wave, state, attempts, commanded_at FROM rollout_device "
                               "WHERE rollout_id = ? ORDER BY device_id", (rollout_id,)))


def commanded(rig: Rig, rollout_id: int) -> int:
    return sum(1 for row in rows(rig, rollout_id) if row[4] is not None)


def test_a_good_build_reaches_200_devices_in_waves_at_the_rate_after_a_session_ends(
    rig: Callable[[UpdateFaults], Rig],
) -> None:
    r = rig(UpdateFaults())
    busy = sorted(r.sim.devices)[N - 1]  # in the last wave
    session = r.client.start_session(SessionStartParams(course="CS101", title="Intro", session="2026/2027",
                                                        semester="1st", device=busy))
    rollout_id = start(r)
    plan = status(r, rollout_id)
    assert [(w.wave, w.total) for w in plan.waves] == [(0, 10), (1, 50), (2, 50), (3, 50), (4, 40)]
    eventually(lambda: status(r, rollout_id).waves[0].counts == {"confirmed": 10}, timeout=WAIT_S,
               what="the canaries confirmed")
    for total in (RATE, 2 * RATE, 3 * RATE):  # a minute's budget each, then nothing until the clock moves on
        eventually(lambda n=total: commanded(r, rollout_id) == n, timeout=WAIT_S,  # type: ignore[misc]
                   what=f"{total} commanded")
        eventually(lambda n=total: status(r, rollout_id).rollout.counts.get("confirmed") == n, timeout=WAIT_S,
                   what=f"{total} confirmed")  # type: ignore[misc]
        assert commanded(r, rollout_id) == total  # many ticks later: the minute's budget holds
        r.clock.advance(61)
    eventually(lambda: status(r, rollout_id).rollout.counts.get("confirmed") == N - 1, timeout=WAIT_S,
               what="all but the device in session confirmed")
    waiting = status(r, rollout_id)
    assert waiting.rollout.state == "running"
    assert [(n.device, n.state, n.reason) for n in waiting.notes] == [(busy, "waiting", "session")]
    assert r.sim.device(busy).fw == OLD
    r.client.end_session(session.session_id)
    eventually(lambda: status(r, rollout_id).rollout.state == "completed", timeout=WAIT_S,
               what="completed after the session")
    assert status(r, rollout_id).rollout.counts == {"confirmed": N}
    assert {v.fw for v in r.sim.devices.values()} == {NEW}  # each one's birth after its update names it
    assert r.sim.stats().updates_confirmed == N
    final = rows(r, rollout_id)
    assert {(state, attempts) for _, _, state, attempts, _ in final} == {("confirmed", 1)}
    times = sorted(t for *_, t in final if t is not None)
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) <= RATE  # no minute over the rate
    assert len({int((t - times[0]) // 60) for t in times}) >= 4  # several minutes: waves, not one burst


def test_a_build_that_crashes_after_boot_halts_after_the_canary_of_200(rig: Callable[[UpdateFaults], Rig]) -> None:
    r = rig(UpdateFaults(crash_versions=frozenset({NEW})))
    rollout_id = start(r)
    eventually(lambda: status(r, rollout_id).rollout.state == "halted", timeout=WAIT_S, what="halted")
    halted = status(r, rollout_id)
    assert (halted.rollout.reason or "").startswith("canary wave: 10 of 10 updates failed")
    assert halted.waves[0].counts == {"rolled_back": 10}
    assert halted.rollout.counts == {"rolled_back": 10, "pending": N - 10}
    final = rows(r, rollout_id)
    canaries = {device for device, wave, *_ in final if wave == 0}
    assert {(state, attempts) for _, wave, state, attempts, _ in final if wave == 0} == {("rolled_back", 1)}
    assert {(state, at) for _, wave, state, _, at in final if wave > 0} == {("pending", None)}  # never commanded
    views = r.sim.devices
    assert {views[d].fw for d in canaries} == {OLD} and {v.fw for v in views.values()} == {OLD}
    assert {views[d].boot for d in canaries} == {3} and {v.boot for d, v in views.items() if d not in canaries} == {1}
    assert r.sim.stats().updates_started == 10 and r.sim.stats().updates_rolled_back == 10
