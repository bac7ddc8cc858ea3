"""The controller's broker connection: its paho client (presence will, queue and in-flight limits,
handlers) and the first connect, which goes through a broker list until a node takes it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from controller import __version__
from controller.adapters.mqtt import (
    Brokers,
    MqttClient,
    connect_first,
    new_client,
    set_handlers,
    set_suback_handler,
)
from controller.contract.messages import controller_status, encode
from controller.contract.topics import Topics
from controller.errors import FleetError

log = logging.getLogger(__name__)

_MAX_INFLIGHT = 1000
_MAX_QUEUED = 100_000  # outgoing messages paho holds beyond those in flight (a full republish of a large
# fleet's configs after a reconnect fits, with room for replies); past it a publish is refused


def make_client(brokers: Brokers, client_id: str, topics: Topics, controller_id: str, *,
                connected: Callable[[MqttClient, str | None], None], disconnected: Callable[[str], None],
                message: Callable[[str, bytes | bytearray, bool], None]) -> MqttClient:
    """A client for controller `controller_id` whose will says it is offline."""
    client = new_client(brokers, client_id=client_id)
    client.will_set(topics.controller_status, encode(controller_status(controller_id, False, __version__)),
                    qos=1, retain=True)
    client.max_queued_messages_set(_MAX_QUEUED)
    # Replies and configs go out at QoS 1. Their PUBACKs come back behind whatever the broker
    # already queued for us, so under a heartbeat backlog paho's default of 20 unacknowledged
    # messages held every further reply (and config) back until the backlog was read.
    client.max_inflight_messages_set(_MAX_INFLIGHT)
    set_handlers(client, connected=connected, disconnected=disconnected, message=message)
    return client


def connect(client: MqttClient, brokers: Brokers, connected: threading.Event, timeout: float) -> None:
    """Connect and start paho's loop; FleetError when no broker takes the connection or none
    accepts it (`connected` not set by the connect handler) within `timeout`."""
    try:
        connect_first(client, keepalive=30)
    except OSError as exc:
        raise FleetError(f"cannot reach the broker at {brokers.url}: {exc.strerror or exc}") from exc
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise FleetError(f"the broker at {brokers.url} did not accept the controller's connection")


class Subscriber:
    """Subscribes `client` and reads the broker's answers: a filter the broker refused is subscribed
    again at the next `retry()`. NATS refuses a QoS 1 subscription (a JetStream consumer) while a
    stream leader moves, for seconds after a node dies: without the retry, a controller that took
    the lead then never received a request until its next reconnect. Thread-safe: answers arrive
    on paho's thread."""

    def __init__(self, client: MqttClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._asked: dict[int, list[tuple[str, int]]] = {}
        self._refused: list[tuple[str, int]] = []
        set_suback_handler(client, self._answered)

    def subscribe(self, filters: Sequence[tuple[str, int]]) -> None:
        with self._lock:  # held while paho sends, so the answer finds what was asked
            rc, mid = self._client.subscribe(list(filters))
            if rc == 0 and mid is not None:
                self._asked[mid] = list(filters)

    def _answered(self, mid: int, refused: list[bool]) -> None:
        with self._lock:
            filters = self._asked.pop(mid, [])
            again = [f for f, no in zip(filters, refused, strict=False) if no]
            self._refused += again
        if again:
            log.warning("the broker refused the subscription to %s; subscribing again",
                        ", ".join(topic for topic, _ in again))

    def forget(self, topics: Sequence[str] = ()) -> None:
        """Stop retrying `topics` (unsubscribed), or everything (a new connection subscribes anew)."""
        with self._lock:
            self._refused = [f for f in self._refused if topics and f[0] not in topics]
            if not topics:
                self._asked.clear()

    def retry(self) -> None:
        """Subscribe again to what the broker refused, when connected."""
        with self._lock:
            again, self._refused = self._refused, []
        if again and self._client.is_connected():
            self.subscribe(again)
        elif again:
            self.forget()  # the reconnect's handler subscribes to everything anyway
