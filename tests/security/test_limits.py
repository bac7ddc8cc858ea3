"""The generated profile's limits on both brokers: packet size, unauthenticated sockets, and queues
sized for the controller (issue 18 items 4 and 6, broker side). Every broker runs the profile as
`fleet secure-profile` writes it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.broker import wire
from controller.broker.profile import MAX_PACKET_SIZE, MAX_QUEUED_MESSAGES
from controller.contract.roles import Role
from tests import rawmqtt
from tests.brokers import MosquittoBroker, RunningBroker, start_from_file
from tests.rawmqtt import PUBACK, RawClient
from tests.security.conftest import Profile

QUICK_S = 1.0


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_packet_over_max_packet_size_disconnects_its_client_at_once(profile: Profile,
                                                                      secure_broker: RunningBroker) -> None:
    """Only its fixed header is sent: the broker must refuse it from the announced length, not after
    buffering it. One byte less is accepted (remaining length + 1 = max_packet_size)."""
    password = profile.device("dev-big")
    topic = f"{profile.root}/devices/dev-big/heartbeat"
    fixed = 2 + len(topic.encode()) + 2  # topic length, topic, packet id
    over = RawClient(secure_broker.host, secure_broker.port)
    fits = RawClient(secure_broker.host, secure_broker.port)
    try:
        assert over.connect("dev-big", username="dev-big", password=password) == 0
        header = bytes([0x32]) + wire.encode_remaining_length(MAX_PACKET_SIZE)
        started = time.monotonic()
        over.send(header + wire.encode_string(topic) + b"\x00\x01" + b"x" * 1000)
        assert over.closed_within(QUICK_S)
        assert time.monotonic() - started < QUICK_S
        assert fits.connect("dev-big", username="dev-big", password=password) == 0
        fits.send(rawmqtt.publish(topic, b"x" * (MAX_PACKET_SIZE - 1 - fixed), qos=1))
        answer = fits.read_packet(10.0)
        assert answer is not None and answer[0] == PUBACK
    finally:
        over.close()
        fits.close()


def test_an_unauthenticated_connect_cannot_make_the_broker_buffer(profile: Profile,
                                                                   secure_broker: RunningBroker) -> None:
    """Four CONNECT headers announcing 268,435,455 bytes, each then streaming up to 64 MB: before,
    Mosquitto without max_packet_size grew to 273 MB and the embedded broker waited forever."""
    pid = secure_broker._process.pid if isinstance(secure_broker, MosquittoBroker) else os.getpid()  # type: ignore[union-attr]
    before = _rss_bytes(pid)
    chunk = b"\x00" * (1 << 20)
    attackers = [RawClient(secure_broker.host, secure_broker.port) for _ in range(4)]
    try:
        for raw in attackers:
            raw.send(b"\x10\xff\xff\xff\x7f")
        for raw in attackers:
            sent = 0
            while sent < 64 and raw.send(chunk):
                sent += 1
            assert sent < 64, "the broker read 64 MB of an unauthenticated CONNECT"
            assert raw.closed_within(QUICK_S)
        assert _rss_bytes(pid) - before < 32 << 20
    finally:
        for raw in attackers:
            raw.close()


@pytest.fixture
def profile_mosquitto(profile: Profile, tmp_path: Path) -> Iterator[RunningBroker]:
    with start_from_file("mosquitto", profile.conf, tmp_path) as running:
        profile.broker = running
        yield running
        profile.broker = None


def test_a_heartbeat_flood_does_not_cost_the_controller_its_requests(profile: Profile,
                                                                     profile_mosquitto: RunningBroker) -> None:
    """Mosquitto's default max_queued_messages (1000) also counts the QoS 0 packets waiting for a
    client: one device flooding heartbeats while the controller fell behind made Mosquitto drop the
    controller's messages, requests included ("Outgoing messages are being dropped"; measured here:
    31,754 of 100,000 heartbeats and 0 of 5 requests arrived). The profile sizes it for a controller
    that falls a few seconds behind a 10,000-device fleet."""
    root = profile.root
    controller_password = profile.user("controller", Role.CONTROLLER)
    lecturer_password = profile.user("alice", Role.LECTURER)
    device_password = profile.device("dev-flood")
    controller = RawClient(profile_mosquitto.host, profile_mosquitto.port)
    device = RawClient(profile_mosquitto.host, profile_mosquitto.port)
    lecturer = RawClient(profile_mosquitto.host, profile_mosquitto.port)
    flood = min(MAX_QUEUED_MESSAGES // 2, 60_000)
    try:
        assert controller.connect(f"ctl-{uuid.uuid4().hex[:6]}", username="controller",
                                  password=controller_password, keepalive=600) == 0
        controller.send(rawmqtt.subscribe(f"{root}/devices/+/heartbeat", qos=0, packet_id=1))
        controller.send(rawmqtt.subscribe(f"{root}/controller/requests/+", qos=1, packet_id=2))
        assert controller.read_packet(3.0) is not None and controller.read_packet(3.0) is not None
        # The controller now stops reading (busy), as it did behind the flood.
        assert device.connect("dev-flood", username="dev-flood", password=device_password, keepalive=600) == 0
        heartbeat = b'{"v":1,"boot":12,"uptime_s":3600,"rssi":-61,"heap":143000,"fw":"1.0.0","queued":0}'
        one = rawmqtt.publish(f"{root}/devices/dev-flood/heartbeat", heartbeat)
        for _ in range(flood // 1000):
            assert device.send(one * 1000)
        assert lecturer.connect("alice", username="alice", password=lecturer_password) == 0
        for packet_id in range(1, 6):
            lecturer.send(rawmqtt.publish(f"{root}/controller/requests/alice", b'{"v":1,"id":"r%d"}' % packet_id,
                                          qos=1, packet_id=packet_id))
            assert lecturer.read_packet(3.0) is not None  # PUBACK: the broker has it
        time.sleep(1.0)
        heartbeats = requests = 0
        while (answer := controller.read_packet(3.0)) is not None:
            if b"/heartbeat" in answer[1][:80]:
                heartbeats += 1
            elif b"/controller/requests" in answer[1][:80]:
                requests += 1
        assert (heartbeats, requests) == (flood // 1000 * 1000, 5)
    finally:
        for raw in (controller, device, lecturer):
            raw.close()
