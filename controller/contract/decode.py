"""Inbound messages from the wire: a topic and a payload to a decoded device message or request.

The one routing of the contract's channels to their decoders, shared by the daemon and the fuzz
tests. The daemon calls the two halves of `decode` apart (`Topics.parse_device`, then
`decode_payload`) because it counts a device's messages against its rate between them and drops a
flood unread; the request envelope is read before the rate limit for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from controller.contract.messages import (
    Attendance,
    Heartbeat,
    JsonObject,
    State,
    Status,
    decode_heartbeat,
    load_object,
    reply_address,
)
from controller.contract.topics import Channel, Topics
from controller.errors import Rejected
from controller.logtext import shown

DeviceMessage: TypeAlias = Heartbeat | Status | State | Attendance

DECODERS: Final[Mapping[Channel, Callable[[JsonObject], DeviceMessage]]] = {
    Channel.STATUS: Status.from_obj,
    Channel.HEARTBEAT: Heartbeat.from_obj,  # the general path; `decode_payload` takes a faster one
    Channel.STATE: State.from_obj,
    Channel.ATTENDANCE: Attendance.from_obj,
}
"""Each device channel's decoder of a JSON object (already checked by `load_object`)."""


def decode_payload(channel: Channel, payload: bytes | bytearray, device_id: str) -> DeviceMessage:
    """A device message, decoded for its channel, or Rejected."""
    if channel is Channel.HEARTBEAT:  # most of the traffic: a fast path for the firmware's layout
        return decode_heartbeat(payload, device_id)
    return DECODERS[channel](load_object(payload, device_id=device_id))


def decode(topics: Topics, topic: str, payload: bytes | bytearray) -> tuple[str, DeviceMessage]:
    """`{root}/devices/{id}/{channel}` and its payload → (device id, message), or Rejected."""
    where = topics.parse_device(topic)
    return where.device_id, decode_payload(where.channel, payload, where.device_id)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A request's JSON object with the address its answer goes to."""

    obj: JsonObject
    request_id: str
    reply_to: str


def request_envelope(topics: Topics, payload: bytes | bytearray, *, max_bytes: int) -> Envelope:
    """A request's object, id and reply topic, or Rejected: answers only ever go to a replies
    topic (never to a device's or a malformed topic)."""
    obj = load_object(payload, max_bytes=max_bytes)
    request_id, reply_to = reply_address(obj)
    if not topics.is_replies(reply_to):
        raise Rejected("bad_reply_to", shown(reply_to))
    return Envelope(obj, request_id, reply_to)
