"""The embedded MQTT broker: amqtt run in a thread of its own, configured from a `BrokerConf`.

`EmbeddedBroker` owns a thread with its own asyncio event loop, so synchronous code (the CLI,
paho-based tests) can start and stop a broker without an event loop of its own. `run_broker` is
what `fleet broker` runs in the foreground. The broker it runs is `fixes.FleetBroker`: amqtt with
its faults mended, every override of amqtt's internals listed there with its test.

Security comes from `controller.broker.access`, applied by our auth plugin (`plugins`) and
`fixes`: the password file and the ACL, with Mosquitto's meaning. They are reread within a second of changing on disk
(and at once on SIGHUP under `fleet broker`); a client whose credentials no longer hold is
disconnected, as Mosquitto does on reload. With `persistence true` the retained messages live on
in `controller.broker.retained`'s file.

Hostile clients (issue 18): every packet is read whole and checked by `controller.broker.wire`
before amqtt parses it (`connection`), a CONNECT with a client id already connected closes the old
connection first (MQTT 3.1.1 §3.1.4), `max_queued_messages`/`max_queued_bytes` bound what waits to
be sent to one client, and client-supplied text reaches the log bounded and escaped (`logs`).

Actual ports: after start, the ports are read from the bound sockets, so port 0 reports the port
the OS picked, with no pre-bind race.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType

from controller.broker import conf as brokerconf
from controller.broker.conf import BrokerConf
from controller.broker.fixes import FleetBroker
from controller.broker.startup import BrokerError, amqtt_config, prepare, start_failure
from controller.errors import FleetError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


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
        self._broker: FleetBroker | None = None

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
            prepared = prepare(self._conf)
            names, config = amqtt_config(self._conf, prepared.access)
            listeners = dict(zip(names, self._conf.listeners, strict=True))
            broker = FleetBroker(config, prepared, self._conf.limits, listeners)
        except (FleetError, OSError, ValueError) as exc:
            self._error = str(exc) if isinstance(exc, FleetError) else f"the embedded broker cannot start: {exc}"
            self._ready.set()
            return
        try:
            await broker.start()
        except Exception as exc:
            await broker.close_listeners()
            self._error = start_failure(exc, self._conf)
            self._ready.set()
            return
        self._addresses = broker.addresses(names)
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
