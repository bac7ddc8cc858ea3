"""Two controllers, active/standby (`--ha lease`, PostgreSQL), on the 3-node NATS cluster, each on
a node of its own: the leader's NODE is killed, so the leader loses the broker (its list names only
that node, as a controller running beside its node would) and stops renewing the lease; the
standby, on a surviving node, takes over. The sessions stay applied and no check-in from the
simulated devices is lost or stored twice (those sent in the takeover gap come with the
device's resend). And `--shared-group`, which NATS would take as a literal topic (every controller handling
every message), is refused at start by the `$share` probe.

One cluster for the module; the kill test goes last and leaves its node dead.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from controller.adapters.client import FleetClient
from controller.contract.messages import JsonObject
from controller.core.lease import HaMode
from controller.daemon.controller import Controller
from controller.errors import ControllerOffline, FleetError
from controller.sim.simulator import SimConfig, Simulator
from tests.clusters import NatsCluster
from tests.conftest import fast_settings
from tests.waiting import eventually

log = logging.getLogger(__name__)

A, B, C = 0, 1, 2
LEASE_TTL_S = 3.0  # renewed every 0.75 s; a leader acts until shortly before its lease runs out
WAIT_S = 45  # a killed node's streams move to the survivors: connects and deliveries stall for seconds
START = {"title": "Standby lecture", "session": "2025/2026", "semester": "1st Semester", "failover_grace_s": 600}


@pytest.fixture
def root() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def _presence_seen(nats_cluster: NatsCluster, root: str) -> bool:
    with FleetClient(nats_cluster.url(B, C), root, presence_timeout=1.0) as client:
        return client.controller_online()


def _call(client: FleetClient, method: str, params: dict[str, object]) -> JsonObject:
    """A request, sent again while the controller does not answer: a request published while the
    controller's connection is being cut (streams moving after a kill) is lost with its clean session."""
    for _ in range(WAIT_S // 10):
        try:
            return client.call(method, params)
        except ControllerOffline as exc:
            log.info("%s not answered (%s): asking again", method, exc)
    return client.call(method, params)


def _records(client: FleetClient, session_id: int) -> list[str]:
    return sorted(str(r["student_id"]) for r in client.call("attendance.list", {"session_id": session_id})["records"])


def test_a_shared_group_on_the_cluster_is_refused_with_a_clear_error(nats_cluster: NatsCluster, root: str,
                                                                     pg_url: str) -> None:
    settings = replace(fast_settings(nats_cluster.urls, root, pg_url), shared_group="controllers")
    ctl = Controller(settings)
    try:
        with pytest.raises(FleetError, match=r"ignores MQTT shared subscriptions .*--ha lease"):
            ctl.start(connect_timeout=WAIT_S)
    finally:
        ctl.store.close()


@pytest.fixture
def pair(nats_cluster: NatsCluster, root: str, pg_url: str) -> Iterator[list[Controller]]:
    """The leader on node A only (started first), the standby on B then C; one PostgreSQL database."""
    made = []
    for url in (nats_cluster.url(A), nats_cluster.url(B, C)):
        ctl = Controller(replace(fast_settings(url, root, pg_url, resend_s=2.0), ha=HaMode.LEASE,
                                 lease_ttl_s=LEASE_TTL_S))
        ctl.start(connect_timeout=WAIT_S)
        made.append(ctl)
    yield made
    for ctl in made:
        if ctl._client.is_connected():
            ctl.stop()
        else:  # its node is dead: nothing to say goodbye to
            ctl.halt_ticks()
            ctl._client.loop_stop()
            ctl.store.close()


def test_the_standby_takes_over_when_the_leaders_node_dies(nats_cluster: NatsCluster, root: str,
                                                           pair: list[Controller]) -> None:
    leader, standby = pair
    assert leader.acting and not standby.acting
    config = SimConfig(broker_url=nats_cluster.url(B, C), root=root, count=2, id_prefix="ha-", heartbeat_s=1.0,
                       checkin_rate=120.0, seed=23, down_s=(3600.0, 3600.0), ack_timeout_s=5.0)
    devices = config.device_ids()
    # a subscription made while a retained message is being stored can miss it on NATS: the
    # client is made once the leader's presence is readable
    eventually(lambda: _presence_seen(nats_cluster, root), WAIT_S, "the leader's presence readable")
    with Simulator(config) as sim, FleetClient(nats_cluster.url(B, C), root) as client:
        eventually(lambda: sum(r["online"] for r in client.call("devices.list")["devices"]) == 2, WAIT_S,
                   "two devices online")
        sessions = {}
        for n, device in enumerate(devices):
            sessions[device] = int(str(client.call("session.start", START | {"course": f"HA10{n}", "device": device})[
                "session_id"]))
            assert client.call("session.wait", {"session_id": sessions[device], "timeout_s": 20},
                               timeout=30)["status"] == "applied"
        eventually(lambda: all(sim.devices[d].next_seq > 3 for d in devices), WAIT_S, "check-ins flowing")
        assert sum(standby.stats.received.values()) == 0  # the standby handled nothing

        killed_at = time.monotonic()
        nats_cluster.kill(A)  # the leader's node: the leader is cut off from every broker it knows
        eventually(lambda: standby.acting, WAIT_S, "the standby leads")
        took_over_s = time.monotonic() - killed_at
        assert not leader.acting  # fenced by its own clock: it cannot renew while cut off
        sent_before = {d: sim.devices[d].next_seq for d in devices}
        eventually(lambda: all(sim.devices[d].next_seq > sent_before[d] + 2 and sim.devices[d].queued == 0
                               for d in devices), WAIT_S, "new check-ins acked by the new leader")
        flowing_s = time.monotonic() - killed_at
        log.info("leader's node killed: the standby led after %.2f s (lease TTL %g s), check-ins acked again "
                 "after %.2f s", took_over_s, LEASE_TTL_S, flowing_s)
        print(f"takeover after the leader's node died: {took_over_s:.2f} s (lease TTL {LEASE_TTL_S:g} s); "
              f"check-ins acked again after {flowing_s:.2f} s")  # -rP shows it
        lease = standby.store.lease.current()
        # term 2, or more: a stream leader moving after the kill can cut the new leader's own
        # connection too, and a controller off the broker stops renewing (it takes the lease back)
        assert lease is not None and lease.holder == standby.settings.controller_id and lease.term >= 2
        for device, session_id in sessions.items():
            assert sim.devices[device].session_id == session_id  # still applied, not restarted
            assert _call(client, "session.wait", {"session_id": session_id, "timeout_s": 5})["status"] == "applied"

        for session_id in sessions.values():
            _call(client, "session.end", {"session_id": session_id})
        eventually(lambda: all(sim.devices[d].session_id is None and sim.devices[d].queued == 0 for d in devices),
                   WAIT_S, "sessions ended and every check-in acked")
        for device, session_id in sessions.items():
            made = sim.devices[device].next_seq - 1  # one seq per distinct student
            seqs = sorted(int(r["seq"]) for r in client.call("attendance.list", {"session_id": session_id})["records"])
            # check-ins sent while no controller subscribed (the takeover gap) were PUBACKed by
            # the broker and dropped; the new leader held its ack at the last seq stored before the
            # gap until the device's resend filled it (controller.core.acks)
            assert seqs == list(range(1, made + 1)), f"{device}: {made} check-ins made, stored seqs {seqs}"
        stored = leader.stats.checkins["stored"] + standby.stats.checkins["stored"]
        assert stored == sum(sim.devices[d].next_seq - 1 for d in devices)
