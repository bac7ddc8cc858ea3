"""The one place paho-mqtt's types meet ours: broker URLs, client construction, inbound messages."""

from __future__ import annotations

import random
import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

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
    cafile: str | None = None  # mqtts: trust this CA (PEM) instead of the system's

    @property
    def url(self) -> str:
        """Where the broker is, without credentials (safe to print)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://[user:pass@]host[:port]` or `mqtts://...[?cafile=/path/ca.crt]` → BrokerAddress;
    FleetError when malformed. `cafile` pins the CA a self-signed deployment uses."""
    try:
        parts = urlsplit(url)
        port = parts.port
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise FleetError(f"bad broker URL {_redacted(url)!r}: {exc}") from exc
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise FleetError(f"bad broker URL {_redacted(url)!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls, default_port = _SCHEMES[parts.scheme]
    unknown = sorted(set(query) - {"cafile"})
    if unknown or len(query.get("cafile", [])) > 1:
        raise FleetError(f"bad broker URL {_redacted(url)!r}: the only query parameter is one cafile=PATH")
    cafile = query["cafile"][0] if "cafile" in query else None
    if cafile is not None and not tls:
        raise FleetError(f"bad broker URL {_redacted(url)!r}: cafile needs mqtts://")
    return BrokerAddress(
        parts.hostname, port or default_port, tls,
        unquote(parts.username) if parts.username else None, unquote(parts.password) if parts.password else None,
        cafile,
    )


def _redacted(url: str) -> str:
    """`url` with any password replaced by ***, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


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
        client.tls_set(ca_certs=address.cafile, cert_reqs=ssl.CERT_REQUIRED)
    # exponential backoff (paho doubles the delay up to the max), with a random start so that many
    # clients cut off by one broker restart do not all come back in the same instant
    client.reconnect_delay_set(random.randint(1, 3), 30)
    return client

