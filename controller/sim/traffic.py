"""One simulated device's connection (`Link`: the device, its paho client, its phase) and what
goes over it (`Traffic`): birth, state, update state, heartbeats and attendance out; configs and
acks in, handed to the `SimDevice`, update commands handed to the `UpdateHooks`; all of it counted
in `Counters`. When connections are made, lost and retried
is the simulator loop's business (`controller.sim.loop`); everything here runs on its thread.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from controller.contract.messages import JsonObject, encode
from controller.contract.topics import Topics
from controller.contract.updates import UpdateState
from controller.errors import Rejected
from controller.sim.device import CheckinResult, SimDevice

if TYPE_CHECKING:
    from paho.mqtt.client import MQTTMessage

log = logging.getLogger(__name__)


class Phase(Enum):
    IDLE = "idle"  # not started
    QUEUED = "queued"  # waiting for a connect token
    CONNECTING = "connecting"  # socket open, no CONNACK yet
    UP = "up"
    BACKOFF = "backoff"  # connection lost or refused; retrying later
    DEAD = "dead"  # died at random; boots again by itself
    DOWN = "down"  # killed by `kill()`; waits for `revive()`
    STOPPED = "stopped"


class Close(Enum):
    """Why the simulator itself closes a connection."""

    KILL = "kill"
    DEATH = "death"
    STOP = "stop"
    REBOOT = "reboot"  # a power cycle into another firmware slot: down, then up again at once


class Link:
    """A device with its paho client and where it is in its connection's life."""

    __slots__ = ("backoff_s", "client", "closing", "device", "phase", "shutdown_mid")

    def __init__(self, device: SimDevice, backoff_s: float) -> None:
        self.device = device
        self.client: paho.Client | None = None
        self.phase = Phase.IDLE
        self.closing: Close | None = None
        self.backoff_s = backoff_s
        self.shutdown_mid: int | None = None

    @property
    def name(self) -> str:
        return self.device.device_id


@dataclass(slots=True)
class Counters:
    """What happened since start, counted on the simulator's thread; `connected` changes under
    the loop's condition (`SimLoop.cond`)."""

    connected: int = 0
    published: int = 0
    configs_applied: int = 0
    configs_rejected: int = 0
    configs_ignored: int = 0
    checkins_sent: int = 0
    checkins_acked: int = 0
    checkins_repeated: int = 0
    checkins_refused: int = 0
    deaths: int = 0
    connect_failures: int = 0
    bad_inbound: int = 0
    updates_started: int = 0
    updates_confirmed: int = 0
    updates_failed: int = 0
    updates_rolled_back: int = 0


class UpdateHooks(Protocol):
    """Where update commands go (`controller.sim.updating.UpdateDriver`), and who hears of applied configs."""

    def on_command(self, link: Link, payload: bytes, now: float) -> None: ...

    def on_config_applied(self, link: Link, now: float) -> None: ...


class Traffic:
    """The devices' messages both ways under `topics`, counted in `counters`."""

    def __init__(self, topics: Topics, counters: Counters) -> None:
        self._topics = topics
        self._counters = counters
        self.hooks: UpdateHooks | None = None

    def greet(self, link: Link, client: paho.Client) -> None:
        """On a new connection: the retained birth, the state it runs again (the retained one may
        be gone) and the subscriptions to its config, acks and update command."""
        device = link.device
        topics, device_id = self._topics, device.device_id
        self._publish(client, topics.status(device_id), device.birth().to_obj(device_id), retain=True)
        if device.state is not None:
            self._publish(client, topics.state(device_id), device.state.to_obj(device_id), retain=True)
        client.subscribe([(topics.config(device_id), 1), (topics.attendance_ack(device_id), 1),
                          (topics.update(device_id), 1)])

    def update_state(self, link: Link, state: UpdateState, *, count: bool = True) -> None:
        """Publish a step of the device's update (retained, QoS 1), counted by kind unless it is a
        report sent again."""
        client, device_id = link.client, link.device.device_id
        if client is None:
            return
        self._publish(client, self._topics.update_state(device_id), state.to_obj(device_id), qos=1, retain=True)
        if not count:
            return
        counters = self._counters
        if state.state == "downloading" and state.percent == 0:
            counters.updates_started += 1
        elif state.state == "confirmed":
            counters.updates_confirmed += 1
        elif state.state == "failed":
            counters.updates_failed += 1
        elif state.state == "rolled_back":
            counters.updates_rolled_back += 1

    def will(self, link: Link, client: paho.Client) -> None:
        """Set the retained offline status the broker publishes if the connection dies."""
        device = link.device
        client.will_set(
            self._topics.status(device.device_id), encode(device.will().to_obj(device.device_id)), qos=1, retain=True,
        )

    def shutdown(self, link: Link, client: paho.Client) -> int | None:
        """Publish the retained `reason: shutdown` status at QoS 1; its message id, or None when
        paho did not take it."""
        device = link.device
        info = client.publish(self._topics.status(device.device_id), encode(device.shutdown().to_obj(device.device_id)),
                              qos=1, retain=True)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return None
        self._counters.published += 1
        return info.mid

    def heartbeat(self, link: Link, now: float) -> None:
        client, device = link.client, link.device
        if client is not None:
            heartbeat = device.heartbeat(now).to_obj(device.device_id)
            if device.update.refused:  # only when not 0, after the rest, as the firmware writes it
                heartbeat["images_refused"] = device.update.refused
            self._publish(client, self._topics.heartbeat(device.device_id), heartbeat)

    def checkins(self, link: Link) -> None:
        """Send the queued check-ins not yet sent on this connection."""
        client, device = link.client, link.device
        if client is None:
            return
        topic = self._topics.attendance(device.device_id)
        for batch in device.unsent_batches():
            self._publish(client, topic, batch.to_obj(device.device_id))
            self._counters.checkins_sent += len(batch.events)

    def resend_unacked(self, link: Link, now: float, timeout_s: float) -> None:
        """The firmware's ack timeout: the whole queue again once no ack came for `timeout_s`."""
        if link.device.resend_unacked(now, timeout_s):
            log.info("%s: no ack for %g s: resending %d check-ins", link.name, timeout_s, len(link.device.queue))
            self.checkins(link)

    def visit(self, link: Link, now: float) -> None:
        """A student tries to check in; what the device queues goes out at once if it is up."""
        result = link.device.visit(now)
        if result is CheckinResult.CHECKED_IN:
            if link.phase is Phase.UP:
                self.checkins(link)
        elif result is CheckinResult.ALREADY_CHECKED_IN:
            self._counters.checkins_repeated += 1
        elif result is CheckinResult.QUEUE_FULL:
            self._counters.checkins_refused += 1

    def on_message(self, client: paho.Client, link: Link, message: MQTTMessage) -> None:
        """paho's `on_message`: a config, an ack or an update command for the device; a bad one is
        counted and dropped."""
        if link.closing is not None or link.phase is not Phase.UP:
            return  # a dying device reads nothing
        device = link.device
        topic, payload = message.topic, bytes(message.payload)
        try:
            if topic == self._topics.config(device.device_id):
                self._on_config(client, link, payload)
            elif topic == self._topics.attendance_ack(device.device_id):
                self._counters.checkins_acked += device.on_ack(payload)
            elif topic == self._topics.update(device.device_id):
                if self.hooks is not None:
                    self.hooks.on_command(link, payload, time.monotonic())
            else:  # amqtt 0.12 also sends retained messages matching other clients' subscriptions
                log.debug("%s: ignored a message on %s, not its topic", device.device_id, topic)
        except Rejected as exc:
            self._counters.bad_inbound += 1
            log.info("%s: dropped a message on %s: %s", device.device_id, topic, exc)

    def _on_config(self, client: paho.Client, link: Link, payload: bytes) -> None:
        device = link.device
        state = device.on_config(payload)
        if state is None:
            self._counters.configs_ignored += 1
            return
        if state.applied:
            self._counters.configs_applied += 1
            log.debug("%s applied config %d", device.device_id, state.config_version)
        else:
            self._counters.configs_rejected += 1
            log.info("%s rejected config %d: %s", device.device_id, state.config_version, state.error)
        self._publish(client, self._topics.state(device.device_id), state.to_obj(device.device_id), retain=True)
        if state.applied and self.hooks is not None:
            self.hooks.on_config_applied(link, time.monotonic())

    def _publish(self, client: paho.Client, topic: str, obj: JsonObject, *, qos: int = 0, retain: bool = False) -> None:
        if client.publish(topic, encode(obj), qos, retain).rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._counters.published += 1
