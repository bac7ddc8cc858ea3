"""The controller never acks past a check-in that did not arrive: a device's batch lost on the way
(PUBACKed by a broker, never delivered: a controller reconnecting, a NATS stream leader moving)
stays in the device's queue until its resend fills the gap (controller.core.acks)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from controller.adapters.client import FleetClient
from controller.daemon.controller import Controller
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.integration.test_controller import START, online_device, wait_online
from tests.waiting import eventually


def send(device: Device, session_id: int, *seqs: int) -> None:
    device.send("attendance", {"v": 1, "session_id": session_id, "events": [
        {"seq": seq, "student_id": f"U2024/{seq:04d}"} for seq in seqs]})


def acked(device: Device) -> list[int]:
    return [int(str(a["upto"])) for a in device.acks]


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_a_batch_after_a_lost_one_is_stored_but_not_acked_until_the_resend(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller()
    device = online_device(make_device, "esp32-0000000000c1")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        session_id = int(str(client.call("session.start", START | {"device": device.id})["session_id"]))
        device.apply_latest()
        send(device, session_id, 1, 2)
        eventually(lambda: acked(device) == [2])
        send(device, session_id, 5, 6)  # 3 and 4 were lost on the way
        eventually(lambda: len(client.call("attendance.list", {"session_id": session_id})["records"]) == 4)
        time.sleep(0.3)  # an ack would have come with the records: none may
        assert acked(device) == [2]
        send(device, session_id, 3, 4, 5, 6)  # the device's whole queue, after its ack timeout
        eventually(lambda: acked(device) == [2, 6])
        records = client.call("attendance.list", {"session_id": session_id})["records"]
        assert sorted(int(r["seq"]) for r in records) == [1, 2, 3, 4, 5, 6]
        send(device, session_id, 8)  # 7 was dropped on the device itself: its resend starts at 8
        send(device, session_id, 8)
        eventually(lambda: acked(device) == [2, 6, 8])


@pytest.mark.parametrize("broker", ["amqtt"], indirect=True)
def test_a_controller_that_starts_resumes_the_acks_from_what_is_stored(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    first = start_controller()
    device = online_device(make_device, "esp32-0000000000c2")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        session_id = int(str(client.call("session.start", START | {"device": device.id})["session_id"]))
        device.apply_latest()
        send(device, session_id, 1, 2)
        eventually(lambda: acked(device) == [2])
    first.stop()
    send(device, session_id, 3, 4)  # no controller listens: the broker drops it
    start_controller()
    # its birth replaces the retained offline presence of the first one: a client made before that
    # is stored would find no controller online (seen on a loaded machine)
    eventually(lambda: _presence_seen(broker, root), what="the new controller's presence")
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)  # it answers requests: its subscriptions are in
        send(device, session_id, 5, 6)
        eventually(lambda: len(client.call("attendance.list", {"session_id": session_id})["records"]) == 4)
        time.sleep(0.3)  # an ack would have come with the records: none may
        assert acked(device) == [2]
        send(device, session_id, 3, 4, 5, 6)
        eventually(lambda: acked(device) == [2, 6])


def _presence_seen(broker: RunningBroker, root: str) -> bool:
    with FleetClient(broker.url, root, presence_timeout=1.0) as client:
        return client.controller_online()
