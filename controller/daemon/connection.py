"""The controller's broker connection: its paho client (presence will, queue and in-flight limits,
handlers) and the first connect, which goes through a broker list until a node takes it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from controller import __version__
from controller.adapters.mqtt import Brokers, MqttClient, connect_first, new_client, set_handlers
from controller.contract.messages import controller_status, encode
from controller.contract.topics import Topics
from controller.errors import FleetError

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
