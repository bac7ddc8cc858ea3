"""Soak: a simulated fleet under continuous faults for a while, then an account of what survived.

`make soak` (or `python -m tests.faults.soak --seconds 600`). A Mosquitto process on a loopback port,
a SQLite file, the controller in this process, and simulated devices that check students in, die and
reboot. Meanwhile the soak keeps sessions starting and ending, crashes the controller (no clean
shutdown) and starts a new one, restarts the broker, and sends garbage on every channel. At the end it
lets queues drain and writes `bench/results/soak.md` and `.json`: faults injected, sessions kept,
check-ins taken vs acked vs stored, and rejections by reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.adapters.store import Store
from controller.daemon.controller import Controller
from controller.errors import FleetError
from controller.sim.simulator import SimConfig, Simulator
from tests import conftest
from tests.brokers import start_mosquitto
from tests.conftest import fast_settings

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
GARBAGE = [b"{not json", b"[1]", b'{"v":2}', b'{"v":1,"boot":"x","uptime_s":1}', b"x" * 1500, b"\xff\xfe\x00",
           b'{"v":1,"id":"esp32-ffffffffffff","boot":1,"uptime_s":1}']
log = logging.getLogger("soak")


@dataclass
class Tally:
    faults: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    sessions_started: int = 0
    sessions_ended: int = 0
    start_errors: Counter[str] = field(default_factory=Counter)


def crash(ctl: Controller, tally: Tally) -> None:
    """Die as kill -9 would; keep its rejection counts."""
    tally.rejected.update(ctl.stats.rejected)
    conftest.crash(ctl)


def garbage(url: str, root: str, rng: random.Random) -> int:
    host, port = url.removeprefix("mqtt://").split(":")
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"noise-{uuid.uuid4().hex[:6]}")
    client.connect(host, int(port))
    client.loop_start()
    sent = 0
    for _ in range(10):
        leaf = rng.choice(["heartbeat", "status", "state", "attendance"])
        client.publish(f"{root}/devices/sim-{rng.randint(1, 99):05d}/{leaf}", rng.choice(GARBAGE), qos=1)
        sent += 1
    client.publish(f"{root}/devices/NOT_AN_ID/heartbeat", b"{}", qos=1).wait_for_publish(5)
    client.loop_stop()
    client.disconnect()
    return sent + 1


def churn_sessions(url: str, root: str, devices: int, rng: random.Random, tally: Tally) -> None:
    """Keep between a quarter and a half of the fleet in sessions, starting and ending them."""
    try:
        with FleetClient(url, root, presence_timeout=5) as client:
            active = client.call("session.list", {"active": True})["sessions"]
            if len(active) > devices // 4 and rng.random() < 0.3:
                client.call("session.end", {"session_id": rng.choice(active)["session_id"]})
                tally.sessions_ended += 1
            elif len(active) < devices // 2:
                tally.sessions_started += 1
                client.call("session.start", {"course": f"S{tally.sessions_started}", "title": "Soak",
                                              "session": "2024/2025", "semester": "1st", "failover_grace_s": 5})
    except FleetError as exc:
        tally.start_errors[type(exc).__name__] += 1


def run(seconds: float, devices: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    tally = Tally()
    root = f"soak{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="fleet-soak-"))
    db_url = f"sqlite:///{workdir / 'fleet.db'}"
    broker = start_mosquitto(workdir)
    settings = replace(fast_settings(broker.url, root, db_url, heartbeat_ttl_s=6.0), resend_s=5.0)
    ctl = Controller(settings)
    ctl.start()
    sim = Simulator(SimConfig(broker_url=broker.url, root=root, count=devices, heartbeat_s=2.0, checkin_rate=6.0,
                              death_rate=30.0, down_s=(2.0, 8.0), seed=seed))
    sim.start()
    sim.wait_connected(devices, timeout=30)
    started_at = time.monotonic()
    next_crash, next_broker = started_at + 30, started_at + 45
    try:
        while (now := time.monotonic()) - started_at < seconds:
            churn_sessions(broker.url, root, devices, rng, tally)
            tally.faults["garbage messages"] += garbage(broker.url, root, rng)
            if now >= next_crash:
                crash(ctl, tally)
                tally.faults["controller crashes"] += 1
                ctl = Controller(settings)
                ctl.start()
                next_crash = now + rng.uniform(20, 40)
            if now >= next_broker:
                broker.stop()
                time.sleep(rng.uniform(1, 5))
                broker.restart()
                tally.faults["broker restarts"] += 1
                next_broker = now + rng.uniform(40, 80)
            time.sleep(1.0)
        log.info("faults stop; draining")
        time.sleep(25)  # reconnects, resends, acks
        with FleetClient(broker.url, root, presence_timeout=5) as client:
            sessions = client.call("session.list")["sessions"]
        views, stats = list(sim.devices.values()), sim.stats()
        tally.rejected.update(ctl.stats.rejected)
    finally:
        sim.stop()
        ctl.stop()
        broker.stop()
    store = Store(db_url)
    stored = sum(store.attendance_counts().values())
    store.close()
    active = [s for s in sessions if s["active"]]
    taken, queued = sum(v.next_seq - 1 for v in views), sum(v.queued for v in views)
    return {
        "seconds": seconds, "devices": devices, "seed": seed,
        "faults": dict(tally.faults) | {"device deaths": stats.deaths},
        "sessions": {"started": tally.sessions_started, "ended": tally.sessions_ended, "active at end": len(active),
                     "active and applied at end": sum(1 for s in active if s["applied"]),
                     "moved by failover": sum(1 for s in sessions if s["moves"]),
                     "request errors during faults": dict(tally.start_errors)},
        "checkins": {"taken by devices": taken, "acked": stats.checkins_acked, "still queued": queued,
                     "refused (queue full, no seq taken)": stats.checkins_refused,
                     "refused (already checked in)": stats.checkins_repeated,
                     "unaccounted": taken - stats.checkins_acked - queued,
                     "stored rows (one per session and student)": stored},
        "rejected by reason": dict(sorted(tally.rejected.items())),
    }


def markdown(result: dict[str, object]) -> str:
    lines = [f"# Soak: {result['devices']} devices, {result['seconds']:.0f} s of faults (seed {result['seed']})", ""]
    for section in ("faults", "sessions", "checkins", "rejected by reason"):
        lines += [f"## {section.capitalize()}", "", "| | |", "|---|---|"]
        values = result[section]
        assert isinstance(values, dict)
        lines += [f"| {k} | {v} |" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--devices", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    result = run(args.seconds, args.devices, args.seed)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "soak.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
