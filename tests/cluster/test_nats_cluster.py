"""The test cluster itself, and the NATS behaviour the fleet depends on: replicated retained
messages, the fleet's client ids and topic levels, a killed node coming back with its store."""

from __future__ import annotations

import logging
import threading
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests import rawmqtt
from tests.clusters import HOST, NatsCluster

log = logging.getLogger(__name__)


def _subscriber(port: int, topic: str, got: list[bytes], event: threading.Event) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}",
                         protocol=paho.MQTTv311)

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        got.append(msg.payload)
        event.set()

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topic, 1)
    client.connect(HOST, port)
    client.loop_start()
    return client


def test_the_cluster_is_ready_on_every_node_and_replicates_retained_messages(nats_cluster: NatsCluster) -> None:
    log.info("3-node cluster ready in %.2f s", nats_cluster.ready_s)
    assert all(node.healthy() and node.accepts_mqtt() for node in nats_cluster.nodes)
    # a topic level with '.', as a user name may have (fleet/controller/requests/first.last)
    topic = f"t{uuid.uuid4().hex[:8]}/controller/requests/first.last"
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="ctl-0123abcd", protocol=paho.MQTTv311)
    publisher.connect(HOST, nats_cluster.nodes[0].ports.mqtt)
    publisher.loop_start()
    publisher.publish(topic, b"retained", qos=1, retain=True).wait_for_publish(10)
    got: list[bytes] = []
    event = threading.Event()
    subscriber = _subscriber(nats_cluster.nodes[2].ports.mqtt, topic, got, event)
    try:
        assert event.wait(10), "the retained message set on n1 never reached a subscriber on n3"
        assert got == [b"retained"]
    finally:
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()


def test_the_fleets_client_ids_are_accepted_and_dotted_ids_refused(nats_cluster: NatsCluster) -> None:
    port = nats_cluster.nodes[1].ports.mqtt
    for client_id, accepted in (("cli-0123456789ab", True), ("ctl-0123456789abcdef01234567", True),
                                ("room-101-a", True), ("first.last", False)):
        conn = rawmqtt.RawClient(HOST, port)
        try:
            code = conn.connect(client_id)
        finally:
            conn.close()
        assert (code == 0) is accepted, f"{client_id!r}: CONNACK {code}"


def test_a_killed_node_restarts_on_its_ports_with_its_store(nats_cluster: NatsCluster) -> None:
    node = nats_cluster.kill(1)
    assert not node.running and not node.accepts_mqtt()
    took = nats_cluster.restart(1)
    log.info("node %s back and ready %.2f s after its restart", node.name, took)
    assert node.healthy() and node.accepts_mqtt()
