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
from controller.contract.updates import UpdateState
from controller.errors import Rejected
from controller.logtext import shown

DeviceMessage: TypeAlias = Heartbeat | Status | State | Attendance | UpdateState

PayloadDecoder: TypeAlias = Callable[[bytes | bytearray, str], DeviceMessage]
"""A device channel's decoder: a payload from a device's topic → its message, or Rejected."""


def _status(payload: bytes | bytearray, device_id: str) -> Status:
    return Status.from_obj(load_object(payload, device_id=device_id))


def _state(payload: bytes | bytearray, device_id: str) -> State:
    return State.from_obj(load_object(payload, device_id=device_id))


def _attendance(payload: bytes | bytearray, device_id: str) -> Attendance:
    return Attendance.from_obj(load_object(payload, device_id=device_id))


def _update_state(payload: bytes | bytearray, device_id: str) -> UpdateState:
    return UpdateState.from_obj(load_object(payload, device_id=device_id))


DECODERS: Final[Mapping[Channel, PayloadDecoder]] = {
    Channel.STATUS: _status,
    Channel.HEARTBEAT: decode_heartbeat,  # most of the traffic: a fast path for the firmware's layout
    Channel.STATE: _state,
    Channel.ATTENDANCE: _attendance,
    Channel.UPDATE_STATE: _update_state,
}
"""Each device channel's payload decoder."""


def decode_payload(channel: Channel, payload: bytes | bytearray, device_id: str) -> DeviceMessage:
    """A device message, decoded for its channel, or Rejected."""
    return DECODERS[channel](payload, device_id)


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
