"""The fleet on a 3-node NATS cluster: the controller on one node, devices on the others, and a
node killed mid-session (issue 17). One cluster for the module; a test that kills a node restarts it.

What NATS does unlike Mosquitto and amqtt, and what these tests hold the fleet to:
- the node holding a client dies: no will is published, its retained `status` stays `online` — the
  heartbeat TTL marks a device that died with its node offline; one that reconnects elsewhere is
  online again;
- every check-in is stored exactly once although batches are sent again after the reconnect;
- a device that reconnects to a node serving an older retained config ends on the newest.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from controller.sim.simulator import SimConfig, Simulator
from tests.brokers import RunningBroker
from tests.clusters import HOST, NatsCluster
from tests.conftest import Device, fast_settings
from tests.hostdevice import HostDevice
from tests.waiting import eventually

log = logging.getLogger(__name__)

A, B, C = 0, 1, 2
TTL_S = 20.0  # heartbeat TTL of these tests' controller: longer than a node's death stalls deliveries (~10 s)
WAIT_S = 60.0  # a killed node's streams move to the survivors: connects fail for several seconds
START = {"title": "Cluster lecture", "session": "2025/2026", "semester": "1st Semester", "failover_grace_s": 600}


@pytest.fixture
def root() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def controller(nats_cluster: NatsCluster, root: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    """A controller on node A first (its list names all three), with a short heartbeat TTL."""
    db = tmp_path_factory.mktemp("db") / "fleet.db"
    ctl = Controller(fast_settings(nats_cluster.url(A, B, C), root, f"sqlite:///{db}", heartbeat_ttl_s=TTL_S,
                                   resend_s=2.0))
    ctl.start(connect_timeout=WAIT_S)
    # a subscription made while a retained message is being stored can miss it on NATS: clients
    # made before the presence is in would wait for it in vain
    eventually(lambda: _presence_seen(nats_cluster, root), WAIT_S, "the controller's presence readable")
    yield ctl
    ctl.stop()


def _presence_seen(nats_cluster: NatsCluster, root: str) -> bool:
    with FleetClient(nats_cluster.url(A, B, C), root, presence_timeout=1.0) as client:
        return client.controller_online()


def _online(client: FleetClient) -> dict[str, bool]:
    return {row["id"]: row["online"] for row in client.call("devices.list")["devices"]}  # type: ignore[index]


def _records(client: FleetClient, session_id: int) -> list[str]:
    return sorted(str(r["student_id"]) for r in client.call("attendance.list", {"session_id": session_id})["records"])


def _on(nats_cluster: NatsCluster, index: int) -> str:
    return f"{HOST}:{nats_cluster.nodes[index].ports.mqtt}"


@pytest.mark.timeout(300)  # about 30 s; up to 70 s seen on a loaded 2-CPU machine
def test_sessions_run_across_nodes_and_survive_a_node_killed_mid_session(
        nats_cluster: NatsCluster, controller: Controller, root: str, request: pytest.FixtureRequest,
        tmp_path: Path) -> None:
    # simulated devices 1 and 3 start on C, 2 and 4 on B; 4 will die together with B; a host
    # firmware device starts on B too
    config = SimConfig(broker_url=nats_cluster.url(B, C), root=root, count=4, id_prefix="cl-", heartbeat_s=1.0,
                       checkin_rate=120.0, seed=17, down_s=(3600.0, 3600.0), ack_timeout_s=5.0)
    on_c, on_b, spare, doomed = config.device_ids()
    firmware = HostDevice("esp32-0000000000e1", nats_cluster.url(B, C), root, tmp_path / "esp32",
                          ("--ack-timeout-s", "5"))
    request.addfinalizer(firmware.stop)
    firmware.start()
    with Simulator(config) as sim, FleetClient(nats_cluster.url(A, B, C), root) as client:
        eventually(lambda: sum(_online(client).values()) == 5, WAIT_S, "five devices online")
        assert (sim.broker_of(on_b), sim.broker_of(on_c)) == (_on(nats_cluster, B), _on(nats_cluster, C))
        assert f"connected to broker {_on(nats_cluster, B)}" in firmware.log()
        sessions = {}
        for course, device in (("CL101", on_b), ("CL102", on_c), ("CL103", firmware.id)):
            sessions[device] = int(str(client.call("session.start", START | {"course": course, "device": device})[
                "session_id"]))
            assert client.call("session.wait", {"session_id": sessions[device], "timeout_s": 20},
                               timeout=30)["status"] == "applied"
        eventually(lambda: all(sim.devices[d].next_seq > 3 for d in sessions if d != firmware.id), WAIT_S,
                   "check-ins flowing")
        phones = [f"U2025/{n:04d}" for n in range(1, 7)]
        assert all(firmware.checkin(student)[0] == 200 for student in phones[:3])

        killed_at = time.monotonic()
        nats_cluster.kill(B)
        request.addfinalizer(lambda: log.info("node B back after %.2f s", nats_cluster.restart(B)))
        sim.kill(doomed)  # powered off with its node: it never reconnects, and no will is published
        assert all(firmware.checkin(student)[0] == 200 for student in phones[3:])  # queued while it moves
        eventually(lambda: sim.broker_of(on_b) == _on(nats_cluster, C), WAIT_S, f"{on_b} on node C")
        reconnected_s = time.monotonic() - killed_at
        eventually(lambda: f"connected to broker {_on(nats_cluster, C)}" in firmware.log(), WAIT_S,
                   "the firmware device on node C")
        firmware_s = time.monotonic() - killed_at
        sent_before = sim.devices[on_b].next_seq
        eventually(lambda: sim.devices[on_b].next_seq > sent_before + 2 and sim.devices[on_b].queued == 0, WAIT_S,
                   f"{on_b}'s new check-ins acked through node C")
        flowing_s = time.monotonic() - killed_at
        eventually(lambda: _online(client).get(doomed) is False, WAIT_S + TTL_S, f"{doomed} offline by the TTL")
        offline_s = time.monotonic() - killed_at
        log.info("node B killed: %s reconnected to C after %.2f s (the firmware device after %.2f s), its "
                 "check-ins acked again after %.2f s; %s (died with B) offline after %.2f s (TTL %g s)", on_b,
                 reconnected_s, firmware_s, flowing_s, doomed, offline_s, TTL_S)
        liveness = _online(client)
        assert liveness[on_b] and liveness[on_c] and liveness[spare] and liveness[firmware.id] and not liveness[doomed]
        for device, session_id in sessions.items():
            if device != firmware.id:
                assert sim.devices[device].session_id == session_id  # still applied
            assert client.call("session.wait", {"session_id": session_id, "timeout_s": 5})["status"] == "applied"
        eventually(lambda: _records(client, sessions[firmware.id]) == phones, WAIT_S,
                   "the firmware device's check-ins stored")
        del sessions[firmware.id]  # its check-ins are all in; the simulated ones are counted below

        for session_id in sessions.values():
            client.call("session.end", {"session_id": session_id})
        try:
            eventually(lambda: all(sim.devices[d].session_id is None and sim.devices[d].queued == 0
                                   for d in sessions), WAIT_S, "sessions ended and every check-in acked")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {[sim.devices[d] for d in sessions]}, {sim.stats()}, "
                                 f"controller {controller.stats.checkins} {controller.stats.received}") from None
        views = sim.devices
        for device, session_id in sessions.items():
            made = views[device].next_seq - 1  # one seq per distinct student
            records = _records(client, session_id)
            assert len(records) == len(set(records)) == made, f"{device}: {made} check-ins, stored {records}"
        stored = controller.stats.checkins
        made = sum(views[d].next_seq - 1 for d in sessions) + len(phones)
        assert stored["stored"] == made, (stored, views, sim.stats())


def test_a_device_behind_a_stale_retained_config_ends_on_the_newest(
        nats_cluster: NatsCluster, controller: Controller, root: str) -> None:
    device_id = "cl-stale-01"
    device = Device(RunningBroker(HOST, nats_cluster.nodes[C].ports.mqtt), root, device_id)
    try:
        device.birth()
        device.heartbeat()
        with FleetClient(nats_cluster.url(A, B, C), root) as client:
            eventually(lambda: _online(client).get(device_id) is True, WAIT_S, "the device online")
            started = client.call("session.start", START | {"course": "CL201", "device": device_id})
            running = device.apply_latest()
            assert running["session_id"] == started["session_id"]
            client.call("session.end", {"session_id": started["session_id"]})
            ended = device.wait_config(newer_than=int(str(running["version"])), timeout=WAIT_S)
            assert ended["active_session"] is False
            device.kill()  # lost power before applying the end
            # the node it comes back to serves the older retained config (a stale replica's read):
            # the ended session's
            _publish_retained(nats_cluster.nodes[B].ports.mqtt, device.topic("config"), running)
            back = Device(RunningBroker(HOST, nats_cluster.nodes[B].ports.mqtt), root, device_id, boot=2)
            try:
                back.birth()
                back.heartbeat()
                eventually(lambda: any(c["version"] == running["version"] for c in back.configs), WAIT_S,
                           "the stale config served")
                back.send("state", {"v": 1, "id": device_id, "config_version": running["version"],
                                    "result": "applied", "active_session": True,
                                    "session_id": running["session_id"], "ssid": running["ssid"]}, retain=True)
                final = back.wait_config(newer_than=int(str(running["version"])), timeout=WAIT_S)
                assert final["version"] == ended["version"] and final["active_session"] is False
                log.info("configs the device got back on node B, in order: %s", [c["version"] for c in back.configs])
                back.apply_latest()
                eventually(lambda: _applied(client, device_id) == ended["version"], WAIT_S, "the newest applied")
            finally:
                back.close()
    finally:
        device.close()


def _applied(client: FleetClient, device_id: str) -> object:
    row = next(r for r in client.call("devices.list")["devices"] if r["id"] == device_id)  # type: ignore[union-attr]
    return row["applied_version"]  # type: ignore[index]


def _publish_retained(port: int, topic: str, obj: dict[str, object]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"stale-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311)
    client.connect(HOST, port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(obj).encode(), qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
