"""paho-mqtt set up for the fleet: broker URLs, and clients that read in chunks and send without delay.

Every override or use of paho's private internals is in one marked section below
(`_BufferedClient`, `drop_unsent`), each named with the test that covers it."""

from __future__ import annotations

import random
import secrets
import socket
import ssl
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeAlias
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

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


MAX_BROKERS = 16
"""The most brokers one list may name (a cluster's nodes; more is a typo or a paste gone wrong)."""


@dataclass(frozen=True, slots=True)
class Brokers:
    """The brokers a client may use, in the order it tries them: one broker, or the nodes of a
    cluster. Every entry shares the list's scheme, credentials and CA."""

    addresses: tuple[BrokerAddress, ...]

    @property
    def first(self) -> BrokerAddress:
        return self.addresses[0]

    @property
    def username(self) -> str | None:
        return self.first.username

    @property
    def url(self) -> str:
        """Where the brokers are, without credentials (safe to print): `mqtt://a:1883,b:1883`."""
        if len(self.addresses) == 1:
            return self.first.url
        return self.first.url.split("://")[0] + "://" + ",".join(f"{a.host}:{a.port}" for a in self.addresses)


def parse_broker_urls(text: str) -> Brokers:
    """One broker URL, or a list of brokers in one URL: `mqtt://[user:pass@]a[:port],b[:port],...[?cafile=...]`
    (every entry with the list's scheme, credentials and CA) → Brokers; FleetError when malformed."""
    if "," not in text:
        return Brokers((parse_broker_url(text),))
    scheme, _, rest = text.partition("://")
    authority, mark, query = rest.partition("?")
    userinfo, at, hosts = authority.rpartition("@")
    entries = hosts.split(",")
    shown = _redacted(text)
    if any(not entry or set(entry) & set("/@?#") for entry in entries):
        raise FleetError(f"bad broker list {shown!r}: write mqtt://host[:port],host[:port],... "
                         "(one scheme, no empty entries)")
    if len(entries) > MAX_BROKERS:
        raise FleetError(f"bad broker list {shown!r}: {len(entries)} brokers, at most {MAX_BROKERS}")
    addresses = tuple(parse_broker_url(f"{scheme}://{userinfo}{at}{entry}{mark}{query}") for entry in entries)
    if len(set(addresses)) != len(addresses):
        raise FleetError(f"bad broker list {shown!r}: a broker is named twice")
    return Brokers(addresses)


def _redacted(url: str) -> str:
    """`url` with any password replaced by ***, for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# --- paho internals we override: every use of paho 2.2's private API is in this section --------


class _BufferedClient(paho.Client):
    """paho's client reading the socket in large chunks and sending without Nagle's delay.

    paho 2.2 reads every packet with at least three `recv()` calls (the command byte, each
    remaining-length byte, the rest), so a stream of small heartbeats costs a system call per
    few bytes, and every call gives the GIL away: with another thread busy, the network thread
    then waits for it back each time (profiled: a third of the controller's time sat in
    `_sock_recv`). Overrides of paho's private methods, each with the test that covers it (in
    tests/integration/test_mqtt_client.py):

    - `_sock_recv`: one `recv()` fills a buffer the packet reads are served from.
      Tests: test_every_packet_of_one_segment_is_delivered_without_more_bytes_arriving,
      test_a_packet_split_across_writes_is_reassembled.
    - `loop_read` (public, but it reads the private buffer): goes on while buffered bytes remain,
      since select() cannot see them, but makes one `recv()` at most, so a ceaseless stream cannot
      starve paho's writes (replies, pings). Tests:
      test_every_packet_of_one_segment_is_delivered_without_more_bytes_arriving,
      test_a_ceaseless_stream_does_not_starve_the_clients_writes.
    - `_sock_close`: empties the buffer, so a dead connection's bytes are never parsed as the next
      one's. Test: test_bytes_left_from_a_closed_connection_are_not_read_on_the_next.
    - `_create_socket_connection`: sets TCP_NODELAY. Test: test_client_sockets_send_without_nagle_delay.
    """

    _CHUNK = 256 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._recvs_left = 1
        self._brokers: tuple[BrokerAddress, ...] = ()
        self._at = 0
        self._attempted = False

    def use_brokers(self, brokers: Brokers, start: int = 0) -> None:
        """Connect to `brokers`, the first attempt to entry `start` (modulo their number)."""
        self._brokers = brokers.addresses
        self._at = start % len(self._brokers)
        self._attempted = False

    def reconnect(self) -> MQTTErrorCode:
        """Every connection attempt after the first goes to the next broker of the list: a lost
        connection or a failed attempt moves on, so a dead node costs one backoff delay, not an
        outage. paho's own loop (and the simulator's) call this with their backoff and jitter.
        Sets paho's private `_host`/`_port`: the public setters refuse while the old socket is
        still open, which it is here, before `super().reconnect()` closes it. Test:
        tests/integration/test_broker_lists.py::test_a_client_moves_to_the_next_broker_when_its_broker_dies."""
        if self._brokers:
            if self._attempted:
                self._at = (self._at + 1) % len(self._brokers)
            self._attempted = True
            address = self._brokers[self._at]
            self._host, self._port = address.host, address.port
        return super().reconnect()

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            if self._recvs_left <= 0:
                raise BlockingIOError  # paho keeps the partial packet and returns to select()
            self._recvs_left -= 1
            chunk = super()._sock_recv(self._CHUNK)  # raises, or returns b"" at EOF, as before
            if not chunk:
                return chunk
            self._rbuf, self._rpos = chunk, 0
        data = self._rbuf[self._rpos:self._rpos + bufsize]
        self._rpos += len(data)
        return data

    def _create_socket_connection(self) -> socket.socket:
        sock = super()._create_socket_connection()
        # small packets (configs, replies, acknowledgements) go out at once, not after the
        # previous one's TCP acknowledgement (Nagle + delayed ACK: up to 40 ms each)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _sock_close(self) -> None:
        self._rbuf, self._rpos = b"", 0  # never parse a dead connection's bytes on the next one
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        self._recvs_left = 1
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._rpos < len(self._rbuf) and self._sock is not None:
            rc = super().loop_read(max_packets)  # each round consumes buffered bytes: it ends
        return rc


def drop_unsent(client: paho.Client) -> int:
    """Forget the messages a clean-session client had already written on its previous connection
    without an acknowledgement, before paho sends them again after the CONNACK (it does, even for
    a clean session, marking them `dup` when it resets them for the reconnect); their number. The
    one message that cut the connection is among them. Messages published while disconnected were
    never on the wire: they stay and go out now. Call it from `on_connect`, before publishing.

    paho has no API for this: it edits the private `_out_messages` under `_out_message_mutex`.
    Test: tests/integration/test_mqtt_client.py::test_drop_unsent_forgets_what_the_last_connection_sent."""
    with client._out_message_mutex:
        stale = [mid for mid, message in client._out_messages.items() if message.dup]
        for mid in stale:
            del client._out_messages[mid]
    return len(stale)


# --- end of paho internals ------------------------------------------------------------------------


def new_client(address: BrokerAddress | Brokers, client_id: str | None = None, *, start: int = 0) -> paho.Client:
    """A paho client (MQTT 3.1.1, clean session, callbacks API v2) set up for `address`: one broker,
    or a list it goes through from entry `start`, moving to the next at every (re)connect attempt."""
    brokers = address if isinstance(address, Brokers) else Brokers((address,))
    address = brokers.first
    client = _BufferedClient(
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
    client.use_brokers(brokers, start)
    return client


def connect_first(client: paho.Client, keepalive: int) -> None:
    """Connect `client` (made by `new_client`) to the first broker of its list that takes the TCP
    connection, trying each once; the last OSError when none does. Blocking, like paho's connect()."""
    if not isinstance(client, _BufferedClient) or not client._brokers:
        raise TypeError("connect_first needs a client made by new_client")
    first = client._brokers[client._at]
    client.connect_async(first.host, first.port, keepalive)
    for left in range(len(client._brokers) - 1, -1, -1):
        try:
            client.reconnect()
            return
        except OSError:
            if not left:
                raise


def broker_of(client: paho.Client) -> str:
    """`host:port` of the broker `client` is on (or last tried)."""
    return f"{client.host}:{client.port}"


MqttClient: TypeAlias = paho.Client
"""The client type, for modules that hold one without importing paho."""


class PublishOutcome(Enum):
    """What became of a publish: queued (sent, or kept by paho until connected again) or not sent."""

    QUEUED = "queued"
    QUEUE_FULL = "queue_full"
    NOT_SENT = "not_sent"


def publish(client: paho.Client, topic: str, payload: bytes, *, retain: bool = False) -> PublishOutcome:
    """Publish at QoS 1; paho's return code as a PublishOutcome. While disconnected, paho keeps a
    QoS 1 message and sends it once connected again, so that counts as queued."""
    rc = client.publish(topic, payload, qos=1, retain=retain).rc
    if rc in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
        return PublishOutcome.QUEUED
    return PublishOutcome.QUEUE_FULL if rc == paho.MQTT_ERR_QUEUE_SIZE else PublishOutcome.NOT_SENT


def publish_confirmed(client: paho.Client, topic: str, payload: bytes, *, timeout: float) -> bool:
    """Publish retained at QoS 1 and, when connected, wait up to `timeout` for the broker's PUBACK
    (paho's network thread must be running to read it); False only when that wait failed."""
    info = client.publish(topic, payload, qos=1, retain=True)
    if not client.is_connected() or info.rc != paho.MQTT_ERR_SUCCESS:
        return True
    try:
        info.wait_for_publish(timeout=timeout)
    except (RuntimeError, ValueError):
        return False
    return True


def set_handlers(client: paho.Client, *, connected: Callable[[paho.Client, str | None], None],
                 disconnected: Callable[[str], None], message: Callable[[str, bytes | bytearray, bool], None]) -> None:
    """paho's callbacks, handed off to handlers free of paho's types: `connected(client, refusal)`
    (refusal None when the broker accepted), `disconnected(reason)`, `message(topic, payload, retained)`."""

    def on_connect(c: paho.Client, _userdata: object, _flags: object, reason: ReasonCode, _props: object) -> None:
        connected(c, str(reason) if reason.is_failure else None)

    def on_disconnect(_c: paho.Client, _userdata: object, _flags: object, reason: ReasonCode, _props: object) -> None:
        disconnected(str(reason))

    def on_message(_c: paho.Client, _userdata: object, msg: paho.MQTTMessage) -> None:
        message(msg.topic, msg.payload, bool(msg.retain))

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message


def set_suback_handler(client: paho.Client, handler: Callable[[int, list[bool]], None]) -> None:
    """`handler(mid, refused)` for every SUBACK: whether the broker refused each filter of the
    SUBSCRIBE with message id `mid`, in order."""

    def on_subscribe(_c: paho.Client, _userdata: object, mid: int, codes: list[ReasonCode], _props: object) -> None:
        handler(mid, [code.is_failure for code in codes])

    client.on_subscribe = on_subscribe


def honours_shared(address: BrokerAddress, group: str, probe_topic: Callable[[str], str], *,
                   timeout: float = 3.0) -> bool:
    """Whether the broker delivers through MQTT shared subscriptions: subscribe
    `$share/{group}/{topic}`, publish a random token to the topic itself, and see whether it comes
    back within `timeout`. Mosquitto does (for MQTT 3.1.1 clients too); amqtt, NATS and RabbitMQ
    take the filter as a literal topic (or refuse it), so nothing comes back. `probe_topic(token)`
    names the topic. FleetError when the broker cannot be reached or refuses the connection."""
    token = secrets.token_hex(8)
    topic = probe_topic(token)
    answered, arrived = threading.Event(), threading.Event()
    refused: list[str] = []

    def on_connect(c: paho.Client, _u: object, _f: object, reason: ReasonCode, _p: object) -> None:
        if reason.is_failure:
            refused.append(str(reason))
            answered.set()
        else:
            c.subscribe(f"$share/{group}/{topic}", qos=1)

    def on_subscribe(c: paho.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object) -> None:
        if not any(code.is_failure for code in codes):  # refused: not honoured, nothing to send
            c.publish(topic, token.encode(), qos=1)
        answered.set()

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.payload == token.encode():
            arrived.set()

    client = new_client(address, client_id=f"ctl-probe-{token}")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(address.host, address.port, keepalive=30)
    except OSError as exc:
        raise FleetError(f"cannot reach the broker at {address.url}: {exc.strerror or exc}") from exc
    client.loop_start()
    try:
        if not answered.wait(timeout) or refused:
            raise FleetError(f"the broker at {address.url} did not accept the controller's connection"
                             + (f": {refused[0]}" if refused else ""))
        return arrived.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
