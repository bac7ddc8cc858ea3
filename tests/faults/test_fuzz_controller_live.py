"""Hostile input through a real broker (the embedded amqtt) to a running `Controller` with SQLite.

Every inbound channel — status, heartbeat, state, attendance, requests — and spoofed topic ids get
mutated and random messages. Properties:
* every bad message lands in exactly one rejection counter, with the contract's reason when the
  mutation says which (the counters' sum grows by exactly the number of bad messages);
* the controller keeps answering requests and keeps serving good devices during and after it;
* memory stays flat over thousands of hostile messages (traced allocations and RSS, bounded
  generously; the figures are printed: `pytest -s`);
* a request that gets past the envelope always gets one reply.
"""

from __future__ import annotations

import gc
import json
import random
import socket
import struct
import threading
import time
import tracemalloc
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.client import FleetClient
from controller.contract.messages import MAX_REQUEST_READ, load_object, reply_address
from controller.contract.topics import Topics
from controller.daemon.controller import Controller
from controller.errors import ApiError, ControllerOffline, Rejected, StoreError
from tests.brokers import AmqttBroker, start_amqtt
from tests.conftest import Device, fast_settings
from tests.contract import validate_publish
from tests.databases import throwaway_postgres
from tests.faults import hostile
from tests.faults.conftest import scaled
from tests.faults.hostile import ANY_REJECTION, CHANNELS, UNKNOWN, Case

WAIT_S: Final = 30.0
START: Final = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
                "semester": "1st Semester", "lecturer": "alice"}
LEGIT: Final = ("esp32-00000000f001", "esp32-00000000f002", "esp32-00000000f003")


class Live:
    """One broker, one controller, a hostile publisher and the legit devices, for a module."""

    def __init__(self, db_url: str) -> None:
        self.broker: AmqttBroker = start_amqtt()
        self.root = "fleet"  # a broker of its own; the generated requests ask for replies under "fleet"
        # no rate limits: this suite checks the reason each bad message is counted under
        self.ctl = Controller(fast_settings(self.broker.url, self.root, db_url, max_device_rate=1e9,
                                            request_rate=1e9, request_burst=1e9))
        self.ctl.start()
        self.publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"hostile-{uuid.uuid4().hex[:6]}",
                                     protocol=paho.MQTTv311)
        self.publisher.max_inflight_messages_set(100)
        self.publisher.connect(self.broker.host, self.broker.port)
        self.publisher.loop_start()
        self.devices = [Device(self.broker, self.root, device_id) for device_id in LEGIT]
        for device in self.devices:
            device.birth()
            device.heartbeat()
        self.client = FleetClient(self.broker.url, self.root)
        self.client.connect()

    def close(self) -> None:
        try:
            self.client.close()
            for device in self.devices:
                device.close()
            self.publisher.disconnect()
            self.publisher.loop_stop()
            self.ctl.stop()
        finally:
            self.broker.stop()

    def received(self) -> int:
        return sum(self.ctl.stats.received.values())

    def rejected(self) -> Counter[str]:
        return Counter(self.ctl.stats.rejected)

    def send(self, cases: Iterable[Case], *, heartbeat_every: int = 0) -> int:
        """Publish every case (QoS 1, not retained); the legit devices heartbeat in between. The
        number of messages the controller will have received for it."""
        n = 0
        info = None
        for i, case in enumerate(cases):
            info = self.publisher.publish(case.topic(self.root), case.payload, qos=1)
            n += 1
            if heartbeat_every and i % heartbeat_every == 0:
                for device in self.devices:
                    device.heartbeat()
                    n += 1
            if i % 50 == 49:
                info.wait_for_publish(WAIT_S)
        if info is not None:
            info.wait_for_publish(WAIT_S)
        return n

    def wait_received(self, total: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.received() < total:
            if time.monotonic() > deadline:
                raise AssertionError(f"the controller received {self.received()} of {total} messages")
            time.sleep(0.02)
        time.sleep(0.05)  # the last one is counted as received before it is judged

    def online(self) -> int:
        for device in self.devices:
            device.heartbeat()
        deadline = time.monotonic() + 5
        while True:
            fleet = self.client.call("devices.list")
            if fleet["online"] >= len(self.devices) or time.monotonic() > deadline:
                return int(fleet["online"])
            time.sleep(0.1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    running = Live(f"sqlite:///{tmp_path_factory.mktemp('fuzz-live') / 'fleet.db'}")
    try:
        assert running.online() == len(LEGIT)
        yield running
    finally:
        running.close()


def publishable(case: Case) -> bool:
    """paho refuses wildcards in a topic name, and MQTT forbids NUL in one (raw_publish sends those)."""
    return not any(c in case.device_id for c in "+#/\x00")


def explicit(cases: Iterable[Case]) -> list[Case]:
    """Bad messages whose every outcome is certain: accepted device messages would change state and
    bring state rejections (stale boots, unknown sessions) and accepted requests are answered by
    the API (test_requests_always_get_one_reply)."""
    return [c for c in cases if c.reason not in (None, UNKNOWN) and publishable(c)]


def counted_as(case: Case) -> str:
    """The counter a bad message lands in. A request whose id and reply topic are sound is answered
    whatever else is wrong with it, and counted as the error it is answered with."""
    if case.channel == "request" and case.reason in ("schema", "too_large"):
        try:
            _, reply_to = reply_address(load_object(case.payload, max_bytes=MAX_REQUEST_READ))
        except Rejected:
            return str(case.reason)
        if Topics("fleet").is_replies(reply_to):
            return "request_bad_request"
    return str(case.reason)


def assert_counted(live: Live, cases: list[Case], before: Counter[str], received_before: int, sent: int) -> None:
    live.wait_received(received_before + sent)
    delta = live.rejected() - before
    expected = Counter(counted_as(c) for c in cases if c.reason != ANY_REJECTION)
    anything = sum(1 for c in cases if c.reason == ANY_REJECTION)
    assert delta["internal"] == 0, f"a handler raised: {dict(delta)}"
    assert sum(delta.values()) == len(cases), f"{len(cases)} bad messages, counted {dict(delta)}"
    short = {r: (n, delta[r]) for r, n in expected.items() if delta[r] < n}
    assert not short, f"reason: (expected, counted) {short}; all counted {dict(delta)}"
    assert sum((delta - expected).values()) == anything


hostile_batches = st.lists(st.one_of([hostile.mutated_cases(c) for c in CHANNELS]), min_size=1, max_size=25)


@given(cases=hostile_batches)
def test_every_hostile_message_is_counted_once_with_its_reason(live: Live, cases: list[Case]) -> None:
    bad = explicit(cases)
    before, received = live.rejected(), live.received()
    sent = live.send(bad)
    assert_counted(live, bad, before, received, sent)


def test_a_flood_is_counted_the_legit_devices_stay_served_and_memory_stays_flat(live: Live) -> None:
    rng = random.Random(20241125)
    warmup = explicit(hostile.flood(rng, 600))
    n_flood = min(scaled(3000), 30000)  # the soak profile: ten times the flood
    flood = explicit(hostile.flood(rng, n_flood))
    before, received = live.rejected(), live.received()
    sent = live.send(warmup, heartbeat_every=100)
    assert_counted(live, warmup, before, received, sent)

    gc.collect()
    rss_before = rss_bytes()
    tracemalloc.start()
    before, received = live.rejected(), live.received()
    t0 = time.monotonic()
    sent = live.send(flood, heartbeat_every=100)
    assert_counted(live, flood, before, received, sent)
    elapsed = time.monotonic() - t0
    gc.collect()
    traced, peak = tracemalloc.get_traced_memory()
    top = tracemalloc.take_snapshot().statistics("lineno")[:5]
    tracemalloc.stop()
    rss_after = rss_bytes()
    print(f"\nflood: {len(flood)} hostile messages + {sent - len(flood)} legit heartbeats in {elapsed:.1f} s; "
          f"rejected {dict(live.rejected() - before)}\n"
          f"memory: traced allocations still held {traced / 1024:.0f} KiB (peak {peak / 1024:.0f} KiB); "
          f"RSS {rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB\n"
          + "\n".join(f"  {stat}" for stat in top))
    assert traced < 4 * 2**20, "allocations made during the flood are still held: a leak per message?"
    assert rss_after - rss_before < 64 * 2**20

    assert live.online() == len(LEGIT)
    stats = live.client.call("stats")
    assert stats["rejected"] == dict(live.ctl.stats.rejected)
    started = live.client.call("session.start", START)
    device = next(d for d in live.devices if d.id == started["device"])
    device.apply_latest()
    waited = live.client.call("session.wait", {"session_id": started["session_id"], "timeout_s": 10})
    assert waited["status"] == "applied"
    live.client.call("session.end", {"session_id": started["session_id"]})


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4096


# --- requests past the envelope ---------------------------------------------------------------------

KNOWN_METHODS: Final = ("stats", "devices.list", "session.list", "attendance.list", "session.end", "session.start",
                        "courses.list", "device.list")


class Replies:
    def __init__(self, live: Live) -> None:
        self.topic = f"{live.root}/clients/fuzz-{uuid.uuid4().hex[:6]}/replies"
        self.got: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.client.on_message = self._on_message
        self.client.connect(live.broker.host, live.broker.port)
        self.client.subscribe(self.topic, qos=1)
        self.client.loop_start()
        time.sleep(0.2)

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        validate_publish(msg.topic, msg.payload, self.topic.split("/", 1)[0])
        with self.cond:
            self.got.append(json.loads(msg.payload))
            self.cond.notify_all()

    def wait(self, n: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        with self.cond:
            while len(self.got) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.got)} of {n} replies")
                self.cond.wait(left)
            return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def replies(live: Live) -> Iterator[Replies]:
    rec = Replies(live)
    yield rec
    rec.close()


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=30),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
params = st.dictionaries(st.sampled_from(["session_id", "course", "title", "session", "semester", "active", "limit",
                                          "offline_first", "device", "password", "x"]), json_values, max_size=5)
methods = st.one_of(st.sampled_from(KNOWN_METHODS),
                    st.text(min_size=1, max_size=32).filter(lambda m: m not in KNOWN_METHODS and "\ud800" not in m))


@given(requests=st.lists(st.tuples(methods, params), min_size=1, max_size=10))
def test_requests_always_get_one_reply(
    live: Live, replies: Replies, requests: list[tuple[str, dict[str, Any]]],
) -> None:
    """Well-formed requests with odd methods and params: one reply each, never silence."""
    start = len(replies.got)
    ids = []
    for method, body in requests:
        request_id = uuid.uuid4().hex
        ids.append(request_id)
        payload = {"v": 1, "id": request_id, "reply_to": replies.topic, "method": method, "params": body}
        live.publisher.publish(f"{live.root}/controller/requests/fuzz", hostile.to_json(payload), qos=1)
    got = replies.wait(start + len(requests))[start:]
    assert sorted(r["id"] for r in got) == sorted(ids)
    for reply in got:
        assert reply["ok"] is True or reply["error"]["code"] in {
            "bad_request", "unknown_method", "unknown_session", "session_ended", "no_device_available",
            "device_busy", "unknown_device"}, reply
    assert live.ctl.stats.rejected["internal"] == 0
    for session in live.client.call("session.list", {"active": True})["sessions"]:
        live.client.call("session.end", {"session_id": session["session_id"]})  # free the legit devices


# --- below the client library: topics paho would not send -----------------------------------------


def raw_publish(host: str, port: int, topic: bytes, payload: bytes) -> None:
    """MQTT 3.1.1 CONNECT + PUBLISH (QoS 0) on a bare socket: any bytes as the topic name."""

    def field(data: bytes) -> bytes:
        return struct.pack("!H", len(data)) + data

    def packet(header: int, body: bytes) -> bytes:
        size, length = len(body), b""
        while True:
            digit, size = size % 128, size // 128
            length += bytes([digit | (0x80 if size else 0)])
            if not size:
                return bytes([header]) + length + body

    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(packet(0x10, field(b"MQTT") + bytes([4, 2]) + struct.pack("!H", 30) +
                            field(f"raw-{uuid.uuid4().hex[:8]}".encode())))
        sock.recv(4)  # CONNACK
        sock.sendall(packet(0x30, field(topic) + payload))
        time.sleep(0.05)


@pytest.mark.parametrize("device_level", [b"\xff\xfe", b"esp32-aaaa\x00bbbb", b"esp32-\xed\xa0\x80", b"+", b"#",
                                          b"esp32-aaaaaaaaaaaa\xc0\xaf"])
def test_topics_no_client_library_would_send_do_not_stop_the_controller(live: Live, device_level: bytes) -> None:
    """Invalid UTF-8, NUL and wildcards in a PUBLISH topic: the broker drops or mangles them, and
    the controller either never sees them or counts them as bad_device_id; it keeps answering."""
    before = live.rejected()
    raw_publish(live.broker.host, live.broker.port, f"{live.root}/devices/".encode() + device_level + b"/heartbeat",
                b'{"v":1,"boot":1,"uptime_s":1}')
    time.sleep(0.2)
    assert live.client.call("stats")["rejected"].get("internal", 0) == 0
    assert set((live.rejected() - before).keys()) <= {"bad_device_id", "bad_topic"}
    assert live.online() == len(LEGIT)


# --- found by the fuzzing: bugs the lead fixes (then drop the marker) ------------------------------


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Live]:
    """A controller of its own, for inputs that may leave it damaged."""
    running = Live(f"sqlite:///{tmp_path / 'fleet.db'}")
    try:
        assert running.online() == len(LEGIT)
        yield running
    finally:
        try:
            running.close()
        except (StoreError, UnicodeError) as exc:  # a damaged controller may fail its last flush too
            warnings.warn(f"controller stop failed: {exc}", stacklevel=1)


def test_a_lone_surrogate_in_a_heartbeat_does_not_stop_devices_list(fresh: Live) -> None:
    fresh.publisher.publish(f"{fresh.root}/devices/esp32-0000000000bad/heartbeat",
                            b'{"v":1,"boot":1,"uptime_s":1,"fw":"\\ud800"}', qos=1).wait_for_publish(5)
    time.sleep(0.7)  # a flush (every 0.5 s) happens too
    try:
        fleet = fresh.client.call("devices.list", timeout=2)
    except ControllerOffline as exc:
        pytest.fail(f"devices.list went unanswered: {exc}")
    assert fresh.ctl.stats.rejected["internal"] == 0, dict(fresh.ctl.stats.rejected)
    assert fleet["online"] >= len(LEGIT)


CJK_START: Final = {"course": "CS101", "title": "\u8ba1\u7b97\u673a\u79d1\u5b66\u5bfc\u8bba" * 14,
                    "session": "\u4e8c\u3007\u4e8c\u56db/\u4e8c\u3007\u4e8c\u4e94" + "\u5e74" * 7,
                    "semester": "\u7b2c\u4e00\u5b66\u671f" * 8, "lecturer": "\u674e\u8001\u5e08" * 21}


def test_a_started_session_config_fits_the_device_payload_limit(fresh: Live) -> None:
    device = fresh.devices[0]
    try:
        started = fresh.client.call("session.start", CJK_START | {"device": device.id})
    except ApiError as exc:
        assert exc.code == "bad_request"  # refusing it is a fix too
        return
    config = device.wait_config()
    payload = hostile.to_json(config)
    assert len(payload) <= hostile.MAX_DEVICE_PAYLOAD, f"config of session {started['session_id']}: {len(payload)} B"


@pytest.fixture
def fresh_pg() -> Iterator[Live]:
    """A controller of its own on a throwaway PostgreSQL database."""
    with throwaway_postgres() as url:
        running = Live(url)
        try:
            assert running.online() == len(LEGIT)
            yield running
        finally:
            try:
                running.close()
            except StoreError as exc:  # the poisoned flush also fails in stop(): reported by the test
                warnings.warn(f"controller stop failed: {exc}", stacklevel=1)


SCHEMA_VALID_POISON: Final = [
    b'{"v":1,"boot":4294967295,"uptime_s":1}',  # a counter is 0..2^32-1; PostgreSQL's integer stops at 2^31-1
    b'{"v":1,"boot":1,"uptime_s":1,"fw":"1.0\\u0000"}',  # PostgreSQL text cannot hold NUL
]


@pytest.mark.postgres
@pytest.mark.parametrize("payload", SCHEMA_VALID_POISON, ids=["boot-u32-max", "nul-in-fw"])
def test_one_odd_heartbeat_does_not_stop_liveness_flushes_on_postgresql(fresh_pg: Live, payload: bytes) -> None:
    fresh_pg.publisher.publish(f"{fresh_pg.root}/devices/esp32-00000000dead/heartbeat", payload,
                               qos=1).wait_for_publish(5)
    time.sleep(0.7)  # at least one flush with the odd device in it
    newcomer = Device(fresh_pg.broker, fresh_pg.root, "esp32-00000000beef")
    try:
        newcomer.birth()
        newcomer.heartbeat()
        deadline = time.monotonic() + 3
        while "esp32-00000000beef" not in {row.id for row in fresh_pg.ctl.store.load_devices()}:
            if time.monotonic() > deadline:
                pytest.fail("a device that came after the odd heartbeat was never stored")
            time.sleep(0.1)
    finally:
        newcomer.close()
    try:  # session.start flushes liveness first: the same failure would leave every start unanswered
        fresh_pg.client.call("session.start", START, timeout=3)
    except ControllerOffline as exc:
        pytest.fail(f"session.start went unanswered: {exc}")
