"""Every override of amqtt 0.12.1's internals, in one place: the faults it has mended, the limits added.

amqtt has no public API for any of this, so each item overrides (or reads) a private method or
attribute of `amqtt.broker.Broker` or `BrokerProtocolHandler`; amqtt is pinned to 0.12.1 in
pyproject.toml to keep them valid. The docstring of each override says what amqtt did and names
the test that shows the fault mended (paths under tests/). Two classes, one concern each:
`AdmittingBroker` decides who gets in (checked packets, client ids bound to usernames, authentication
before anything, takeovers);
`FleetBroker` what gets delivered (ACL, bounded queues, retained messages and wills, persistence,
credentials reload). `QueueBoundHandler` is amqtt's per-connection handler with Mosquitto's queue
bound.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OutgoingApplicationMessage
from amqtt.utils import gen_client_id

from controller.broker import connection, wire
from controller.broker.auth import Access
from controller.broker.conf import Limits, Listener, Tls
from controller.broker.connection import Connection
from controller.broker.logs import UNTRUSTED, Denials
from controller.broker.plugins import REFUSAL
from controller.broker.retained import Autosave, Retained
from controller.broker.startup import Prepared, tls_context
from controller.logtext import shown

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 1.0
"""How often the password file and ACL are checked for changes."""
TAKEOVER_TIMEOUT_S = 5.0
"""How long a takeover waits for the old connection's session to end."""
IN_FLIGHT = 20
"""Mosquitto's max_inflight_messages default: messages sent and unacknowledged, on top of
max_queued_messages waiting behind them."""

_GENERATED_ID = re.compile(r"amqtt/[A-Za-z0-9]{16}")  # amqtt's gen_client_id() for an empty client id
_AUTHENTICATED = "fleet.authenticated"  # amqtt session attribute set once our plugins admitted it


def _no_room(_handler: QueueBoundHandler) -> None:
    return None


class QueueBoundHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's protocol handler of one connection, plus what our broker needs of it: its connection,
    an event set when its session loop has ended (a takeover waits for it), and Mosquitto's bound
    on what waits to be sent to the client (`max_queued_messages` beyond IN_FLIGHT, and
    `max_queued_bytes` of QoS 1 and 2): a publish past it is dropped and reported through `no_room`.
    Retained messages sent on SUBSCRIBE are never dropped, as on Mosquitto."""

    def __init__(self, plugins_manager: Any, session: Any = None, loop: Any = None) -> None:
        super().__init__(plugins_manager, session, loop)
        self.finished = asyncio.Event()
        self.connection: Connection | None = None
        self.limits = Limits()
        self.no_room: Callable[[QueueBoundHandler], None] = _no_room
        self.waiting = 0
        self.waiting_bytes = 0

    async def mqtt_publish(self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool,
                           ack_timeout: int | None = None) -> Any:
        """amqtt held any backlog for a client that stopped reading; past the bound, drop. Test:
        faults/test_hostile_broker.py::test_a_stalled_subscriber_loses_messages_beyond_max_queued_messages_and_no_one_else_does."""
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


class AdmittingBroker(Broker):  # type: ignore[misc]
    """amqtt's broker, deciding who gets in: every packet checked before amqtt parses it, a CONNECT
    authenticated before anything else, a takeover that closes the connection it replaces.
    `listeners` maps amqtt's listener names to the configuration's listeners."""

    def __init__(self, config: dict[str, Any], prepared: Prepared, limits: Limits,
                 listeners: Mapping[str, Listener]) -> None:
        super().__init__(config)
        self._access = prepared.access
        self._limits = limits
        self._listeners = listeners
        self._denials = Denials()

    def addresses(self, names: list[str]) -> tuple[tuple[str, int], ...]:
        """Where a local client reaches each listener in `names`, read from amqtt's private
        `_servers`: its IPv4 socket if any, loopback for an all-interfaces bind, the OS's pick for
        port 0. Test: integration/test_broker.py::test_embedded_broker_port_zero_reports_the_bound_port."""
        return tuple(self._connectable_address(name) for name in names)

    def _connectable_address(self, name: str) -> tuple[str, int]:
        sockets = list(self._servers[name].instance.sockets)
        sockets.sort(key=lambda sock: sock.family != socket.AF_INET)
        host, port = sockets[0].getsockname()[:2]
        if host == "0.0.0.0":
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return str(host), int(port)

    async def close_listeners(self) -> None:
        """Close the listeners a failed start already opened (amqtt leaves them open). Test:
        integration/test_broker.py::test_embedded_broker_failed_start_closes_listeners_it_opened."""
        for server in self._servers.values():
            await server.close_instance()

    async def _create_server_instance(self, listener_name: str, listener_type: Any, address: str | None, port: int,
                                      ssl_context: ssl.SSLContext | None) -> Any:
        """amqtt's, with a TLS handshake deadline (asyncio's default is 60 s); listeners are TCP only.
        Test: integration/test_broker_fixes.py::test_a_tls_socket_that_never_handshakes_is_closed_at_the_deadline."""
        if ssl_context is None:
            return await super()._create_server_instance(listener_name, listener_type, address, port, None)
        return await asyncio.start_server(partial(self.stream_connected, listener_name=listener_name), address, port,
                                          reuse_address=True, ssl=ssl_context,
                                          ssl_handshake_timeout=connection.CONNECT_TIMEOUT_S)

    @staticmethod
    def _create_ssl_context(listener: Any) -> ssl.SSLContext:
        """Mosquitto's TLS set-up (`startup.tls_context`: TLS 1.2 or later, no client certificate)
        instead of amqtt's. Test: security/test_access.py::test_tls_listener_serves_tls_and_refuses_plain_tcp."""
        tls = Tls(Path(listener["certfile"]), Path(listener["keyfile"]),
                  Path(listener["cafile"]) if listener.get("cafile") else None)
        return tls_context(tls, Listener(0))

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        """amqtt's, reading through a `Connection`: amqtt parsed whatever came and never dropped a
        silent client. Tests: faults/test_hostile_broker.py (malformed packets, deadlines, a huge
        CONNECT); integration/test_broker_fixes.py::test_stopping_with_a_socket_before_its_connect_logs_no_error."""
        guarded = Connection(reader, writer, self._limits.max_packet_size, self._wire_refused)
        guarded.use_username_as_clientid = self._listeners[listener_name].use_username_as_clientid
        try:
            await self._client_connected(listener_name, guarded, StreamWriterAdapter(writer))
        except asyncio.CancelledError:
            # Only the broker stopping cancels this task (a socket still waiting for its CONNECT).
            # Python 3.11's start_server then calls task.exception() on it and logs a traceback per
            # socket (3.12 checks task.cancelled() first): end quietly instead.
            return
        finally:
            guarded.close()  # however the session ended (amqtt leaves some sockets open)

    async def _handle_client_session(  # noqa: PLR0917 - amqtt's own signature
            self, reader: Any, writer: Any, client_session: Any, handler: Any, server: Any, listener_name: str,
    ) -> None:
        """amqtt's, then a sign that the session loop has ended, which a takeover waits for. Tests:
        the takeover tests in faults/test_hostile_broker.py."""
        try:
            await super()._handle_client_session(reader, writer, client_session, handler, server, listener_name)
        finally:
            if isinstance(handler, QueueBoundHandler):
                handler.finished.set()

    def _wire_refused(self, guarded: Connection, exc: wire.Refused) -> None:
        level = logging.INFO if exc.reason == "timeout" else logging.WARNING
        self._denials.deny(guarded.who, f"closed connections ({exc.reason})", "closed the connection of %s: %s",
                           guarded.describe(), exc, level=level)

    async def summarize_denials(self) -> None:
        """Every window, one line per (client, kind of denial) not logged one by one."""
        await self._denials.summarize()

    async def _initialize_client_session(self, reader: Any, writer: Any, remote_address: str,
                                         remote_port: int) -> tuple[Any, Any]:
        """amqtt's, authenticating the CONNECT *before* touching the client id's session: amqtt
        deleted that first, so a client without credentials could cut a device off by its id. Tests:
        integration/test_broker_fixes.py::test_an_unauthenticated_connect_cuts_no_one_off,
        ::test_an_empty_client_id_is_named_auto;
        faults/test_hostile_broker.py::test_a_bad_connect_is_closed_without_a_connack."""
        handler, session = await self._read_connect(reader, writer)
        handler.limits = self._limits
        handler.no_room = self._no_room
        if not (self._username_as_client_id(reader, session) and await super()._authenticate(session, None)):
            connack = ConnackPacket.build(0, NOT_AUTHORIZED)
            await connack.to_stream(writer)
            await writer.close()
            who = shown(session.client_id)
            self._denials.deny(who, "refused CONNECTs", "refused client %s from %s: %s", who, remote_address,
                               session.attributes.get(REFUSAL, "not authorised"))
            raise MQTTError(f"client {who} from {remote_address}:{remote_port} is not authorised")
        await self._take_over(session)
        session = await self._attach_session(session)
        session.attributes[_AUTHENTICATED] = True
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _read_connect(self, reader: Any, writer: Any) -> tuple[QueueBoundHandler, Any]:
        """The CONNECT's handler and session; a refused CONNECT is logged once per client. An empty
        client id, which amqtt names `amqtt/<16 random>`, is named as Mosquitto does, `auto-...`
        (a `/` in a client id is refused)."""
        try:
            handler, session = await QueueBoundHandler.init_from_connect(reader, writer, self.plugins_manager)
        except MQTTError as exc:  # amqtt refused it (with a CONNACK when MQTT has a code for it)
            await writer.close()
            if isinstance(reader, Connection):
                self._denials.deny(reader.who, "refused CONNECTs", "refused a CONNECT from %s: %s", reader.describe(),
                                   shown(str(exc), 200))
            raise MQTTError(exc) from exc
        except (AMQTTError, NoDataError) as exc:
            raise AMQTTError(exc) from exc
        if session.clean_session and _GENERATED_ID.fullmatch(session.client_id or ""):
            session.client_id = "auto-" + session.client_id.removeprefix("amqtt/")
        if isinstance(reader, Connection):
            reader.client_id = session.client_id
            handler.connection = reader
        return handler, session

    @staticmethod
    def _username_as_client_id(reader: Any, session: Any) -> bool:
        """`use_username_as_clientid` on the client's listener, as Mosquitto 2.0.11 applies it (before
        checking the password): the client id becomes the username, so an account can take over only
        its own connections, never a device's; a client without a username is refused as not
        authorised, even with `allow_anonymous true`. False if refused. Tests:
        security/test_client_ids.py; integration/test_broker.py::test_use_username_as_clientid."""
        if not (isinstance(reader, Connection) and reader.use_username_as_clientid):
            return True
        if session.username is None:
            session.attributes[REFUSAL] = "no username, and its listener has use_username_as_clientid"
            return False
        session.client_id = reader.client_id = session.username
        return True

    async def _attach_session(self, session: Any) -> Any:
        """amqtt 0.12.1's own session set-up, unchanged: a clean session replaces the stored one, a
        persistent one resumes it with the new CONNECT's will and credentials."""
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
        return session

    async def _take_over(self, incoming: Any) -> None:
        """MQTT 3.1.1 §3.1.4, as Mosquitto 2.0.11 does it: close the connection that holds this client
        id (its will is published unless both sessions are persistent) and wait until its session
        loop has ended, so the new connection gets the session, or a clean one, and never shares it.
        amqtt left the old connection open and deaf, publishing its will whenever it dropped. Tests:
        faults/test_hostile_broker.py::test_a_takeover_closes_the_old_connection_and_the_new_one_is_served,
        ::test_a_persistent_takeover_hands_over_the_session."""
        previous = self._sessions.get(incoming.client_id)
        if previous is None:
            return
        session, handler = previous
        if (not session.transitions.is_connected() or not isinstance(handler, QueueBoundHandler)
                or handler.connection is None):
            return
        who = shown(incoming.client_id)
        self._denials.deny(who, "takeovers", "client %s connected again from %s: closing its connection from %s",
                           who, incoming.remote_address, handler.connection.peer)
        if not (session.clean_session or incoming.clean_session):
            session.will_flag = False
        handler.connection.close()
        try:
            async with asyncio.timeout(TAKEOVER_TIMEOUT_S):
                await handler.finished.wait()
        except TimeoutError:
            log.warning("the previous connection of %s did not end within %g s", who, TAKEOVER_TIMEOUT_S,
                        extra=UNTRUSTED)

    async def _authenticate(self, session: Any, _listener: Any) -> bool:
        """Done in `_initialize_client_session` already: report its verdict. Test:
        security/test_access.py::test_anonymous_wrong_password_and_unknown_users_are_refused."""
        return bool(session.attributes.get(_AUTHENTICATED))

    def _no_room(self, handler: QueueBoundHandler) -> None:
        who = shown(handler.session.client_id if handler.session is not None else None)
        self._denials.deny(who, "dropped outgoing messages",
                           "outgoing messages are being dropped for client %s: %d wait already (max_queued_messages "
                           "%s, max_queued_bytes %s)", who, handler.waiting, handler.limits.max_queued_messages,
                           handler.limits.max_queued_bytes)


class FleetBroker(AdmittingBroker):
    """amqtt 0.12.1's broker with its faults mended and persistence added: this class decides what
    gets delivered; `AdmittingBroker` who gets in."""

    def __init__(self, config: dict[str, Any], prepared: Prepared, limits: Limits,
                 listeners: Mapping[str, Listener]) -> None:
        super().__init__(config, prepared, limits, listeners)
        self._initial_retained = prepared.retained
        self._autosave = Autosave(prepared.persistence)

    async def _topic_filtering(self, session: Any, topic: str, action: Any) -> bool:
        """The ACL, as Mosquitto 2.0.11 applies it: publishing needs WRITE, receiving needs READ (also
        for retained messages and wills), subscribing is always allowed. Checked here, not in a topic
        plugin: amqtt asks every topic plugin through a task and a gather, for every publish and
        every delivery (it halved the message rate).
        Tests: security/test_access.py::test_a_device_reaches_only_its_own_topics;
        faults/test_hostile_broker.py::test_repeated_denials_log_one_line_then_a_count."""
        if action == Action.SUBSCRIBE:
            return True
        if session is None or topic is None:
            return False
        wanted = Access.READ if action == Action.RECEIVE else Access.WRITE
        allowed = self._access.allows(session.username, session.client_id, topic, wanted)
        if not allowed and action == Action.PUBLISH:
            who = shown(session.client_id)
            self._denials.deny(who, "denied PUBLISHes", "denied PUBLISH from %s (user %s) to %s", who,
                               shown(session.username), shown(topic))
        return allowed

    async def _retain_broadcast_message(self, broadcast: dict[str, Any], qos: int, target_session: Any) -> None:
        """What a persistent session collects while it is offline, bounded by max_queued_messages
        (amqtt kept all of it). Test:
        integration/test_broker_fixes.py::test_an_offline_persistent_session_keeps_at_most_max_queued_messages."""
        limit = self._limits.max_queued_messages
        if limit is not None and target_session.retained_messages.qsize() >= limit:
            who = shown(target_session.client_id)
            self._denials.deny(who, "dropped queued messages", "messages are being dropped for offline client %s: "
                               "%d queued already (max_queued_messages)", who,
                               target_session.retained_messages.qsize())
            return
        await super()._retain_broadcast_message(broadcast, qos, target_session)

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        """Only the retained messages of this session's own filter, and only those it may READ:
        amqtt sent a client those of *every* client's filters, unchecked. Tests:
        integration/test_broker.py::test_a_client_gets_only_the_retained_messages_of_its_own_filters;
        security/test_access.py::test_a_device_reaches_only_its_own_topics."""
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
        """Deliver what the client sent before its DISCONNECT (amqtt dropped it, so `mosquitto_pub`
        was often lost), and drop a will it may not WRITE (amqtt published it unchecked). Tests:
        integration/test_broker.py::test_quick_publishers_are_not_lost;
        security/test_access.py::test_a_will_on_another_devices_topic_is_dropped."""
        await self._deliver_pending(client_session, handler)
        if client_session.will_flag and client_session.will_topic and not self._access.allows(
                client_session.username, client_session.client_id, client_session.will_topic, Access.WRITE):
            who = shown(client_session.client_id)
            self._denials.deny(who, "dropped wills", "dropped the will of %s: it may not publish to %s", who,
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
        a publish that got its PUBACK is retained (and saved) even if the broker stops at once.
        Test: security/test_access.py::test_retained_configs_survive_a_restart."""
        for server in self._servers.values():
            if server.instance is not None:
                server.instance.close()
        for session, handler in list(self._sessions.values()):
            await self._deliver_pending(session, handler)
        await asyncio.sleep(0)

    async def watch_access(self) -> None:
        """Reload the password file and ACL when they change on disk, every RELOAD_CHECK_S."""
        while True:
            await asyncio.sleep(RELOAD_CHECK_S)
            await self.reload_access()

    async def reload_access(self, *, force: bool = False) -> None:
        """Reload what changed; disconnect every client (amqtt's private `_sessions`) whose
        credentials no longer hold. Test:
        security/test_access.py::test_a_revoked_device_is_disconnected_and_kept_out."""
        if not self._access.reload_if_changed() and not force:
            return
        for session, handler in list(self._sessions.values()):
            if not session.transitions.is_connected():
                continue
            reason = self._access.refusal(session.username, session.password, session.client_id)
            if reason is not None and isinstance(handler, QueueBoundHandler) and handler.connection is not None:
                log.warning("disconnecting %s: %s", shown(session.client_id), reason, extra=UNTRUSTED)
                handler.connection.close()

    async def _start_listeners(self) -> None:
        """amqtt's start() has just cleared the retained messages (it keeps them in memory only):
        load ours before any client can connect. Test:
        security/test_access.py::test_retained_configs_survive_a_restart."""
        for message in self._initial_retained:
            self._retained_messages[message.topic] = RetainedApplicationMessage(
                None, message.topic, message.payload, message.qos)
        await super()._start_listeners()

    async def retain_message(self, source_session: Any, topic_name: str | None, data: bytes | bytearray | None,
                             qos: int | None = None) -> None:
        """amqtt's, counted towards the next autosave. Test:
        integration/test_broker_fixes.py::test_retained_messages_are_saved_after_autosave_on_changes."""
        await super().retain_message(source_session, topic_name, data, qos)
        self._autosave.changed()

    async def autosave(self) -> None:
        """Save the retained messages as `autosave_interval`/`autosave_on_changes` ask."""
        await self._autosave.run(self._retained)

    async def save_retained(self) -> None:
        """Write the retained messages now (if persistence is on)."""
        await self._autosave.save(self._retained)

    def _retained(self) -> list[Retained]:
        return [Retained(topic, bytes(message.data), int(message.qos or 0))
                for topic, message in self._retained_messages.items()]
