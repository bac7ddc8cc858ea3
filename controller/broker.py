"""The embedded MQTT broker: amqtt run in a thread of its own, configured from a `BrokerConf`.

This is the one module that imports amqtt. `EmbeddedBroker` owns a thread with its own asyncio
event loop, so synchronous code (the CLI, paho-based tests) can start and stop a broker without
an event loop of its own. `run_broker` is what `fleet broker` runs in the foreground.

Actual ports: amqtt binds with `asyncio.start_server`, and the bound sockets are readable from its
per-listener server objects (`Broker._servers[name].instance.sockets`). We read the ports from
there after start, so port 0 reports the port the OS picked, with no pre-bind race.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from amqtt.broker import Broker

from controller import brokerconf
from controller.brokerconf import BrokerConf, Listener
from controller.errors import FleetError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

_ANONYMOUS_PLUGIN = "amqtt.plugins.authentication.AnonymousAuthPlugin"
_AMQTT_DEFAULT_BIND = "0.0.0.0:1883"  # amqtt's ListenerConfig default, see _amqtt_config
_NOISY_LOGGERS = ("amqtt", "transitions")


class BrokerError(FleetError):
    """The embedded broker could not start or stop; the message is one line."""


class _DropStartupTraceback(logging.Filter):
    """Drop amqtt's "Broker startup failed" traceback: `start()` raises it as one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Broker startup failed"


def _quiet_amqtt_logging() -> None:
    """Keep amqtt's INFO chatter off the console unless the application set its level itself."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    amqtt_broker = logging.getLogger("amqtt.broker")
    if not any(isinstance(f, _DropStartupTraceback) for f in amqtt_broker.filters):
        amqtt_broker.addFilter(_DropStartupTraceback())


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
        names, config = _amqtt_config(self._conf)
        broker = _Broker(config)
        try:
            await broker.start()
        except Exception as exc:
            await _close_listeners(broker)
            self._error = _start_failure(exc, self._conf)
            self._ready.set()
            return
        self._addresses = tuple(_connectable_address(broker, name) for name in names)
        self._ready.set()
        await stop_requested.wait()
        await broker.shutdown()
        log.debug("embedded broker stopped")


class _Broker(Broker):  # type: ignore[misc]
    """amqtt 0.12.1's broker with two of its faults mended (each has a test in test_broker.py).

    - On every connect it sends the client the retained messages of *every* client's subscription
      filters, so a device received other devices' configs: send only those of its own filters.
    - It ends a client's message loop as soon as DISCONNECT is seen, dropping messages still queued
      for delivery, so `mosquitto_pub -m ...` was often lost: deliver the queue first.
    """

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(subscriber is session for subscriber, _qos in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)

    async def _handle_disconnect(self, client_session: Any, handler: Any, disconnect_waiter: Any) -> None:
        pending = client_session.delivered_message_queue
        while not pending.empty():
            delivered = asyncio.get_running_loop().create_future()
            delivered.set_result(pending.get_nowait())
            await self._handle_message_delivery(client_session, handler, delivered)
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)


def _amqtt_config(conf: BrokerConf) -> tuple[list[str], dict[str, Any]]:
    """Translate `conf` to amqtt's config; also return listener names in configuration order."""
    names = [f"listener-{index}" for index in range(len(conf.listeners))]
    listeners = {
        name: {"type": "tcp", "bind": _bind(listener)} for name, listener in zip(names, conf.listeners, strict=True)
    }
    # amqtt requires a listener named "default", and copies "default"'s bind into any other
    # listener whose bind equals amqtt's default bind; naming that one "default" sidesteps it.
    default_name = next((name for name in names if listeners[name]["bind"] == _AMQTT_DEFAULT_BIND), names[0])
    listeners["default"] = listeners.pop(default_name)
    names[names.index(default_name)] = "default"
    # Explicit plugins: no $SYS tree, no packet or event logger. With no auth plugin at all amqtt
    # rejects every client, which is what Mosquitto 2.0 does for `allow_anonymous false` without
    # a password file; amqtt's own plugin would let in any client that merely sends a username.
    plugins: dict[str, dict[str, Any]] = {_ANONYMOUS_PLUGIN: {"allow_anonymous": True}} if conf.allow_anonymous else {}
    return names, {"listeners": listeners, "plugins": plugins}


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
    """Serve the broker in `conf_path` in the foreground until SIGINT or SIGTERM.

    `port`, when given, replaces the first listener's port. Raises `BrokerConfError` or
    `BrokerError` (one line each) if the configuration is bad or the broker cannot start.
    """
    conf = brokerconf.load(conf_path)
    if port is not None:
        conf = brokerconf.with_port(conf, port)
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stop_requested.is_set():
            log.info("received %s, stopping the broker", signal.Signals(signum).name)
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(conf)
    try:
        broker.start()
        for listener, (host, bound) in zip(conf.listeners, broker.addresses, strict=True):
            log.info(
                "broker listening on %s port %d (mqtt://%s:%d)",
                listener.host or "all interfaces",
                bound,
                host,
                bound,
            )
        log.info(
            "anonymous clients %s (config %s)",
            "allowed" if conf.allow_anonymous else "refused",
            conf_path,
        )
        while broker.running and not stop_requested.wait(0.5):
            pass
        if not stop_requested.is_set():
            raise BrokerError("the embedded broker stopped unexpectedly")
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("broker stopped")
