"""The embedded MQTT broker: amqtt run in a thread of its own, configured from a `BrokerConf`.

This is the one module that imports amqtt. `EmbeddedBroker` owns a thread with its own asyncio
event loop, so synchronous code (the CLI, paho-based tests) can start and stop a broker without
an event loop of its own. `run_broker` is what `fleet broker` runs in the foreground.

Security comes from our own plugins over `controller.broker.access` (never amqtt's AnonymousAuthPlugin,
which admits any client that merely sends a username): `FleetAuthPlugin` checks the password file,
`FleetAclPlugin` the ACL, with Mosquitto's meaning. The password file and ACL are reread within a
second of changing on disk (and at once on SIGHUP under `fleet broker`); a client whose
credentials no longer hold is disconnected, as Mosquitto does on reload. With `persistence true`
the retained messages live on in `controller.broker.retained`'s file.

Hostile clients (issue 18): every packet is read whole and checked by `controller.broker.wire` before
amqtt parses it (MQTT UTF-8 strings, framing, `max_packet_size` as Mosquitto measures it, a CONNECT
of at most 100,000 bytes within CONNECT_TIMEOUT_S of accepting the socket, then a packet at least
every 1.5 keepalives); a refused packet closes the connection at once. A CONNECT with a client id
already connected closes the old connection first (MQTT 3.1.1 §3.1.4, as Mosquitto does).
`max_queued_messages`/`max_queued_bytes` bound what waits to be sent to one client. Client-supplied
text reaches the log bounded and escaped (`controller.logtext.shown`), never through rich's
highlighter, and each kind of denial is logged once per client and minute, then counted.

Actual ports: amqtt binds with `asyncio.start_server`, and the bound sockets are readable from its
per-listener server objects (`Broker._servers[name].instance.sockets`). We read the ports from
there after start, so port 0 reports the port the OS picked, with no pre-bind race.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import signal
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import OutgoingApplicationMessage
from amqtt.utils import gen_client_id

from controller import logtext
from controller.broker import conf as brokerconf
from controller.broker import wire
from controller.broker.access import AccessControl, AccessError
from controller.broker.auth import Access
from controller.broker.conf import BrokerConf, Limits, Listener, Persistence, Tls
from controller.broker.retained import Retained, RetainedStore, RetainedStoreError, encode
from controller.errors import FleetError
from controller.logtext import DenialLog, shown

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
RELOAD_CHECK_S = 1.0
"""How often the password file and ACL are checked for changes."""
CONNECT_TIMEOUT_S = 10.0
"""How long a new socket has to deliver its whole CONNECT (a TLS handshake has as long again).
Mosquitto 2.0.11 drops a silent socket after about 90 s; amqtt never did."""
KEEPALIVE_GRACE = 1.5
"""MQTT 3.1.1 §3.1.2.10: a client silent for 1.5 keepalives is disconnected (amqtt never did)."""
TAKEOVER_TIMEOUT_S = 5.0
"""How long a takeover waits for the old connection's session to end."""
IN_FLIGHT = 20
"""Mosquitto's max_inflight_messages default: messages sent and unacknowledged, on top of
max_queued_messages waiting behind them."""
DENIAL_WINDOW_S = logtext.DENIAL_WINDOW_S
"""Each kind of denial is logged once per client in this window, then counted."""

_AUTH_PLUGIN = "controller.broker.server.FleetAuthPlugin"
_ACL_PLUGIN = "controller.broker.server.FleetAclPlugin"
_GENERATED_ID = re.compile(r"amqtt/[A-Za-z0-9]{16}")  # amqtt's gen_client_id() for an empty client id
_AUTHENTICATED = "fleet.authenticated"  # amqtt session attribute set once our plugins admitted it
_REFUSAL = "fleet.refusal"  # amqtt session attribute: why our auth plugin refused it
_AMQTT_DEFAULT_BIND = "0.0.0.0:1883"  # amqtt's ListenerConfig default, see _amqtt_config
_NOISY_LOGGERS = ("amqtt", "transitions")
_AMQTT_LOGGERS = ("amqtt.broker", "amqtt.broker.plugins", "amqtt.mqtt.protocol.handler", "amqtt.adapters",
                  "amqtt.session")
_AMQTT_LINE_LIMIT = 300
_REPEATED_BY_US = ("Broker startup failed", "Failed to initialize client session")
_UNTRUSTED = {"highlighter": None}
"""`extra` of a log line holding client-supplied text: rich's RichHandler must not highlight it
(its highlighter took 45 s over a 65,535-character topic); other handlers ignore the attribute."""
_READ_CHUNK = 256 * 1024


class BrokerError(FleetError):
    """The embedded broker could not start or stop; the message is one line."""


class _AmqttRecords(logging.Filter):
    """amqtt's own log lines embed client ids and topics unbounded (f-strings): cut them, keep rich's
    highlighter off them, and drop the two that we report ourselves as one line ("Broker startup
    failed", which `start()` raises; a refused CONNECT, logged once per client with its reason)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_REPEATED_BY_US):
            return False
        if len(message) > _AMQTT_LINE_LIMIT:
            record.msg, record.args = f"{message[:_AMQTT_LINE_LIMIT]}... ({len(message):,} characters)", None
        record.highlighter = None
        return True


def _quiet_amqtt_logging() -> None:
    """Keep amqtt's INFO chatter off the console unless the application set its level itself."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    for name in _AMQTT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _AmqttRecords) for f in logger.filters):
            logger.addFilter(_AmqttRecords())


_quiet_amqtt_logging()


class EmbeddedBroker:
    """An amqtt broker serving `conf` from a background thread until `stop()`."""

    def __init__(self, conf: BrokerConf) -> None:
        self._conf = conf
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._addresses: tuple[tuple[str, int], ...] = ()
        self._broker: _Broker | None = None

    @property
    def conf(self) -> BrokerConf:
        return self._conf

    @property
    def running(self) -> bool:
        """True while the broker thread is serving."""
        thread = self._thread
        return thread is not None and thread.is_alive() and bool(self._addresses)

    @property
    def ports(self) -> tuple[int, ...]:
        """The bound port of each listener, in configuration order (the OS's pick for port 0)."""
        return tuple(port for _, port in self._require_addresses())

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """A connectable (host, port) for each listener, in configuration order."""
        return self._require_addresses()

    @property
    def url(self) -> str:
        """`mqtt://HOST:PORT` of the first listener; all-interfaces listeners give loopback."""
        host, port = self._require_addresses()[0]
        return f"mqtt://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start serving; return once every listener is bound, or raise `BrokerError`."""
        with self._lock:
            if self._thread is not None:
                raise BrokerError("the embedded broker is already started")
            self._ready.clear()
            self._error = None
            self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
            self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise BrokerError(f"the embedded broker did not start within {timeout:g} s")
        if self._error is not None:
            error = self._error
            self._join()
            raise BrokerError(error)
        log.debug("embedded broker listening on %s", self._describe_addresses())

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop serving and close every listener; calling it again does nothing."""
        with self._lock:
            loop, stop_requested = self._loop, self._stop_requested
        if loop is not None and stop_requested is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                loop.call_soon_threadsafe(stop_requested.set)
        self._join(timeout)

    def reload(self) -> None:
        """Reread the password file and ACL now (as SIGHUP does for Mosquitto); no-op if stopped."""
        with self._lock:
            loop, broker = self._loop, self._broker
        if loop is not None and broker is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already finished
                asyncio.run_coroutine_threadsafe(broker.reload_access(force=True), loop).result(STOP_TIMEOUT_S)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _join(self, timeout: float = STOP_TIMEOUT_S) -> None:
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            raise BrokerError(f"the embedded broker did not stop within {timeout:g} s")
        with self._lock:
            self._thread = None
            self._loop = None
            self._stop_requested = None
            self._addresses = ()
            self._broker = None

    def _require_addresses(self) -> tuple[tuple[str, int], ...]:
        if not self._addresses:
            raise BrokerError("the embedded broker is not running")
        return self._addresses

    def _describe_addresses(self) -> str:
        return ", ".join(f"{host}:{port}" for host, port in self._addresses)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:  # the thread must report, never die silently
            log.exception("embedded broker crashed")
            if not self._ready.is_set():
                self._error = f"the embedded broker crashed: {exc}"
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        stop_requested = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._stop_requested = stop_requested
        try:
            prepared = _prepare(self._conf)
            names, config = _amqtt_config(self._conf, prepared.access)
            broker = _Broker(config, prepared, self._conf.limits)
        except (FleetError, OSError, ValueError) as exc:
            self._error = str(exc) if isinstance(exc, FleetError) else f"the embedded broker cannot start: {exc}"
            self._ready.set()
            return
        try:
            await broker.start()
        except Exception as exc:
            await _close_listeners(broker)
            self._error = _start_failure(exc, self._conf)
            self._ready.set()
            return
        self._addresses = tuple(_connectable_address(broker, name) for name in names)
        with self._lock:
            self._broker = broker
        self._ready.set()
        chores = [asyncio.create_task(broker.watch_access()), asyncio.create_task(broker.autosave()),
                  asyncio.create_task(broker.summarize_denials())]
        await stop_requested.wait()
        for chore in chores:
            chore.cancel()
        await asyncio.gather(*chores, return_exceptions=True)
        await broker.finish_received()
        await broker.save_retained()
        await broker.shutdown()
        log.debug("embedded broker stopped")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a broker needs besides amqtt's config, loaded (and checked) before it listens."""

    access: AccessControl
    persistence: Persistence | None
    store: RetainedStore | None
    retained: tuple[Retained, ...]


def _prepare(conf: BrokerConf) -> _Prepared:
    """Load the credentials, check every TLS certificate and load the retained messages; one-line
    BrokerError for whatever would stop the broker from serving `conf` as Mosquitto would."""
    try:
        access = AccessControl(conf)
    except AccessError as exc:
        raise BrokerError(str(exc)) from exc
    for listener in conf.listeners:
        if listener.tls is not None:
            _tls_context(listener.tls, listener)
    if conf.persistence is None:
        return _Prepared(access, None, None, ())
    store = RetainedStore(conf.persistence.location)
    try:
        store.check()
        retained = tuple(store.load())
    except RetainedStoreError as exc:
        raise BrokerError(str(exc)) from exc
    return _Prepared(access, conf.persistence, store, retained)


def _tls_context(tls: Tls, listener: Listener) -> ssl.SSLContext:
    """A server TLS context as Mosquitto sets one up without `require_certificate`: TLS 1.2 or
    later, no client certificate asked for. `cafile` is loaded (and so checked) but not used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_NONE
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile)
        if tls.cafile is not None:
            context.load_verify_locations(cafile=tls.cafile)
    except (OSError, ssl.SSLError) as exc:
        files = f"{tls.certfile}, {tls.keyfile}" + (f", {tls.cafile}" if tls.cafile else "")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BrokerError(f"listener {_where(listener)}: cannot load its TLS files ({files}): {reason}") from exc
    return context


class FleetAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """Authentication by `AccessControl.refusal`: anonymous only if allowed, passwords checked
    against the password file, no `+ # /` in client ids or usernames."""

    @dataclass
    class Config:
        access: Any = None

    async def authenticate(self, *, session: Any) -> bool:
        access: AccessControl = self.config.access
        reason = access.refusal(session.username, session.password, session.client_id)
        if reason is not None:
            session.attributes[_REFUSAL] = reason  # logged by the broker, once per client and minute
            return False
        return True


class FleetAclPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """The ACL, as Mosquitto 2.0.11 applies it: publishing needs WRITE, receiving needs READ (also
    for retained messages and wills), subscribing is always allowed."""

    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None, action: Any = None) -> bool:
        if action == Action.SUBSCRIBE:
            return True
        if session is None or topic is None:
            return False
        access: AccessControl = self.config.access
        wanted = Access.READ if action == Action.RECEIVE else Access.WRITE
        return access.allows(session.username, session.client_id, topic, wanted)


class _Wire(ReaderAdapter):  # type: ignore[misc]
    """One client connection as amqtt reads it: whole packets that `controller.broker.wire` accepted, each
    in time (the CONNECT within CONNECT_TIMEOUT_S of the accept, then data at least every 1.5
    keepalives). Anything else aborts the connection at once: amqtt then reads the end of the
    stream and ends the session, publishing its will.

    The socket is read in chunks into `_inbox`, which never holds more than the packet being
    received and one chunk; a packet's fixed header is checked as soon as it is there, before its
    body is waited for. State lives in the object between reads, so amqtt cancelling a read (its
    own keepalive wait) loses nothing.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_packet_size: int | None,
                 refused: Callable[[_Wire, wire.Refused], None]) -> None:
        self._reader = reader
        self._writer = writer
        self._max_packet_size = max_packet_size
        self._refused = refused
        peer = writer.get_extra_info("peername")
        self.host = str(peer[0]) if peer else "?"
        self.peer = f"{self.host}:{peer[1]}" if peer else "?"
        self.client_id: str | None = None
        self.closed = False
        self._ready = b""  # the checked packet amqtt is reading
        self._at = 0
        self._inbox = bytearray()  # bytes received, not yet handed to amqtt
        self._start = 0  # where the next packet starts in _inbox
        self._body_at = 0  # where its body starts, once its fixed header is complete
        self._remaining: int | None = None  # its remaining length, once known (and checked)
        self._connected = False
        self._patience: float | None = CONNECT_TIMEOUT_S
        self._deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S

    @property
    def who(self) -> str:
        """The client as denials are counted: its client id, or its address before CONNECT."""
        return shown(self.client_id) if self.client_id is not None else self.host

    def describe(self) -> str:
        return f"{shown(self.client_id)} from {self.peer}" if self.client_id is not None else self.peer

    async def read(self, n: int = -1) -> bytes:
        if self._at >= len(self._ready):
            packet = await self._next_packet()
            if packet is None:
                return b""
            self._ready, self._at = packet, 0
        end = len(self._ready) if n < 0 else self._at + n
        chunk = self._ready[self._at:end]
        self._at += len(chunk)
        return chunk

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def close(self) -> None:
        """Drop the connection now, without flushing what waits to be sent on it."""
        self.closed = True
        self._writer.transport.abort()

    async def _next_packet(self) -> bytes | None:
        if self.closed:
            return None
        try:
            while (packet := self._take_packet()) is None:
                if self._start:  # drop what amqtt has had (all of it, usually: a fresh buffer)
                    if self._start == len(self._inbox):
                        self._inbox = bytearray()
                    else:
                        del self._inbox[:self._start]
                    self._body_at -= self._start
                    self._start = 0
                chunk = await self._in_time(self._reader.read(_READ_CHUNK))
                if not chunk:
                    self.closed = True
                    return None
                self._inbox += chunk
                self._heard()
        except wire.Refused as exc:
            self._refuse(exc)
            return None
        except TimeoutError:
            self._refuse(wire.Refused("timeout", f"sent nothing for {self._patience:g} s (1.5 keepalives)"
                                      if self._connected else f"sent no whole CONNECT within {CONNECT_TIMEOUT_S:g} s"))
            return None
        except ConnectionError:
            self.closed = True
            return None
        if not self._connected:
            self._connected = True
            keepalive = wire.connect_keepalive(packet[self._header_length(packet):])
            self._patience = keepalive * KEEPALIVE_GRACE if keepalive else None
            self._heard()
        return packet

    def _take_packet(self) -> bytes | None:
        """The next whole packet in the inbox, checked; None while part of it has still to arrive."""
        inbox, start = self._inbox, self._start
        if self._remaining is None:
            end = start + 2
            while (length := wire.remaining_length(inbox[start:end])) is None:
                if end > len(inbox):
                    return None
                end += 1
            if end > len(inbox):
                return None
            wire.check_size(inbox[start], length, connected=self._connected, max_packet_size=self._max_packet_size)
            self._body_at, self._remaining = end, length
        stop = self._body_at + self._remaining
        if len(inbox) < stop:
            return None
        wire.check_packet(inbox[start], bytes(inbox[self._body_at:stop]))
        packet = bytes(inbox[start:stop])
        self._start, self._remaining = stop, None
        return packet

    @staticmethod
    def _header_length(packet: bytes) -> int:
        end = 2
        while packet[end - 1] & 0x80:
            end += 1
        return end

    async def _in_time(self, read: Awaitable[bytes]) -> bytes:
        if self._patience is None:
            return await read
        async with asyncio.timeout_at(self._deadline):
            return await read

    def _heard(self) -> None:
        """The client is alive: after CONNECT, data restarts its clock. The CONNECT's own deadline
        never moves, so a client trickling its CONNECT cannot hold a socket open."""
        if self._connected and self._patience is not None:
            self._deadline = asyncio.get_running_loop().time() + self._patience

    def _refuse(self, exc: wire.Refused) -> None:
        self._refused(self, exc)
        self.close()


def _no_room(_handler: _Handler) -> None:
    return None


class _Handler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's protocol handler of one connection, plus what our broker needs of it: its wire, an
    event set when its session loop has ended (a takeover waits for it), and Mosquitto's bound on
    what waits to be sent to the client (`max_queued_messages` beyond IN_FLIGHT, and
    `max_queued_bytes` of QoS 1 and 2): a publish past it is dropped and reported through `no_room`.
    Retained messages sent on SUBSCRIBE are never dropped, as on Mosquitto."""

    def __init__(self, plugins_manager: Any, session: Any = None, loop: Any = None) -> None:
        super().__init__(plugins_manager, session, loop)
        self.finished = asyncio.Event()
        self.wire: _Wire | None = None
        self.limits = Limits()
        self.no_room: Callable[[_Handler], None] = _no_room
        self.waiting = 0
        self.waiting_bytes = 0

    async def mqtt_publish(self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool,
                           ack_timeout: int | None = None) -> Any:
        counted = len(data) if qos else 0
        if not retain and self._full(counted):
            self.no_room(self)
            return OutgoingApplicationMessage(None, topic, qos, data, retain)
        self.waiting += 1
        self.waiting_bytes += counted
        try:
            return await super().mqtt_publish(topic, data, qos, retain, ack_timeout)
        finally:
            self.waiting -= 1
            self.waiting_bytes -= counted

    def _full(self, counted: int) -> bool:
        messages, size = self.limits.max_queued_messages, self.limits.max_queued_bytes
        return ((messages is not None and self.waiting >= IN_FLIGHT + messages)
                or (size is not None and counted > 0 and self.waiting_bytes >= size))


class _Broker(Broker):  # type: ignore[misc]
    """amqtt 0.12.1's broker with its faults mended (each has a test) and persistence added.

    - It handled a CONNECT (deleting the client id's existing session, taking over its connection)
      before authenticating it, so a client without credentials could cut a device off by using
      its client id: authenticate first, as Mosquitto does.
    - A CONNECT with a client id already connected deleted the old session but left its connection
      open and deaf (no subscriptions, no keepalive check) for as long as the client kept it, and
      published its will whenever it finally dropped: close it first, as MQTT 3.1.1 §3.1.4 says.
    - It parsed whatever came (see `_Wire`), never dropped a silent client, and held any backlog
      for a client that stopped reading.
    - On every connect it sends the client the retained messages of *every* client's subscription
      filters, so a device received other devices' configs: send only those of its own filters.
      It also sent retained messages and wills without any ACL check: check READ and WRITE.
    - It ends a client's message loop as soon as DISCONNECT is seen, dropping messages still queued
      for delivery, so `mosquitto_pub -m ...` was often lost: deliver the queue first.
    """

    def __init__(self, config: dict[str, Any], prepared: _Prepared, limits: Limits) -> None:
        super().__init__(config)
        self._access = prepared.access
        self._persistence = prepared.persistence
        self._store = prepared.store
        self._initial_retained = prepared.retained
        self._limits = limits
        self._denials = DenialLog(DENIAL_WINDOW_S)
        self._retained_changes = 0
        self._enough_changes = asyncio.Event()
        self._save_lock = asyncio.Lock()
        self._acl_plugin: FleetAclPlugin | None = self.plugins_manager.get_plugin(FleetAclPlugin.__name__)

    # --- connections: checked packets, deadlines ----------------------------------------------

    async def _create_server_instance(self, listener_name: str, listener_type: Any, address: str | None, port: int,
                                      ssl_context: ssl.SSLContext | None) -> Any:
        if ssl_context is None:
            return await super()._create_server_instance(listener_name, listener_type, address, port, None)
        # amqtt's, with a TLS handshake deadline (asyncio's default is 60 s); listeners are TCP only.
        return await asyncio.start_server(partial(self.stream_connected, listener_name=listener_name), address, port,
                                          reuse_address=True, ssl=ssl_context,
                                          ssl_handshake_timeout=CONNECT_TIMEOUT_S)

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        guarded = _Wire(reader, writer, self._limits.max_packet_size, self._wire_refused)
        try:
            await self._client_connected(listener_name, guarded, StreamWriterAdapter(writer))
        except asyncio.CancelledError:
            # Only the broker stopping cancels this task (a socket still waiting for its CONNECT).
            # Python 3.11's start_server then calls task.exception() on it and logs a traceback per
            # socket (3.12 checks task.cancelled() first): end quietly instead.
            return
        finally:
            guarded.close()  # however the session ended (amqtt leaves some sockets open)

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Any, handler: Any, server: Any,
                                     listener_name: str) -> None:
        try:
            await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)
        finally:
            if isinstance(handler, _Handler):
                handler.finished.set()

    def _wire_refused(self, connection: _Wire, exc: wire.Refused) -> None:
        level = logging.INFO if exc.reason == "timeout" else logging.WARNING
        self._deny(connection.who, f"closed connections ({exc.reason})", "closed the connection of %s: %s",
                   connection.describe(), exc, level=level)

    # --- denials: logged once per client and window, then counted -----------------------------

    def _deny(self, who: str, kind: str, message: str, *args: object, level: int = logging.WARNING) -> None:
        if self._denials.admit(who, kind, asyncio.get_running_loop().time()):
            log.log(level, message, *args, extra=_UNTRUSTED)

    async def summarize_denials(self) -> None:
        """Every window, one line per (client, kind of denial) for the denials not logged one by one."""
        while True:
            await asyncio.sleep(min(1.0, self._denials.window_s))
            if not self._denials.due(asyncio.get_running_loop().time()):
                continue
            suppressed, unlisted = self._denials.flush()
            for item in suppressed:
                log.warning("client %s: %d more %s in the last %g s", item.who, item.count, item.reason,
                            self._denials.window_s, extra=_UNTRUSTED)
            if unlisted:
                log.warning("%d more denials of other clients in the last %g s", unlisted, self._denials.window_s)

    # --- authentication first, then a takeover ------------------------------------------------

    async def _initialize_client_session(self, reader: Any, writer: Any, remote_address: str,
                                         remote_port: int) -> tuple[Any, Any]:
        try:
            handler, session = await _Handler.init_from_connect(reader, writer, self.plugins_manager)
        except MQTTError as exc:  # amqtt refused it (with a CONNACK when MQTT has a code for it)
            await writer.close()
            if isinstance(reader, _Wire):
                self._deny(reader.who, "refused CONNECTs", "refused a CONNECT from %s: %s", reader.describe(),
                           shown(str(exc), 200))
            raise MQTTError(exc) from exc
        except (AMQTTError, NoDataError) as exc:
            raise AMQTTError(exc) from exc
        if session.clean_session and _GENERATED_ID.fullmatch(session.client_id or ""):
            # An empty client id, which amqtt replaced by `amqtt/<16 random>`: name it as Mosquitto
            # does (`auto-...`), since a `/` in a client id is refused below.
            session.client_id = "auto-" + session.client_id.removeprefix("amqtt/")
        if isinstance(reader, _Wire):
            reader.client_id = session.client_id
            handler.wire = reader
        handler.limits = self._limits
        handler.no_room = self._no_room
        if not await super()._authenticate(session, None):
            connack = ConnackPacket.build(0, NOT_AUTHORIZED)
            await connack.to_stream(writer)
            await writer.close()
            who = shown(session.client_id)
            self._deny(who, "refused CONNECTs", "refused client %s from %s: %s", who, remote_address,
                       session.attributes.get(_REFUSAL, "not authorised"))
            raise MQTTError(f"client {who} from {remote_address}:{remote_port} is not authorised")
        await self._take_over(session)
        # From here on, amqtt 0.12.1's own session set-up.
        if session.clean_session:
            if session.client_id:
                await self._delete_session(session.client_id)
            else:
                session.client_id = gen_client_id()
            session.parent = 0
        elif session.client_id in self._sessions:
            existing, _ = self._sessions[session.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive",
                         "username", "password"):
                setattr(existing, name, getattr(session, name))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        session.attributes[_AUTHENTICATED] = True
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _take_over(self, incoming: Any) -> None:
        """MQTT 3.1.1 §3.1.4, as Mosquitto 2.0.11 does it: close the connection that holds this client
        id (its will is published unless both sessions are persistent) and wait until its session
        loop has ended, so the new connection gets the session, or a clean one, and never shares it."""
        previous = self._sessions.get(incoming.client_id)
        if previous is None:
            return
        session, handler = previous
        if not session.transitions.is_connected() or not isinstance(handler, _Handler) or handler.wire is None:
            return
        who = shown(incoming.client_id)
        self._deny(who, "takeovers", "client %s connected again from %s: closing its connection from %s", who,
                   incoming.remote_address, handler.wire.peer)
        if not (session.clean_session or incoming.clean_session):
            session.will_flag = False
        handler.wire.close()
        try:
            async with asyncio.timeout(TAKEOVER_TIMEOUT_S):
                await handler.finished.wait()
        except TimeoutError:
            log.warning("the previous connection of %s did not end within %g s", who, TAKEOVER_TIMEOUT_S,
                        extra=_UNTRUSTED)

    async def _authenticate(self, session: Any, _listener: Any) -> bool:
        return bool(session.attributes.get(_AUTHENTICATED))

    async def _topic_filtering(self, session: Any, topic: str, action: Any) -> bool:
        # amqtt asks every topic plugin through a task and a gather, for every publish and every
        # delivery; ours is the only one, so ask it directly (it halved the message rate otherwise).
        if self._acl_plugin is None:
            return True
        allowed = bool(await self._acl_plugin.topic_filtering(session=session, topic=topic, action=action))
        if not allowed and action == Action.PUBLISH:
            who = shown(session.client_id)
            self._deny(who, "denied PUBLISHes", "denied PUBLISH from %s (user %s) to %s", who,
                       shown(session.username), shown(topic))
        return allowed

    # --- what waits for one client ------------------------------------------------------------

    def _no_room(self, handler: _Handler) -> None:
        who = shown(handler.session.client_id if handler.session is not None else None)
        self._deny(who, "dropped outgoing messages",
                   "outgoing messages are being dropped for client %s: %d wait already (max_queued_messages %s, "
                   "max_queued_bytes %s)", who, handler.waiting, handler.limits.max_queued_messages,
                   handler.limits.max_queued_bytes)

    async def _retain_broadcast_message(self, broadcast: dict[str, Any], qos: int, target_session: Any) -> None:
        # What a persistent session collects while it is offline: bounded the same way.
        limit = self._limits.max_queued_messages
        if limit is not None and target_session.retained_messages.qsize() >= limit:
            who = shown(target_session.client_id)
            self._deny(who, "dropped queued messages", "messages are being dropped for offline client %s: "
                       "%d queued already (max_queued_messages)", who, target_session.retained_messages.qsize())
            return
        await super()._retain_broadcast_message(broadcast, qos, target_session)

    # --- retained messages and wills ----------------------------------------------------------

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        topic_filter, qos = subscription
        if not any(subscriber is session for subscriber, _qos in self._subscriptions.get(topic_filter, ())):
            return
        handler = self._get_handler(session)
        if handler is None:
            return
        sends = [
            asyncio.ensure_future(handler.mqtt_publish(topic, message.data, min(qos, message.qos or qos), retain=True))
            for topic, message in list(self._retained_messages.items())
            if self._matches(topic, topic_filter)
            and self._access.allows(session.username, session.client_id, topic, Access.READ)
        ]
        if sends:
            await asyncio.wait(sends)

    async def _handle_disconnect(self, client_session: Any, handler: Any, disconnect_waiter: Any) -> None:
        await self._deliver_pending(client_session, handler)
        if client_session.will_flag and client_session.will_topic and not self._access.allows(
                client_session.username, client_session.client_id, client_session.will_topic, Access.WRITE):
            who = shown(client_session.client_id)
            self._deny(who, "dropped wills", "dropped the will of %s: it may not publish to %s", who,
                       shown(client_session.will_topic), level=logging.INFO)
            client_session.will_flag = False
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)

    async def _deliver_pending(self, session: Any, handler: Any) -> None:
        """Handle the messages `session` sent that are acknowledged but not yet processed."""
        pending = session.delivered_message_queue
        while not pending.empty():
            delivered = asyncio.get_running_loop().create_future()
            delivered.set_result(pending.get_nowait())
            await self._handle_message_delivery(session, handler, delivered)

    async def finish_received(self) -> None:
        """Before shutdown: stop accepting clients and process every message already received, so
        a publish that got its PUBACK is retained (and saved) even if the broker stops at once."""
        for server in self._servers.values():
            if server.instance is not None:
                server.instance.close()
        for session, handler in list(self._sessions.values()):
            await self._deliver_pending(session, handler)
        await asyncio.sleep(0)

    @staticmethod
    def _create_ssl_context(listener: Any) -> ssl.SSLContext:
        tls = Tls(Path(listener["certfile"]), Path(listener["keyfile"]),
                  Path(listener["cafile"]) if listener.get("cafile") else None)
        return _tls_context(tls, Listener(0))

    # --- credentials reload -------------------------------------------------------------------

    async def watch_access(self) -> None:
        """Reload the password file and ACL when they change on disk, every RELOAD_CHECK_S."""
        while True:
            await asyncio.sleep(RELOAD_CHECK_S)
            await self.reload_access()

    async def reload_access(self, *, force: bool = False) -> None:
        """Reload what changed; disconnect every client whose credentials no longer hold."""
        if not self._access.reload_if_changed() and not force:
            return
        for session, handler in list(self._sessions.values()):
            if not session.transitions.is_connected():
                continue
            reason = self._access.refusal(session.username, session.password, session.client_id)
            if reason is not None and isinstance(handler, _Handler) and handler.wire is not None:
                log.warning("disconnecting %s: %s", shown(session.client_id), reason, extra=_UNTRUSTED)
                handler.wire.close()

    # --- persistence --------------------------------------------------------------------------

    async def _start_listeners(self) -> None:
        # start() has just cleared the retained messages; load ours before any client can connect.
        for message in self._initial_retained:
            self._retained_messages[message.topic] = RetainedApplicationMessage(
                None, message.topic, message.payload, message.qos)
        await super()._start_listeners()

    async def retain_message(self, source_session: Any, topic_name: str | None, data: bytes | bytearray | None,
                             qos: int | None = None) -> None:
        await super().retain_message(source_session, topic_name, data, qos)
        if self._persistence is not None:
            self._retained_changes += 1
            if self._persistence.autosave_on_changes and self._retained_changes >= self._persistence.autosave_interval:
                self._enough_changes.set()

    async def autosave(self) -> None:
        """Save the retained messages as `autosave_interval`/`autosave_on_changes` ask."""
        persistence = self._persistence
        if persistence is None or persistence.autosave_interval == 0:
            return
        while True:
            if persistence.autosave_on_changes:
                await self._enough_changes.wait()
                self._enough_changes.clear()
            else:
                await asyncio.sleep(persistence.autosave_interval)
            if self._retained_changes:
                await self.save_retained()

    async def save_retained(self) -> None:
        """Write the retained messages now (if persistence is on); errors are logged, as Mosquitto does."""
        if self._store is None:
            return
        async with self._save_lock:
            self._retained_changes = 0
            snapshot = encode(Retained(topic, bytes(message.data), int(message.qos or 0))
                              for topic, message in self._retained_messages.items())
            try:
                await asyncio.to_thread(self._store.save, snapshot)
            except RetainedStoreError as exc:
                log.error("%s", exc)
                return
        log.debug("saved %d retained message(s) to %s", len(self._retained_messages), self._store.path)


def _amqtt_config(conf: BrokerConf, access: AccessControl) -> tuple[list[str], dict[str, Any]]:
    """Translate `conf` to amqtt's config; also return listener names in configuration order."""
    names = [f"listener-{index}" for index in range(len(conf.listeners))]
    listeners = {name: _listener_config(listener) for name, listener in zip(names, conf.listeners, strict=True)}
    # amqtt requires a listener named "default", and copies "default"'s bind into any other
    # listener whose bind equals amqtt's default bind; naming that one "default" sidesteps it.
    default_name = next((name for name in names if listeners[name]["bind"] == _AMQTT_DEFAULT_BIND), names[0])
    listeners["default"] = listeners.pop(default_name)
    names[names.index(default_name)] = "default"
    # Explicit plugins: ours only (no $SYS tree, no packet or event logger, never amqtt's
    # AnonymousAuthPlugin). The ACL plugin only when there is an ACL: it costs a check per message.
    plugins: dict[str, dict[str, Any]] = {_AUTH_PLUGIN: {"access": access}}
    if access.has_acl:
        plugins[_ACL_PLUGIN] = {"access": access}
    return names, {"listeners": listeners, "plugins": plugins}


def _listener_config(listener: Listener) -> dict[str, Any]:
    config: dict[str, Any] = {"type": "tcp", "bind": _bind(listener)}
    if listener.tls is not None:
        config |= {"ssl": True, "certfile": str(listener.tls.certfile), "keyfile": str(listener.tls.keyfile)}
        if listener.tls.cafile is not None:
            config["cafile"] = str(listener.tls.cafile)
    return config


def _bind(listener: Listener) -> str:
    # amqtt splits on the last ':' and passes the host to getaddrinfo as is, so an IPv6 literal
    # must NOT be bracketed; an empty host means all interfaces.
    return f"{listener.host or ''}:{listener.port}"


def _connectable_address(broker: Broker, name: str) -> tuple[str, int]:
    """Where a local client reaches listener `name`: its IPv4 socket if any, loopback for any."""
    sockets = list(broker._servers[name].instance.sockets)  # amqtt has no public API for these
    sockets.sort(key=lambda sock: sock.family != socket.AF_INET)
    host, port = sockets[0].getsockname()[:2]
    if host == "0.0.0.0":
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return str(host), int(port)


async def _close_listeners(broker: Broker) -> None:
    """Close the listeners a failed start already opened (amqtt leaves them open)."""
    for server in broker._servers.values():  # amqtt has no public API for these
        await server.close_instance()


def _start_failure(exc: BaseException, conf: BrokerConf) -> str:
    """One line for why amqtt could not start."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        busy = [listener for listener in conf.listeners if not port_is_free(listener.host, listener.port)]
        if busy:
            return "; ".join(f"port {_where(listener)} is already in use" for listener in busy)
        return f"a listener port is already in use: {cause.strerror}"
    if isinstance(cause, OSError):
        return f"cannot open a listener: {cause.strerror or cause}"
    return f"the embedded broker cannot start: {exc}"


def _where(listener: Listener) -> str:
    return f"{listener.port} on {listener.host}" if listener.host else str(listener.port)


def port_is_free(host: str | None, port: int) -> bool:
    """True if a listener could bind `host`:`port` now (host None: all interfaces, v4 and v6).

    Binds with SO_REUSEADDR, as amqtt and Mosquitto do, so connections lingering in TIME_WAIT
    after a broker stopped do not count as "in use".
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EAFNOSUPPORT:
                continue
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that is free right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def run_broker(conf_path: Path, port: int | None) -> None:
    """Serve the broker in `conf_path` in the foreground until SIGINT or SIGTERM; SIGHUP rereads
    the password file and ACL at once, as it does for Mosquitto.

    `port`, when given, replaces the first listener's port. Raises `BrokerConfError` or
    `BrokerError` (one line each) if the configuration is bad or the broker cannot start.
    """
    conf = brokerconf.load(conf_path)
    if port is not None:
        conf = brokerconf.with_port(conf, port)
    stop_requested = threading.Event()
    reload_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stop_requested.is_set():
            log.info("received %s, stopping the broker", signal.Signals(signum).name)
        stop_requested.set()

    def request_reload(_signum: int, _frame: FrameType | None) -> None:
        reload_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, request_reload)
    broker = EmbeddedBroker(conf)
    try:
        broker.start()
        for listener, (host, bound) in zip(conf.listeners, broker.addresses, strict=True):
            scheme = "mqtts" if listener.tls else "mqtt"
            log.info("broker listening on %s port %d (%s://%s:%d)", listener.host or "all interfaces", bound, scheme,
                     host, bound)
        log.info("%s", describe_security(conf))
        while broker.running and not stop_requested.wait(0.5):
            if reload_requested.is_set():
                reload_requested.clear()
                log.info("received SIGHUP, rereading the password file and ACL")
                broker.reload()
        if not stop_requested.is_set():
            raise BrokerError("the embedded broker stopped unexpectedly")
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("broker stopped")


def describe_security(conf: BrokerConf) -> str:
    """One line on who may connect and what survives a restart."""
    parts = [f"anonymous clients {'allowed' if conf.allow_anonymous else 'refused'}"]
    parts.append(f"passwords from {conf.password_file}" if conf.password_file else "no password file")
    parts.append(f"ACL {conf.acl_file}" if conf.acl_file else "no ACL (every client may use every topic)")
    if conf.persistence is not None:
        parts.append(f"retained messages kept in {conf.persistence.location}")
    limits = conf.limits
    if limits.max_packet_size is not None:
        parts.append(f"packets up to {limits.max_packet_size:,} bytes")
    if limits.max_queued_messages is not None or limits.max_queued_bytes is not None:
        held = [f"{limits.max_queued_messages:,} messages" if limits.max_queued_messages is not None else "",
                f"{limits.max_queued_bytes:,} bytes" if limits.max_queued_bytes is not None else ""]
        parts.append(f"at most {' / '.join(h for h in held if h)} held for a client that falls behind")
    return "; ".join(parts) + (f" (config {conf.source})" if conf.source else "")
