"""Hostile clients against the brokers themselves (issue 18, the broker's part): a takeover, bytes no
client library sends, sockets that never finish, a topic built to be expensive to log, a subscriber
that stops reading. Each test reproduces a finding on the embedded broker (and on Mosquitto where
both are concerned: there it pins down the meaning the embedded broker must match).
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console
from rich.logging import RichHandler

from controller.broker import connection, logs
from tests import rawmqtt
from tests.brokers import RunningBroker, start_amqtt, start_mosquitto
from tests.rawmqtt import PUBACK, SUBACK, RawClient
from tests.security.conftest import Client

QUICK_S = 1.0
"""What "at once" means here: well under a second on this machine, with room for a loaded CI."""


@pytest.fixture
def open_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningBroker]:
    """The embedded broker or Mosquitto, open on loopback, with `request.param` extra config lines."""
    kind, extra = request.param
    running = start_amqtt(f"listener 0 127.0.0.1\nallow_anonymous true\n{extra}") if kind == "amqtt" \
        else start_mosquitto(tmp_path, extra)
    with running:
        yield running


BOTH = [("amqtt", ""), ("mosquitto", "")]


def _raw(broker: RunningBroker, **kwargs: int) -> RawClient:
    return RawClient(broker.host, broker.port, **kwargs)


# --- a takeover closes the old connection -----------------------------------------------------------


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
def test_a_takeover_closes_the_old_connection_and_the_new_one_is_served(open_broker: RunningBroker) -> None:
    """MQTT 3.1.1 §3.1.4: the broker disconnects the client already connected with that id; its will
    is published. Before: the embedded broker left the old connection open and deaf (its
    subscriptions deleted), and published its will whenever it finally dropped."""
    root = f"t{uuid.uuid4().hex[:8]}"
    watcher = Client(open_broker, client_id=f"watch-{uuid.uuid4().hex[:6]}")
    assert watcher.connect() is not None
    watcher.subscribe(f"{root}/#")
    old = Client(open_broker, client_id="dev-taken")
    assert old.connect(will=(f"{root}/will", b"old gone")) is not None
    old.subscribe(f"{root}/old")
    new = Client(open_broker, client_id="dev-taken")
    rc = new.connect()
    assert rc is not None and not rc.is_failure
    try:
        assert old.disconnected.wait(3.0), "the old connection is still open"
        assert watcher.wait_for(f"{root}/will") == b"old gone"
        new.subscribe(f"{root}/new")
        for _ in range(3):  # not deaf, and not only for a moment
            watcher.publish(f"{root}/new", b"for the new one")
            assert new.wait_for(f"{root}/new") == b"for the new one"
            time.sleep(0.3)
        assert not new.disconnected.is_set()
    finally:
        for client in (watcher, old, new):
            client.close()


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
def test_a_persistent_takeover_hands_over_the_session(open_broker: RunningBroker) -> None:
    """Both clean_session=0: the new connection resumes the old one's session (its subscription),
    and no will is published (Mosquitto 2.0.11 publishes it unless both sessions are persistent)."""
    root = f"t{uuid.uuid4().hex[:8]}"
    client_id = f"keep-{uuid.uuid4().hex[:6]}"
    watcher = Client(open_broker, client_id=f"watch-{uuid.uuid4().hex[:6]}")
    assert watcher.connect() is not None
    watcher.subscribe(f"{root}/will")
    old = RawClient(open_broker.host, open_broker.port)
    assert old.connect(client_id, clean=False, will=(f"{root}/will", b"old gone")) == 0
    old.send(rawmqtt.subscribe(f"{root}/kept", qos=1))
    assert old.read_packet(3.0) is not None  # SUBACK
    new = RawClient(open_broker.host, open_broker.port)
    try:
        new.send(rawmqtt.connect(client_id, clean=False))
        connack = new.read_packet(3.0)
        assert connack is not None and connack[1] == b"\x01\x00", connack  # session present, accepted
        assert old.closed_within(3.0)
        watcher.publish(f"{root}/kept", b"resumed")
        delivered = new.read_packet(3.0)
        assert delivered is not None and delivered[0] & 0xF0 == rawmqtt.PUBLISH and delivered[1].endswith(b"resumed")
        time.sleep(0.3)
        assert watcher.drain() == []  # no will
    finally:
        new.send(rawmqtt.packet(0xE0, b""))  # DISCONNECT
        for raw in (old, new):
            raw.close()
        watcher.close()


# --- strings must be MQTT UTF-8 ---------------------------------------------------------------------

BAD_TOPICS = {
    "not utf-8": b"t/\xff",
    "truncated sequence": b"t/\xc3",
    "overlong /": b"t\xc0\xafx",
    "surrogate": b"t/\xed\xa0\x80",
    "nul": b"t/a\x00b",
    "c0 control": b"t/a\x01b",
    "del": b"t/a\x7fb",
    "c1 control": "t/a\u0085b".encode(),
    "non-character U+FDD0": "t/\ufdd0".encode(),
    "non-character U+FFFF": "t/\uffff".encode(),
    "wildcard": b"t/+/x",
    "empty": b"",
}


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
@pytest.mark.parametrize("topic", BAD_TOPICS.values(), ids=BAD_TOPICS.keys())
def test_a_publish_to_a_malformed_topic_closes_the_connection(open_broker: RunningBroker, topic: bytes) -> None:
    """MQTT 3.1.1 §1.5.3: ill-formed UTF-8 or U+0000 in a string → the server closes the connection
    (Mosquitto also refuses the other control characters and the non-characters). Before: the
    embedded broker PUBACKed them, taking `str(bytes)` as the topic."""
    raw = _raw(open_broker)
    try:
        assert raw.connect(f"bad-{uuid.uuid4().hex[:6]}") == 0
        raw.send(rawmqtt.publish(topic, b"x", qos=1))
        assert raw.read_packet(QUICK_S * 2) is None, "the broker answered instead of closing"
        assert raw.closed_within(QUICK_S)
    finally:
        raw.close()


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
@pytest.mark.parametrize("topic", ["t/caf\u00e9", "t/\u202e", "t/\U0001f469", "t/a b"])
def test_unusual_but_well_formed_topics_are_accepted(open_broker: RunningBroker, topic: str) -> None:
    raw = _raw(open_broker)
    try:
        assert raw.connect(f"ok-{uuid.uuid4().hex[:6]}") == 0
        raw.send(rawmqtt.publish(topic, b"x", qos=1))
        answer = raw.read_packet(3.0)
        assert answer is not None and answer[0] == PUBACK
    finally:
        raw.close()


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
@pytest.mark.parametrize(("what", "connect"), [
    ("client id", rawmqtt.connect(b"c\xff")),
    ("client id control", rawmqtt.connect(b"c\x01")),
    ("username", rawmqtt.connect(b"c", username=b"u\xff")),
    ("will topic", rawmqtt.connect(b"c", will=(b"w\x00", b"x"))),
    ("will topic wildcard", rawmqtt.connect(b"c", will=(b"w/#", b"x"))),
    ("first packet is not CONNECT", rawmqtt.packet(0xC0, b"")),
])
def test_a_bad_connect_is_closed_without_a_connack(open_broker: RunningBroker, what: str, connect: bytes) -> None:
    raw = _raw(open_broker)
    try:
        raw.send(connect)
        assert raw.read_packet(QUICK_S * 2) is None, f"a CONNECT with a bad {what} was answered"
    finally:
        raw.close()


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
@pytest.mark.parametrize("topic_filter", [b"t/\xff", b"t/\x00", b"t/a#", b"t/+a"], ids=["utf-8", "nul", "a#", "+a"])
def test_a_subscribe_with_a_bad_filter_closes_the_connection(open_broker: RunningBroker, topic_filter: bytes) -> None:
    raw = _raw(open_broker)
    try:
        assert raw.connect(f"sub-{uuid.uuid4().hex[:6]}") == 0
        raw.send(rawmqtt.subscribe(topic_filter))
        answer = raw.read_packet(QUICK_S * 2)
        assert answer is None or answer[0] != SUBACK
        assert raw.closed_within(QUICK_S)
    finally:
        raw.close()


# --- sizes and deadlines ----------------------------------------------------------------------------

LIMIT = 1000


@pytest.mark.parametrize("open_broker", [("amqtt", f"max_packet_size {LIMIT}\n"),
                                         ("mosquitto", f"max_packet_size {LIMIT}\n")],
                         indirect=True, ids=["amqtt", "mosquitto"])
def test_max_packet_size_means_what_it_means_on_mosquitto(open_broker: RunningBroker) -> None:
    """Measured on Mosquitto 2.0.11: a packet is refused when its remaining length + 1 exceeds
    max_packet_size (not its whole size, as the manual says); the client is disconnected at once."""
    topic = "t/size"
    accepted = _raw(open_broker)
    refused = _raw(open_broker)
    try:
        assert accepted.connect("size-ok") == 0
        assert refused.connect("size-big") == 0
        body_left = LIMIT - 1 - (2 + len(topic) + 2)  # remaining length LIMIT - 1
        accepted.send(rawmqtt.publish(topic, b"x" * body_left, qos=1))
        answer = accepted.read_packet(3.0)
        assert answer is not None and answer[0] == PUBACK
        started = time.monotonic()
        refused.send(rawmqtt.publish(topic, b"x" * (body_left + 1), qos=1))  # remaining length LIMIT
        assert refused.closed_within(QUICK_S)
        assert time.monotonic() - started < QUICK_S
    finally:
        accepted.close()
        refused.close()


@pytest.mark.parametrize("open_broker", BOTH, indirect=True, ids=["amqtt", "mosquitto"])
def test_a_silent_client_is_closed_after_one_and_a_half_keepalives(open_broker: RunningBroker) -> None:
    """MQTT 3.1.1 §3.1.2.10. Before: the embedded broker never dropped a client that went silent."""
    raw = _raw(open_broker)
    try:
        assert raw.connect(f"quiet-{uuid.uuid4().hex[:6]}", keepalive=2) == 0
        started = time.monotonic()
        assert raw.closed_within(10.0)  # Mosquitto 2.0.11 checks every few seconds: 6 s measured
        assert time.monotonic() - started >= 3.0
    finally:
        raw.close()


@pytest.fixture
def quick_connect_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 1.0)
    return 1.0


def test_a_socket_that_never_sends_connect_is_closed_at_the_deadline(quick_connect_deadline: float) -> None:
    """Before: 1,000 such sockets were all still open after 150 s."""
    with start_amqtt() as running:
        silent = [_raw(running) for _ in range(20)]
        trickle = _raw(running)
        try:
            started = time.monotonic()
            connect = rawmqtt.connect("slow")
            for byte in connect[:-1]:  # every byte on time, the whole CONNECT never: a slowloris
                if not trickle.send(bytes([byte])):
                    break
                time.sleep(quick_connect_deadline / 8)
                if time.monotonic() - started > quick_connect_deadline * 3:
                    break
            assert all(raw.closed_within(quick_connect_deadline * 3) for raw in silent)
            assert trickle.closed_within(quick_connect_deadline * 3)
            assert time.monotonic() - started < quick_connect_deadline * 4
        finally:
            for raw in [*silent, trickle]:
                raw.close()


def test_a_huge_connect_is_refused_before_it_is_read() -> None:
    """A CONNECT header announcing 268,435,455 bytes: closed at once, nothing buffered. Before: the
    embedded broker waited for the body forever."""
    with start_amqtt() as running:
        raw = _raw(running)
        try:
            assert raw.send(b"\x10\xff\xff\xff\x7f")
            assert raw.closed_within(QUICK_S)
        finally:
            raw.close()


# --- a topic built to be expensive to log -----------------------------------------------------------


@pytest.fixture
def rich_logging() -> Iterator[io.StringIO]:
    """What `fleet broker` installs: rich's handler on the root logger, INFO for our modules."""
    output = io.StringIO()
    handler = RichHandler(console=Console(file=output, width=120), show_path=False, rich_tracebacks=False)
    root, ours = logging.getLogger(), logging.getLogger("controller")
    previous = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.INFO)
    try:
        yield output
    finally:
        root.removeHandler(handler)
        ours.setLevel(previous)


def test_a_denied_65535_byte_topic_costs_no_time_and_logs_a_bounded_line(
    rich_logging: io.StringIO, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: 38.7 s of broker CPU formatting the denial line through rich's highlighter (45 s
    here for 65,535 × 'a', 149 s for digits), long enough for every keepalive to expire."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite ok/#\n")
    caplog.set_level(logging.INFO, logger="controller")
    with start_amqtt(f"listener 0 127.0.0.1\nallow_anonymous true\nacl_file {acl}\n") as running:
        listener = Client(running, client_id="listener")
        assert listener.connect() is not None
        listener.subscribe("ok/#")
        raw = _raw(running)
        try:
            assert raw.connect("dev-long") == 0
            started = time.monotonic()
            raw.send(rawmqtt.publish("1" * 65_535, b"x", qos=1))
            answer = raw.read_packet(5.0)
            assert answer is not None and answer[0] == PUBACK
            raw.send(rawmqtt.publish("ok/after", b"still served", qos=1))
            assert listener.wait_for("ok/after", timeout=5.0) == b"still served"
            assert time.monotonic() - started < QUICK_S
        finally:
            raw.close()
            listener.close()
    denials = [r.getMessage() for r in caplog.records if "denied" in r.getMessage()]
    assert denials, "the denial was not logged"
    assert max(len(message) for message in caplog.messages) < 600
    assert len(rich_logging.getvalue()) < 2000  # what rich printed: a few bounded lines


def test_repeated_denials_log_one_line_then_a_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "DENIAL_WINDOW_S", 1.0)
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite ok/#\n")
    caplog.set_level(logging.INFO, logger="controller")
    with start_amqtt(f"listener 0 127.0.0.1\nallow_anonymous true\nacl_file {acl}\n") as running:
        raw = _raw(running)
        try:
            assert raw.connect("dev-noisy") == 0
            for packet_id in range(1, 201):
                raw.send(rawmqtt.publish(f"no/{packet_id}", b"x", qos=1, packet_id=packet_id))
            for _ in range(200):
                assert raw.read_packet(3.0) is not None
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline and not any("199 more" in m for m in caplog.messages):
                time.sleep(0.1)
        finally:
            raw.close()
    denials = [m for m in caplog.messages if "dev-noisy" in m]
    assert len(denials) == 2, denials  # the first in full, then the count
    assert "199 more" in denials[1]


# --- one stalled subscriber cannot make the broker hold everything ----------------------------------


def test_a_stalled_subscriber_loses_messages_beyond_max_queued_messages_and_no_one_else_does(
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="controller")
    count, batch = 3000, 100  # of 8 KB: far more than the socket buffers on the way can hold
    # The publisher sends a batch at a time and waits until the healthy subscriber has it all, so
    # that one is never more than a batch behind, while the stalled one falls past the 500 allowed.
    with start_amqtt("listener 0 127.0.0.1\nallow_anonymous true\nmax_queued_messages 500\n") as running:
        got: queue.Queue[bytes] = queue.Queue()
        healthy = paho.Client(CallbackAPIVersion.VERSION2, client_id="healthy", protocol=paho.MQTTv311)
        healthy.on_message = lambda _c, _u, message: got.put(message.payload)
        subscribed = threading.Event()
        healthy.on_subscribe = lambda *_: subscribed.set()
        healthy.connect(running.host, running.port)
        healthy.loop_start()
        healthy.subscribe("flood/#", qos=0)
        stalled = RawClient(running.host, running.port, receive_buffer=4096)
        publisher = _raw(running)
        try:
            assert subscribed.wait(3.0)
            assert stalled.connect("stalled") == 0
            stalled.send(rawmqtt.subscribe("flood/#"))
            time.sleep(0.3)  # its SUBACK waits unread in its socket: it never reads again
            assert publisher.connect("flooder") == 0
            payload = b"x" * 8000
            received = 0
            deadline = time.monotonic() + 60.0
            for first in range(0, count, batch):
                publisher.send(b"".join(rawmqtt.publish(f"flood/{i}", payload) for i in range(first, first + batch)))
                while received < first + batch and time.monotonic() < deadline:
                    try:
                        got.get(timeout=1.0)
                        received += 1
                    except queue.Empty:
                        continue
            assert received == count
        finally:
            healthy.disconnect()
            healthy.loop_stop()
            for raw in (stalled, publisher):
                raw.close()
    drops = [m for m in caplog.messages if "stalled" in m and "dropp" in m]
    assert len(drops) == 1, drops
