"""Soak on a cluster: the fleet on a 3-node NATS cluster under random node, controller and device
deaths for a while, then an account of what survived (issue 17's chaos run).

`make soak SOAK_PROFILE=cluster` (or `python -m tests.faults.soak_cluster --seconds 600`). Three
nats-server nodes on loopback ports (tests/clusters.py), a throwaway PostgreSQL database, two
controllers `--ha lease` in this process, each with a broker list starting at a node of its own,
and simulated devices spread over the nodes that check students in, die and reboot. Meanwhile the
soak keeps sessions starting and ending, kills a node (SIGKILL) and starts it again after a few
seconds, crashes a controller (no release, no goodbye) and starts a new one. At the end it lets
queues drain and writes `bench/results/soak-cluster.md` and `.json`: faults, sessions,
check-ins taken vs acked vs stored, takeovers.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from controller.adapters.client import FleetClient
from controller.adapters.store import Store
from controller.core.lease import HaMode
from controller.daemon.controller import Controller
from controller.errors import FleetError
from controller.sim.simulator import SimConfig, Simulator
from tests.clusters import NODES, NatsCluster
from tests.conftest import fast_settings
from tests.databases import throwaway_postgres
from tests.faults.soak import RESULTS, Tally, churn_sessions, crash, markdown

log = logging.getLogger("soak")
LEASE_TTL_S = 3.0


def _controller(cluster: NatsCluster, node: int, root: str, db_url: str) -> Controller:
    """A controller whose broker list starts at `node` (it moves to the others when that one dies)."""
    order = [(node + i) % NODES for i in range(NODES)]
    settings = replace(fast_settings(cluster.url(*order), root, db_url, heartbeat_ttl_s=20.0, resend_s=2.0),
                       ha=HaMode.LEASE, lease_ttl_s=LEASE_TTL_S)
    ctl = Controller(settings)
    ctl.start(connect_timeout=60)
    return ctl


def _kill_a_node(cluster: NatsCluster, rng: random.Random, tally: Tally) -> None:
    """SIGKILL a node at random, and start it again a few seconds later (waiting until it is ready)."""
    victim = rng.randrange(NODES)
    cluster.kill(victim)
    tally.faults["nodes killed"] += 1
    time.sleep(rng.uniform(3, 15))
    log.info("node %d killed, back after %.1f s", victim, cluster.restart(victim))


def _sessions(cluster: NatsCluster, root: str) -> list[dict[str, object]]:
    """Every session (asked again while a request goes unanswered: streams may still be moving)."""
    for _ in range(5):
        try:
            with FleetClient(cluster.urls, root, presence_timeout=5) as client:
                return list(client.call("session.list")["sessions"])
        except FleetError as exc:
            log.info("session.list: %s; again", exc)
    return []


def run(seconds: float, devices: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    tally = Tally()
    root = f"soak{uuid.uuid4().hex[:6]}"
    workdir = Path(tempfile.mkdtemp(prefix="fleet-soak-cluster-"))
    takeovers = 0
    with throwaway_postgres() as db_url, NatsCluster(workdir).start() as cluster:
        controllers = [_controller(cluster, node, root, db_url) for node in (0, 1)]
        sim = Simulator(SimConfig(broker_url=cluster.urls, root=root, count=devices, heartbeat_s=2.0,
                                  checkin_rate=6.0, death_rate=30.0, down_s=(2.0, 8.0), seed=seed, ack_timeout_s=10.0))
        sim.start()
        sim.wait_connected(devices, timeout=60)
        started_at = time.monotonic()
        next_node, next_crash = started_at + 30, started_at + 50
        try:
            while (now := time.monotonic()) - started_at < seconds:
                churn_sessions(cluster.urls, root, devices, rng, tally)
                if now >= next_node:
                    _kill_a_node(cluster, rng, tally)
                    next_node = time.monotonic() + rng.uniform(30, 60)
                if now >= next_crash:
                    index = rng.randrange(len(controllers))
                    tally.faults["controllers crashed"] += 1
                    tally.faults["leaders among them"] += int(controllers[index].acting)
                    crash(controllers[index], tally)
                    controllers[index].store.close()
                    controllers[index] = _controller(cluster, index, root, db_url)
                    next_crash = time.monotonic() + rng.uniform(30, 60)
                time.sleep(1.0)
            log.info("faults stop; draining")
            time.sleep(40)  # reconnects, stream leaders settling, resends after the ack timeout, acks
            sessions = _sessions(cluster, root)
            views, stats = list(sim.devices.values()), sim.stats()
            lease = controllers[0].store.lease.current()
            takeovers = (lease.term - 1) if lease is not None else 0
        finally:
            sim.stop()
            for ctl in controllers:
                tally.rejected.update(ctl.stats.rejected)
                ctl.stop()
        store = Store(db_url)
        stored = sum(store.attendance_counts().values())
        store.close()
    active = [s for s in sessions if s["active"]]
    taken, queued = sum(v.next_seq - 1 for v in views), sum(v.queued for v in views)
    return {
        "seconds": seconds, "devices": devices, "seed": seed,
        "faults": dict(tally.faults) | {"device deaths": stats.deaths, "lease changes of holder": takeovers},
        "sessions": {"started": tally.sessions_started, "ended": tally.sessions_ended, "active at end": len(active),
                     "active and applied at end": sum(1 for s in active if s["applied"]),
                     "moved by failover": sum(1 for s in sessions if s["moves"]),
                     "request errors during faults": dict(tally.start_errors)},
        "checkins": {"taken by devices": taken, "acked": stats.checkins_acked, "still queued": queued,
                     "refused (queue full, no seq taken)": stats.checkins_refused,
                     "refused (already checked in)": stats.checkins_repeated,
                     "unaccounted": taken - stats.checkins_acked - queued,
                     "stored rows (one per session and student)": stored,
                     # a student checking in again after the device rebooted mid-session is acked and
                     # not stored again: this bounds the check-ins lost, it does not count them
                     "acked minus stored (lost, or a repeat after a reboot)": stats.checkins_acked - stored},
        "rejected by reason": dict(sorted(tally.rejected.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--devices", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    result = run(args.seconds, args.devices, args.seed)
    text = markdown(result).replace("# Soak:", "# Soak on a 3-node NATS cluster:", 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak-cluster.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "soak-cluster.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
