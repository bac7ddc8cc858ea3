"""What a client may send the embedded broker, checked on the raw bytes before amqtt parses them.

amqtt 0.12 trusts the wire: a CONNECT header announcing 268,435,455 bytes is read into memory, a
topic that is not UTF-8 becomes the text `"b'...'"` and is PUBACKed, a first packet that is not a
CONNECT is parsed as one. `controller.broker.connection` reads every packet whole and asks this module first;
a packet it refuses closes the connection, as MQTT 3.1.1 requires and Mosquitto 2.0.11 does
(each rule below was checked against a running Mosquitto 2.0.11):

- the first packet is a CONNECT, and no other CONNECT follows [MQTT-3.1.0-1, -2];
- a CONNECT holds at most `MAX_CONNECT_REMAINING` bytes (as later Mosquitto releases limit it),
  whatever `max_packet_size` says, so an unauthenticated socket cannot make the broker buffer more;
- `max_packet_size` has Mosquitto 2.0.11's meaning, measured rather than documented: a packet
  whose remaining length + 1 exceeds it is refused (its manual says "the full MQTT packet");
- the remaining length takes at most 4 bytes; fixed header flags are those of the packet type;
- every string (client id, username, will topic, topic names and filters) is well-formed UTF-8
  without U+0000 [MQTT-1.5.3-1, -2]; like Mosquitto, also without the other C0 and C1 controls
  (U+0001..U+001F, U+007F..U+009F) and the non-characters (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF);
- topic names are not empty and hold no wildcard; filters use `+` and `#` as whole levels, `#` last.

Pure: bytes in, a `Refused` raised or a value out; no I/O, no amqtt.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from controller.errors import FleetError

MAX_REMAINING: Final = 268_435_455
"""The largest remaining length MQTT can encode (4 bytes)."""

MAX_CONNECT_REMAINING: Final = 100_000
"""A CONNECT of ours is well under 1 KB (ids ≤ 64 characters, a will ≤ 1024 bytes)."""

CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 3, 4, 5, 6, 7
SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT = 8, 10, 12, 14

_FROM_CLIENTS: Final = frozenset({CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, PINGREQ,
                                  DISCONNECT})
_FLAGS: Final = {PUBREL: 0b0010, SUBSCRIBE: 0b0010, UNSUBSCRIBE: 0b0010}  # PUBLISH's are its own; others 0
_FIXED_REMAINING: Final = {PUBACK: 2, PUBREC: 2, PUBREL: 2, PUBCOMP: 2, PINGREQ: 0, DISCONNECT: 0}
_NAMES: Final = {CONNECT: "CONNECT", PUBLISH: "PUBLISH", PUBACK: "PUBACK", PUBREC: "PUBREC", PUBREL: "PUBREL",
                 PUBCOMP: "PUBCOMP", SUBSCRIBE: "SUBSCRIBE", UNSUBSCRIBE: "UNSUBSCRIBE", PINGREQ: "PINGREQ",
                 DISCONNECT: "DISCONNECT"}

_NONCHARACTERS = "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
_FORBIDDEN = re.compile(f"[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef{_NONCHARACTERS}]")

_CONNECT_USERNAME, _CONNECT_PASSWORD, _CONNECT_WILL, _CONNECT_RESERVED = 0x80, 0x40, 0x04, 0x01


class Refused(FleetError):
    """A packet the broker must not accept; `reason` is a short key (for counting), the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def packet_name(first_byte: int) -> str:
    kind = first_byte >> 4
    return _NAMES.get(kind, f"packet type {kind}")


def remaining_length(header: bytes | bytearray) -> int | None:
    """The remaining length a fixed header announces: `header` is its first byte and the length
    bytes read so far; None while the last one read has its continuation bit set."""
    if len(header) < 2 or header[-1] & 0x80:
        if len(header) >= 5:
            raise Refused("malformed", "a remaining length longer than 4 bytes")
        return None
    value = 0
    for index, byte in enumerate(header[1:]):
        value |= (byte & 0x7F) << (7 * index)
    return value


def encode_remaining_length(length: int) -> bytes:
    """MQTT's variable-length encoding of a remaining length (the inverse of `remaining_length`)."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def encode_string(raw: bytes | str) -> bytes:
    """An MQTT string or binary field: a 2-byte length, then the bytes (UTF-8 for text)."""
    data = raw.encode() if isinstance(raw, str) else raw
    return struct.pack("!H", len(data)) + data


def check_size(first_byte: int, remaining: int, *, connected: bool, max_packet_size: int | None) -> None:
    """Refuse a packet by its fixed header alone, before a byte of its body is read."""
    kind, name = first_byte >> 4, packet_name(first_byte)
    if not connected and kind != CONNECT:
        raise Refused("protocol", f"sent {name} before CONNECT")
    if connected and kind == CONNECT:
        raise Refused("protocol", "sent a second CONNECT")
    if kind not in _FROM_CLIENTS:
        raise Refused("protocol", f"sent {name}, which only a server sends")
    flags = first_byte & 0x0F
    if flags != (flags if kind == PUBLISH else _FLAGS.get(kind, 0)):
        raise Refused("malformed", f"{name} with fixed header flags {flags:#06b}")
    if kind in _FIXED_REMAINING and remaining != _FIXED_REMAINING[kind]:
        raise Refused("malformed", f"{name} with a remaining length of {remaining}")
    if kind == CONNECT and remaining > MAX_CONNECT_REMAINING:
        raise Refused("too_large", f"a CONNECT of {remaining:,} bytes (at most {MAX_CONNECT_REMAINING:,})")
    if max_packet_size is not None and remaining + 1 > max_packet_size:
        raise Refused("too_large", f"a {name} of {remaining:,} bytes over max_packet_size {max_packet_size:,}")


def check_packet(first_byte: int, body: bytes) -> None:
    """Refuse a whole packet (fixed header already checked) whose strings or structure are bad."""
    kind = first_byte >> 4
    if kind == CONNECT:
        _check_connect(body)
    elif kind == PUBLISH:
        _check_publish(first_byte, body)
    elif kind in (SUBSCRIBE, UNSUBSCRIBE):
        _check_subscriptions(kind, body)


def connect_keepalive(body: bytes) -> int:
    """The keepalive (seconds) of a CONNECT body that `check_packet` accepted."""
    (name_length,) = struct.unpack_from("!H", body, 0)
    (keepalive,) = struct.unpack_from("!H", body, 2 + name_length + 2)
    return int(keepalive)


def text_refusal(raw: bytes) -> str | None:
    """Why `raw` is not an MQTT UTF-8 string as Mosquitto 2.0.11 accepts one, or None."""
    try:
        text = raw.decode("utf-8")  # strict: refuses surrogates, overlong forms and > U+10FFFF
    except UnicodeDecodeError:
        return "is not well-formed UTF-8"
    found = _FORBIDDEN.search(text)
    if found is not None:
        return f"holds U+{ord(found.group()):04X}"
    return None


def topic_name_refusal(raw: bytes) -> str | None:
    """Why `raw` cannot be a topic name to publish to, or None."""
    if not raw:
        return "is empty"
    if b"+" in raw or b"#" in raw:
        return "holds a wildcard"
    return text_refusal(raw)


def topic_filter_refusal(raw: bytes) -> str | None:
    """Why `raw` cannot be a topic filter to subscribe with, or None."""
    if not raw:
        return "is empty"
    levels = raw.split(b"/")
    for index, level in enumerate(levels):
        if b"+" in level and level != b"+":
            return "uses + inside a level"
        if b"#" in level and (level != b"#" or index != len(levels) - 1):
            return "uses # other than as the whole last level"
    return text_refusal(raw)


class _Body:
    """A cursor over a packet body; reading past its end refuses the packet."""

    def __init__(self, body: bytes, name: str) -> None:
        self.body = body
        self.name = name
        self.at = 0

    def left(self) -> int:
        return len(self.body) - self.at

    def take(self, count: int, what: str) -> bytes:
        if count > self.left():
            raise Refused("malformed", f"{self.name} ends inside its {what}")
        chunk = self.body[self.at:self.at + count]
        self.at += count
        return chunk

    def short(self, what: str) -> int:
        (value,) = struct.unpack("!H", self.take(2, what))
        return int(value)

    def field(self, what: str) -> bytes:
        return self.take(self.short(what), what)

    def string(self, what: str, refusal: str | None = None) -> bytes:
        raw = self.field(what)
        problem = refusal if refusal is not None else text_refusal(raw)
        if problem is not None:
            raise Refused("bad_string", f"{self.name} {what} {problem}")
        return raw

    def end(self) -> None:
        if self.left():
            raise Refused("malformed", f"{self.name} with {self.left()} byte(s) after its last field")


def _check_connect(body: bytes) -> None:
    cursor = _Body(body, "CONNECT")
    cursor.field("protocol name")  # its value (MQTT, level 4) is amqtt's to check: it answers with a CONNACK
    cursor.take(1, "protocol level")
    (flags,) = cursor.take(1, "flags")
    cursor.take(2, "keepalive")
    if flags & _CONNECT_RESERVED:
        raise Refused("malformed", "CONNECT with its reserved flag set")
    cursor.string("client id")
    if flags & _CONNECT_WILL:
        will_topic = cursor.field("will topic")
        problem = topic_name_refusal(will_topic)
        if problem is not None:
            raise Refused("bad_string", f"CONNECT will topic {problem}")
        cursor.field("will message")
    if flags & _CONNECT_USERNAME:
        cursor.string("username")
    if flags & _CONNECT_PASSWORD:
        cursor.field("password")  # binary data, not a string
    cursor.end()


def _check_publish(first_byte: int, body: bytes) -> None:
    cursor = _Body(body, "PUBLISH")
    qos = (first_byte >> 1) & 0x03
    if qos == 3:
        raise Refused("malformed", "PUBLISH with QoS 3")
    topic = cursor.field("topic")
    problem = topic_name_refusal(topic)
    if problem is not None:
        raise Refused("bad_string", f"PUBLISH topic {problem}")
    if qos and cursor.short("packet id") == 0:
        raise Refused("malformed", "PUBLISH with packet id 0")


def _check_subscriptions(kind: int, body: bytes) -> None:
    name = "SUBSCRIBE" if kind == SUBSCRIBE else "UNSUBSCRIBE"
    cursor = _Body(body, name)
    if cursor.short("packet id") == 0:
        raise Refused("malformed", f"{name} with packet id 0")
    if not cursor.left():
        raise Refused("malformed", f"{name} without a topic filter")
    while cursor.left():
        topic_filter = cursor.field("topic filter")
        problem = topic_filter_refusal(topic_filter)
        if problem is not None:
            raise Refused("bad_string", f"{name} topic filter {problem}")
        if kind == SUBSCRIBE:
            (options,) = cursor.take(1, "requested QoS")
            if options > 2:
                raise Refused("malformed", f"SUBSCRIBE with requested QoS byte {options:#04x}")
