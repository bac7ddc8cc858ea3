"""Everything the controller publishes goes through here: checked, sized, counted when not sent."""

from __future__ import annotations

import logging
from collections.abc import Callable

from controller import __version__
from controller.adapters.mqtt import MqttClient, PublishOutcome, publish
from controller.contract.messages import (
    ControllerRole,
    JsonObject,
    Request,
    controller_status,
    encode,
    reply_error,
    reply_ok,
)
from controller.contract.results import SessionWaited
from controller.contract.topics import Topics, publishable
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.logtext import shown

log = logging.getLogger(__name__)


def packet_size(topic: str, payload: bytes) -> int:
    """A QoS 1 PUBLISH's size as a broker's `max_packet_size` counts it (remaining length + 1:
    measured on Mosquitto 2.0.11): topic length (2) + topic + packet id (2) + payload, plus 1."""
    return 5 + len(topic.encode()) + len(payload)


class Outbox:
    """The controller's publishing side: QoS 1 messages, replies, presence."""

    def __init__(self, client: MqttClient, settings: ControllerSettings, topics: Topics, stats: Stats) -> None:
        self.client = client
        self._settings = settings
        self._topics = topics
        self._stats = stats
        self.role = ControllerRole.LEADER
        """What this controller's presence says it is when it acts (the controller sets it)."""
        self.fence: Callable[[], bool] | None = None
        """With `--ha lease`: whether this controller may still act; when not, nothing but its
        presence is sent (counted `fenced`), so a leader whose lease ran out mid-handler stays quiet."""

    def connected(self) -> bool:
        return self.client.is_connected()

    def send(self, topic: str, payload: bytes, *, retain: bool = False, fenced: bool = True) -> bool:
        """Publish at QoS 1 if the topic and size are sound (and, `fenced`, this controller may still
        act); False (counted) when not sent."""
        if fenced and self.fence is not None and not self.fence():
            reason = "fenced"
        elif not publishable(topic):
            reason = "bad_topic"
            log.error("not publishing on a malformed topic %s (a bug)", shown(topic))
        elif packet_size(topic, payload) > self._settings.max_packet_bytes:
            reason = "too_large"
        else:
            outcome = publish(self.client, topic, payload, retain=retain)
            if outcome is PublishOutcome.QUEUED:
                return True
            reason = outcome.value
        self._stats.unsent[reason] += 1
        if self._stats.unsent[reason] == 1:
            log.warning("a message on %s was not sent: %s [further ones are counted in `fleet stats`]", shown(topic),
                        reason)
        return False

    def announce(self, role: ControllerRole | None = None) -> None:
        """Say (retained) that this controller is online, as `role` (by default the one it acts as)."""
        self.send(self._topics.controller_status, encode(controller_status(
            self._settings.controller_id, True, __version__, role=role or self.role)), retain=True, fenced=False)

    def reply(self, request: Request, payload: JsonObject) -> None:
        """Send an answer, or `too_large` in its place when it would not fit a packet."""
        data = encode(payload)
        if packet_size(request.reply_to, data) > self._settings.max_packet_bytes:
            self._stats.rejected["request_too_large"] += 1
            data = encode(reply_error(request.id, "too_large", f"the answer is {len(data)} bytes, over the "
                                      f"{self._settings.max_packet_bytes} a packet may have; ask for less (--limit)"))
        self.send(request.reply_to, data)

    def error(self, reply_to: str, request_id: str, code: str, message: str) -> None:
        """Answer a request with an error (`code` is the wire's)."""
        self.send(reply_to, encode(reply_error(request_id, code, message)))

    def answer(self, replies: list[tuple[Request, SessionWaited]]) -> None:
        """Answer parked `session.wait` requests."""
        for request, result in replies:
            self.reply(request, reply_ok(request.id, result.to_obj()))
