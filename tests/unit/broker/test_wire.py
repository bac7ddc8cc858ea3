"""Unit tests for controller.broker.wire: what a client may put on the wire, as bytes (no network).

The rules were measured on Mosquitto 2.0.11; tests/faults/test_hostile_broker.py checks both brokers.
"""

from __future__ import annotations

import re

import pytest

from controller.broker import wire
from controller.broker.wire import Refused
from tests import rawmqtt


def _split(packet: bytes) -> tuple[int, bytes, int]:
    """First byte, body, remaining length of a whole packet."""
    for end in range(2, 6):
        length = wire.remaining_length(packet[:end])
        if length is not None:
            return packet[0], packet[end:], length
    raise AssertionError("no remaining length")


def _check(packet: bytes, *, connected: bool = True, max_packet_size: int | None = None) -> None:
    first, body, length = _split(packet)
    assert length == len(body)
    wire.check_size(first, length, connected=connected, max_packet_size=max_packet_size)
    wire.check_packet(first, body)


@pytest.mark.parametrize("length", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, wire.MAX_REMAINING])
def test_remaining_length_round_trip(length: int) -> None:
    encoded = bytes([0x30]) + wire.encode_remaining_length(length)
    assert [wire.remaining_length(encoded[:end]) for end in range(2, len(encoded))] == [None] * (len(encoded) - 2)
    assert wire.remaining_length(encoded) == length


def test_a_fifth_length_byte_is_refused() -> None:
    with pytest.raises(Refused, match="longer than 4 bytes"):
        wire.remaining_length(b"\x30\xff\xff\xff\xff")


@pytest.mark.parametrize(("remaining", "refused"), [(999, False), (1000, True)])
def test_max_packet_size_counts_remaining_length_plus_one(remaining: int, refused: bool) -> None:
    if refused:
        with pytest.raises(Refused, match="over max_packet_size 1,000") as caught:
            wire.check_size(0x30, remaining, connected=True, max_packet_size=1000)
        assert caught.value.reason == "too_large"
    else:
        wire.check_size(0x30, remaining, connected=True, max_packet_size=1000)


def test_a_connect_is_bounded_whatever_max_packet_size_says() -> None:
    wire.check_size(0x10, wire.MAX_CONNECT_REMAINING, connected=False, max_packet_size=None)
    with pytest.raises(Refused, match="CONNECT of 268,435,455 bytes"):
        wire.check_size(0x10, wire.MAX_REMAINING, connected=False, max_packet_size=None)


@pytest.mark.parametrize(("first", "remaining", "connected", "fragment"), [
    (0xC0, 0, False, "PINGREQ before CONNECT"),
    (0x30, 5, False, "PUBLISH before CONNECT"),
    (0x10, 20, True, "second CONNECT"),
    (0x20, 2, True, "only a server sends"),  # CONNACK
    (0x90, 3, True, "only a server sends"),  # SUBACK
    (0x00, 0, True, "only a server sends"),  # reserved
    (0x80, 5, True, "flags 0b0000"),  # SUBSCRIBE must have 0b0010
    (0x62, 2, True, None),  # PUBREL with its flags
    (0x60, 2, True, "flags"),
    (0x40, 3, True, "remaining length of 3"),  # PUBACK is 2 bytes
    (0xC0, 1, True, "remaining length of 1"),
    (0xE1, 0, True, "flags"),
])
def test_fixed_header_rules(first: int, remaining: int, connected: bool, fragment: str | None) -> None:
    if fragment is None:
        wire.check_size(first, remaining, connected=connected, max_packet_size=None)
        return
    with pytest.raises(Refused, match=fragment):
        wire.check_size(first, remaining, connected=connected, max_packet_size=None)


@pytest.mark.parametrize("raw", [b"", b"a/b", "caf\u00e9".encode(), "\u202e".encode(), "\U0001f469".encode(),
                                 "\u00a0".encode(), "\ufeff".encode(), "\ufffd".encode()])
def test_text_mosquitto_accepts(raw: bytes) -> None:
    assert wire.text_refusal(raw) is None


@pytest.mark.parametrize(("raw", "why"), [
    (b"\xff", "not well-formed"),
    (b"\xc3", "not well-formed"),
    (b"\xc0\xaf", "not well-formed"),  # overlong
    (b"\xed\xa0\x80", "not well-formed"),  # a surrogate
    (b"\xf4\x90\x80\x80", "not well-formed"),  # past U+10FFFF
    (b"a\x00", "U+0000"),
    (b"\x01", "U+0001"),
    (b"\x1f", "U+001F"),
    (b"\x7f", "U+007F"),
    ("\u0085".encode(), "U+0085"),
    ("\u009f".encode(), "U+009F"),
    ("\ufdd0".encode(), "U+FDD0"),
    ("\ufdef".encode(), "U+FDEF"),
    ("\ufffe".encode(), "U+FFFE"),
    ("\U0001ffff".encode(), "U+1FFFF"),
    ("\U0010fffe".encode(), "U+10FFFE"),
])
def test_text_mosquitto_refuses(raw: bytes, why: str) -> None:
    refusal = wire.text_refusal(raw)
    assert refusal is not None and why in refusal


@pytest.mark.parametrize(("topic_filter", "ok"), [
    (b"a/#", True), (b"#", True), (b"+", True), (b"a/+/b", True), (b"+/+/#", True), (b"/", True),
    (b"a#", False), (b"a/#/b", False), (b"a+", False), (b"a/+b", False), (b"", False), (b"a/\x00", False),
])
def test_topic_filters(topic_filter: bytes, ok: bool) -> None:
    assert (wire.topic_filter_refusal(topic_filter) is None) is ok


@pytest.mark.parametrize(("topic", "ok"), [(b"a/b", True), (b"/", True), (b"$SYS/x", True), (b"a/+", False),
                                           (b"#", False), (b"", False), (b"a\xff", False)])
def test_topic_names(topic: bytes, ok: bool) -> None:
    assert (wire.topic_name_refusal(topic) is None) is ok


def test_good_packets_pass_and_the_keepalive_is_read() -> None:
    connect = rawmqtt.connect("dev-1", username="dev-1", password=b"\xff\x00binary", will=("t/will", b"\x00\xff"),
                              keepalive=15)
    _check(connect, connected=False)
    assert wire.connect_keepalive(_split(connect)[1]) == 15
    for packet in (rawmqtt.publish("t/a", b"\x00\xff", qos=0), rawmqtt.publish("t/a", b"", qos=1),
                   rawmqtt.publish("t/a", b"x", qos=2, retain=True), rawmqtt.subscribe("t/#", qos=2),
                   rawmqtt.packet(0xA2, b"\x00\x01" + wire.encode_string("t/+"))):
        _check(packet)


@pytest.mark.parametrize(("packet", "reason", "fragment"), [
    (rawmqtt.publish(b"t/\xff", b"x"), "bad_string", "PUBLISH topic is not well-formed UTF-8"),
    (rawmqtt.publish(b"t/#", b"x"), "bad_string", "PUBLISH topic holds a wildcard"),
    (rawmqtt.publish(b"", b"x"), "bad_string", "PUBLISH topic is empty"),
    (rawmqtt.packet(0x36, wire.encode_string("t") + b"\x00\x01"), "malformed", "QoS 3"),
    (rawmqtt.publish("t", b"", qos=1, packet_id=0), "malformed", "packet id 0"),
    (rawmqtt.packet(0x30, b"\x00\x09t"), "malformed", "ends inside its topic"),
    (rawmqtt.packet(0x32, wire.encode_string("t") + b"\x00"), "malformed", "ends inside its packet id"),
    (rawmqtt.subscribe(b"t/\x00"), "bad_string", "SUBSCRIBE topic filter holds U+0000"),
    (rawmqtt.subscribe("t", qos=3), "malformed", "requested QoS"),
    (rawmqtt.packet(0x82, b"\x00\x01"), "malformed", "without a topic filter"),
    (rawmqtt.packet(0x82, b"\x00\x01" + wire.encode_string("t")), "malformed", "ends inside its requested QoS"),
    (rawmqtt.packet(0xA2, b"\x00\x01" + wire.encode_string(b"a#")), "bad_string", "UNSUBSCRIBE topic filter"),
])
def test_bad_packets_are_refused_with_a_reason(packet: bytes, reason: str, fragment: str) -> None:
    with pytest.raises(Refused, match=re.escape(fragment)) as caught:
        _check(packet)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("packet", "fragment"), [
    (rawmqtt.connect(b"c\xff"), "client id is not well-formed"),
    (rawmqtt.connect(b"c\x01"), "client id holds U+0001"),
    (rawmqtt.connect("c", username=b"u\x00"), "username holds U+0000"),
    (rawmqtt.connect("c", will=(b"w/+", b"x")), "will topic holds a wildcard"),
    (rawmqtt.connect("c", will=(b"", b"x")), "will topic is empty"),
    (rawmqtt.connect("c"), None),
    (rawmqtt.packet(0x10, wire.encode_string("MQTT") + bytes([4, 0x03]) + b"\x00\x1e" + wire.encode_string("c")),
     "reserved"),
    (rawmqtt.packet(0x10, wire.encode_string("MQTT") + bytes([4, 0x02]) + b"\x00\x1e" + wire.encode_string("c") + b"!"),
     "after its last field"),
    (rawmqtt.packet(0x10, wire.encode_string("MQTT") + bytes([4, 0x82]) + b"\x00\x1e" + wire.encode_string("c")),
     "ends inside its username"),
])
def test_connects(packet: bytes, fragment: str | None) -> None:
    if fragment is None:
        _check(packet, connected=False)
        return
    with pytest.raises(Refused, match=re.escape(fragment)):
        _check(packet, connected=False)


def test_remaining_length_encoding_round_trips() -> None:
    for length in (0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455):
        encoded = wire.encode_remaining_length(length)
        assert wire.remaining_length(bytes([0x30]) + encoded) == length
        assert len(encoded) == 1 + (length > 127) + (length > 16_383) + (length > 2_097_151)
