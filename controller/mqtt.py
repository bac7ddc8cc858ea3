"""The one place paho-mqtt's types meet ours: broker URLs, client construction, inbound messages."""

from __future__ import annotations

import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.errors import FleetError

DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
_SCHEMES = {"mqtt": (False, 1883), "tcp": (False, 1883), "mqtts": (True, 8883), "ssl": (True, 8883)}


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://[user:pass@]host[:port]` (or `mqtts://`) → BrokerAddress; FleetError when malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FleetError(f"bad broker URL {url!r}: {exc}") from exc
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise FleetError(f"bad broker URL {url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls, default_port = _SCHEMES[parts.scheme]
    return BrokerAddress(
        parts.hostname, port or default_port, tls,
        unquote(parts.username) if parts.username else None, unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class Inbound:
    """A received message, free of paho's types."""

    topic: str
    payload: bytes | bytearray
    retained: bool

    @classmethod
    def from_paho(cls, message: paho.MQTTMessage) -> Inbound:
        return cls(message.topic, message.payload, bool(message.retain))


def new_client(address: BrokerAddress, client_id: str | None = None) -> paho.Client:
    """A paho client (MQTT 3.1.1, clean session, callbacks API v2) set up for `address`."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or f"fleet-{uuid.uuid4().hex[:12]}",
        protocol=paho.MQTTv311, clean_session=True,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(1, 30)
    return client

