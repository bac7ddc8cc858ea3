"""Topic names of the contract: building them and parsing inbound ones."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from controller.errors import Rejected
from controller.logtext import shown

DEVICE_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{2,31}")
MAX_ROOT_LEN = 64
"""The firmware's buffers are sized for it (`kMaxRootLen`): a longer root would not fit them."""
ROOT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*")
CLIENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""The `{cid}` level of a replies topic (a broker username or the CLI's `cli-<hex>` client id) and
the `{user}` level of a requests topic."""
BROKER_DROPPED = "$SYS/broker/publish/messages/dropped"
"""Mosquitto's count of messages it dropped for full queues; the controller reads it (`fleet stats`)."""
MAX_TOPIC_BYTES = 256
"""No topic the controller builds is longer; anything longer was not built from checked parts."""


class Channel(StrEnum):
    """The device topics the controller listens on."""

    STATUS = "status"
    HEARTBEAT = "heartbeat"
    STATE = "state"
    ATTENDANCE = "attendance"
    UPDATE_STATE = "update/state"


_CHANNELS = {c.value: c for c in Channel}


def valid_device_id(device_id: str) -> bool:
    return DEVICE_ID_RE.fullmatch(device_id) is not None


def check_root(root: str) -> str:
    """`root` if it is a valid topic root, else ValueError saying why."""
    if len(root) > MAX_ROOT_LEN:
        raise ValueError(f"topic root is {len(root)} characters; at most {MAX_ROOT_LEN} fit the devices' buffers")
    if ROOT_RE.fullmatch(root) is None:
        raise ValueError(f"bad topic root {root[:MAX_ROOT_LEN]!r}: levels of letters, digits, '.', '_' or '-', "
                         "separated by single '/'")
    return root


def publishable(topic: str) -> bool:
    """Whether the controller may publish on `topic`: the last check before a packet is written.

    Every topic it publishes is built from checked parts, so this only fails on a bug; but one
    malformed topic (a NUL, a wildcard, an unpaired surrogate) makes a broker close the connection,
    so nothing is sent unchecked."""
    return (0 < len(topic) <= MAX_TOPIC_BYTES and topic.isascii() and topic.isprintable()
            and "+" not in topic and "#" not in topic and " " not in topic)


class DeviceTopic(NamedTuple):  # a tuple: one is built for every message received
    device_id: str
    channel: Channel


@dataclass(frozen=True)
class Topics:
    """Every topic of one fleet, under its root."""

    root: str = "fleet"

    def __post_init__(self) -> None:
        check_root(self.root)

    def device(self, device_id: str, leaf: str) -> str:
        return f"{self.root}/devices/{device_id}/{leaf}"

    def status(self, device_id: str) -> str:
        return self.device(device_id, "status")

    def heartbeat(self, device_id: str) -> str:
        return self.device(device_id, "heartbeat")

    def config(self, device_id: str) -> str:
        return self.device(device_id, "config")

    def state(self, device_id: str) -> str:
        return self.device(device_id, "state")

    def attendance(self, device_id: str) -> str:
        return self.device(device_id, "attendance")

    def attendance_ack(self, device_id: str) -> str:
        return self.device(device_id, "attendance/ack")

    def update(self, device_id: str) -> str:
        """The retained firmware update command (a rollout's, published by the controller)."""
        return self.device(device_id, "update")

    def update_state(self, device_id: str) -> str:
        """A device's update progress (retained; every controller reads it)."""
        return self.device(device_id, "update/state")

    @cached_property  # compared with every inbound topic
    def controller_status(self) -> str:
        return f"{self.root}/controller/status"

    def controller_probe(self, token: str) -> str:
        """Where a controller with a shared group checks at start that the broker honours `$share`
        (a message published here must come back through `$share/{group}/` + this topic); a topic
        of its own (`token`), so controllers probing at once never take each other's message."""
        return f"{self.root}/controller/probe/{token}"

    def requests(self, user: str) -> str:
        """Where user `user` sends requests: the broker lets each account write only its own."""
        return f"{self._requests_prefix}{user}"

    @cached_property  # compared with every inbound topic
    def _requests_prefix(self) -> str:
        return f"{self.root}/controller/requests/"

    def request_sender(self, topic: str) -> str | None:
        """The user of `{root}/controller/requests/{user}` (CLIENT_RE); None when `topic` is not
        under the requests prefix; Rejected (`bad_topic`) when its user level is malformed."""
        prefix = self._requests_prefix
        if not topic.startswith(prefix):
            return None
        user = topic[len(prefix):]
        if CLIENT_RE.fullmatch(user) is None:
            raise Rejected("bad_topic", shown(topic))
        return user

    def replies(self, client_id: str) -> str:
        return f"{self.root}/clients/{client_id}/replies"

    def is_replies(self, topic: str) -> bool:
        """`{root}/clients/{cid}/replies` with a `cid` of CLIENT_RE: the only topics the controller
        answers on. Strict, because a reply topic comes from the network and a malformed one (a
        NUL, a non-character) makes a broker drop the controller's connection."""
        prefix, suffix = f"{self.root}/clients/", "/replies"
        if not (topic.startswith(prefix) and topic.endswith(suffix)):
            return False
        return CLIENT_RE.fullmatch(topic[len(prefix):-len(suffix)]) is not None

    def controller_filters(self, shared_group: str | None = None) -> list[tuple[str, int]]:
        """What a controller subscribes to, with QoS. With `shared_group`, the traffic that must be
        handled once (heartbeats, check-ins, requests) goes through an MQTT shared subscription, so
        several controllers split it; statuses, states and update states (retained, rare) reach every controller."""
        share = f"$share/{shared_group}/" if shared_group else ""
        return [
            (self.device("+", Channel.STATUS.value), 0),
            (self.device("+", Channel.STATE.value), 0),
            (self.device("+", Channel.UPDATE_STATE.value), 1),
            (share + self.device("+", Channel.HEARTBEAT.value), 0),
            (share + self.device("+", Channel.ATTENDANCE.value), 0),
            (share + self._requests_prefix + "+", 1),
            (self.controller_status, 1),
        ]

    @cached_property
    def _devices_prefix(self) -> str:
        return self.root + "/devices/"

    def parse_device(self, topic: str) -> DeviceTopic:
        """`{root}/devices/{id}/{channel}` → its parts, or Rejected."""
        prefix = self._devices_prefix
        if not topic.startswith(prefix):
            raise Rejected("bad_topic", shown(topic))
        rest = topic[len(prefix):].split("/", 1)  # a channel may have two levels (update/state)
        if len(rest) != 2 or rest[1] not in _CHANNELS:
            raise Rejected("bad_topic", shown(topic))
        if not valid_device_id(rest[0]):
            raise Rejected("bad_device_id", shown(rest[0]))
        # interned: the registry, the inventory and every set of ids then share one string a device
        return DeviceTopic(sys.intern(rest[0]), _CHANNELS[rest[1]])
