"""Simulated ESP32 fleet: many devices speaking MQTT contract v1 from one process and one thread.

Owns the device simulator used by tests, demos and load runs. Two layers:

* `SimDevice` (`controller.sim.device`) decides, with no I/O and no clock.
* `Simulator` (here) is the shell: one paho client per device (MQTT 3.1.1, clean session, client id =
  device id), all driven from a single thread with `selectors` through paho's external-loop API
  (`socket()`, `loop_read/loop_write/loop_misc()`, `want_write()` and the `on_socket_*`
  callbacks), a timer heap for heartbeats, check-ins and deaths, and a token bucket that paces
  (re)connects so a broker is not flooded. No thread per device: N devices are N sockets in one
  epoll set.

Thread rules: every paho call and every `SimDevice` mutation happens on the simulator's thread.
Other threads use `kill`/`revive`/`stop` (handed to that thread through a command queue) and read
`stats()`/`devices` (snapshots of plain values).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import TYPE_CHECKING, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from controller.adapters.mqtt import DEFAULT_BROKER_URL, BrokerAddress, new_client, parse_broker_url
from controller.contract.messages import (
    JsonObject,
    encode,
)
from controller.contract.topics import Topics, valid_device_id
from controller.errors import FleetError, Rejected
from controller.sim.device import DeviceView, SimDevice

if TYPE_CHECKING:
    from paho.mqtt.client import ConnectFlags, DisconnectFlags, MQTTMessage, SocketLike
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

HEARTBEAT_JITTER: Final = 0.10
"""Each heartbeat interval is `heartbeat_s` ± 10 %."""

MISC_PERIOD_S: Final = 1.0
"""Every client's `loop_misc()` (keepalive, CONNACK timeout) runs at least this often."""
MAX_SELECT_S: Final = 0.1
BACKOFF_S: Final = (1.0, 30.0)
"""Reconnect backoff after a lost connection or a failed connect: first and largest delay."""
CONNECT_BURST_S: Final = 0.05
"""The connect token bucket holds this many seconds' worth of connects."""
STOP_TIMEOUT_S: Final = 10.0
COMMAND_TIMEOUT_S: Final = 10.0
_ABORT_READS: Final = 16
_DISCONNECT_PACKET: Final = b"\xe0\x00"  # MQTT 3.1.1 DISCONNECT: fixed header, no payload


class SimulatorError(FleetError):
    """A bad simulator config or a request the simulator cannot carry out."""


# --- configuration and snapshots -----------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; every rate is per device."""

    broker_url: str = DEFAULT_BROKER_URL
    root: str = "fleet"
    count: int = 10
    id_prefix: str = "sim-"
    heartbeat_s: float = 30.0
    checkin_rate: float = 0.0
    """Check-ins per device per minute while its config has an active session."""
    death_rate: float = 0.0
    """Abrupt deaths (socket dropped, no DISCONNECT) per device per hour."""
    seed: int | None = None
    start_index: int = 1
    """Device ids are `{id_prefix}{n:05d}` (`sim-00001`, ...) for n from `start_index`."""
    keepalive_s: int = 60
    connect_rate: float = 250.0
    """(Re)connects per second for the whole simulator."""
    down_s: tuple[float, float] = (5.0, 60.0)
    """How long a dead device stays down before it boots again."""
    suback_timeout_s: float = 10.0
    """A connection whose SUBACK does not come in time is dropped and made again (see `_Timer.SUBACK`)."""

    def __post_init__(self) -> None:
        if self.count < 0 or self.start_index < 0:
            raise SimulatorError("count and start_index must not be negative")
        for index in (self.start_index, self.start_index + max(self.count - 1, 0)):
            if not valid_device_id(self.device_id(index)):
                raise SimulatorError(f"id prefix {self.id_prefix!r} gives a bad device id {self.device_id(index)!r}")
        if self.heartbeat_s <= 0 or self.connect_rate <= 0 or self.keepalive_s < 1 or self.suback_timeout_s <= 0:
            raise SimulatorError("heartbeat_s, connect_rate, keepalive_s and suback_timeout_s must be positive")
        if self.checkin_rate < 0 or self.death_rate < 0:
            raise SimulatorError("checkin_rate and death_rate must not be negative")
        low, high = self.down_s
        if not 0 <= low <= high:
            raise SimulatorError(f"down_s must be (low, high) with 0 <= low <= high, not {self.down_s!r}")
        try:
            Topics(self.root)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from exc

    def device_id(self, index: int) -> str:
        return f"{self.id_prefix}{index:05d}"

    def device_ids(self) -> list[str]:
        return [self.device_id(n) for n in range(self.start_index, self.start_index + self.count)]


@dataclass(frozen=True, slots=True)
class SimStats:
    """Counters since start; `connected` is the number of devices connected now."""

    connected: int
    published: int
    configs_applied: int
    configs_rejected: int
    configs_ignored: int
    checkins_sent: int
    """Events sent, resends included."""
    checkins_acked: int
    """Events dropped from a queue because an ack covered them."""
    checkins_dropped: int
    deaths: int
    connect_failures: int
    bad_inbound: int


# --- the shell -----------------------------------------------------------------------------------


class _Phase(Enum):
    IDLE = "idle"  # not started
    QUEUED = "queued"  # waiting for a connect token
    CONNECTING = "connecting"  # socket open, no CONNACK yet
    UP = "up"
    BACKOFF = "backoff"  # connection lost or refused; retrying later
    DEAD = "dead"  # died at random; boots again by itself
    DOWN = "down"  # killed by `kill()`; waits for `revive()`
    STOPPED = "stopped"


_POWERED: Final = frozenset({_Phase.QUEUED, _Phase.CONNECTING, _Phase.UP, _Phase.BACKOFF})


class _Close(Enum):
    """Why the simulator itself closes a connection."""

    KILL = "kill"
    DEATH = "death"
    STOP = "stop"


class _Timer(Enum):
    HEARTBEAT = "heartbeat"
    CHECKIN = "checkin"
    DEATH = "death"
    RETRY = "retry"
    REVIVE = "revive"
    SUBACK = "suback"  # amqtt 0.12 can leave a session half-dead: CONNACK sent, nothing else ever handled


class _Link:
    """A device with its paho client and where it is in its connection's life."""

    __slots__ = ("backoff_s", "client", "closing", "device", "phase", "shutdown_mid", "timers")

    def __init__(self, device: SimDevice) -> None:
        self.device = device
        self.client: paho.Client | None = None
        self.phase = _Phase.IDLE
        self.closing: _Close | None = None
        self.timers: dict[_Timer, int] = {}  # the live heap entry of each timer kind, by sequence number
        self.backoff_s = BACKOFF_S[0]
        self.shutdown_mid: int | None = None


@dataclass(slots=True)
class _Counters:
    connected: int = 0
    published: int = 0
    configs_applied: int = 0
    configs_rejected: int = 0
    configs_ignored: int = 0
    checkins_sent: int = 0
    checkins_acked: int = 0
    deaths: int = 0
    connect_failures: int = 0
    bad_inbound: int = 0


class Simulator:
    """N simulated devices on one broker, run by one background thread (`start`/`stop`)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._address: BrokerAddress = parse_broker_url(config.broker_url)
        self._topics = Topics(config.root)
        self._rng = random.Random(config.seed)
        now = time.monotonic()
        self._links: dict[str, _Link] = {}
        for n in range(config.start_index, config.start_index + config.count):
            device_id = config.device_id(n)
            self._links[device_id] = _Link(SimDevice(device_id, n, self._rng, now))
        self._link_list = list(self._links.values())
        self._counters = _Counters()
        self._sel: selectors.BaseSelector  # these three are made by start()
        self._wake_r: socket.socket
        self._wake_w: socket.socket
        self._dirty: set[_Link] = set()  # paho has bytes to send: try a write before the next select
        self._armed: set[_Link] = set()  # a write would block: registered for EVENT_WRITE
        self._timers: list[tuple[float, int, _Link, _Timer]] = []
        self._timer_seq = itertools.count()
        self._connect_queue: deque[_Link] = deque()
        self._burst = max(1.0, config.connect_rate * CONNECT_BURST_S)
        self._tokens = self._burst
        self._tokens_at = now
        self._misc_credit = 0.0
        self._misc_at = now
        self._misc_cursor = 0
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stop_requested = threading.Event()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._finished = False

    # --- public API (any thread) -----------------------------------------------------------------

    def start(self) -> None:
        """Start the simulator's thread; devices connect at `connect_rate` per second."""
        if self._thread is not None:
            raise SimulatorError("the simulator was started already")
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="fleet-simulator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Publish a retained `reason: shutdown` offline status for every connected device,
        disconnect them cleanly and end the thread. Calling it again does nothing."""
        thread = self._thread
        if thread is None:
            return
        self._stop_requested.set()
        self._wake()
        thread.join(timeout + 2.0)
        if thread.is_alive():
            log.warning("the simulator thread did not end within %.1f s", timeout + 2.0)

    def wait_connected(self, n: int, timeout: float) -> bool:
        """Wait until at least `n` devices are connected; False at the timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self._counters.connected >= n or self._finished, timeout)
            return self._counters.connected >= n

    def stats(self) -> SimStats:
        c = self._counters
        dropped = sum(link.device.dropped for link in self._link_list)
        return SimStats(
            c.connected, c.published, c.configs_applied, c.configs_rejected, c.configs_ignored, c.checkins_sent,
            c.checkins_acked, dropped, c.deaths, c.connect_failures, c.bad_inbound,
        )

    @property
    def devices(self) -> Mapping[str, DeviceView]:
        """A snapshot of every device, by id."""
        return {device_id: link.device.view(link.phase is _Phase.UP) for device_id, link in self._links.items()}

    def device(self, device_id: str) -> DeviceView:
        link = self._link(device_id)
        return link.device.view(link.phase is _Phase.UP)

    def kill(self, device_id: str) -> None:
        """Drop the device's connection without DISCONNECT (the broker publishes its will); it
        stays down until `revive`."""
        link = self._link(device_id)
        self._submit(lambda: self._kill(link))

    def revive(self, device_id: str) -> None:
        """Boot a killed (or dead) device again: `boot` rises by one and it reconnects."""
        link = self._link(device_id)
        self._submit(lambda: self._revive_command(link))

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _link(self, device_id: str) -> _Link:
        try:
            return self._links[device_id]
        except KeyError:
            raise SimulatorError(f"no simulated device {device_id!r}") from None

    def _submit(self, command: Callable[[], None]) -> None:
        """Run `command` on the simulator's thread and wait for it; its exception is re-raised."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._stop_requested.is_set():
            raise SimulatorError("the simulator is not running")
        done = threading.Event()
        errors: list[Exception] = []

        def run() -> None:
            try:
                command()
            except Exception as exc:  # handed back to the caller's thread
                errors.append(exc)
            finally:
                done.set()

        self._commands.put(run)
        self._wake()
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        while not done.wait(0.05):
            if self._finished or time.monotonic() > deadline:
                raise SimulatorError("the simulator stopped or did not answer in time")
        if errors:
            raise errors[0]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # a wake-up is pending already, or the loop has closed
            self._wake_w.send(b"\0")

    # --- the loop (simulator thread) -------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._sel.register(self._wake_r, selectors.EVENT_READ, None)
            now = time.monotonic()
            for link in self._link_list:
                link.device.booted_at = now
                self._enqueue(link)
                self._schedule_checkin(link, now)
            while not self._stop_requested.is_set():
                self._tick()
            self._shutdown()
        except Exception:
            log.exception("the simulator loop failed")
        finally:
            self._close_all()
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def _tick(self) -> None:
        self._poll(self._select_timeout(time.monotonic()))
        self._run_commands()
        now = time.monotonic()
        self._run_timers(now)
        self._run_connects(now)
        self._run_misc(now)
        self._flush()

    def _poll(self, timeout: float) -> None:
        for key, mask in self._sel.select(timeout):
            link = key.data
            if link is None:
                self._drain_wake()
                continue
            client = link.client
            if client is None:
                continue
            try:
                if mask & selectors.EVENT_READ:
                    client.loop_read()
                if mask & selectors.EVENT_WRITE and client.socket() is not None:
                    client.loop_write()
            except Exception:
                log.exception("%s: its network loop failed; dropping the connection", link.device.device_id)
                self._abort(link)

    def _select_timeout(self, now: float) -> float:
        timeout = MAX_SELECT_S
        if self._timers:
            timeout = min(timeout, self._timers[0][0] - now)
        if self._connect_queue:
            timeout = min(timeout, (1.0 - self._tokens) / self.config.connect_rate)
        return max(0.0, timeout)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def _run_timers(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, seq, link, kind = heapq.heappop(timers)
            if link.timers.get(kind) != seq:
                continue  # cancelled or replaced
            del link.timers[kind]
            try:
                self._on_timer(link, kind, now)
            except Exception:
                log.exception("%s: %s timer failed", link.device.device_id, kind.value)

    def _on_timer(self, link: _Link, kind: _Timer, now: float) -> None:
        if kind is _Timer.HEARTBEAT:
            if link.phase is _Phase.UP:
                self._send_heartbeat(link, now)
                spread = self.config.heartbeat_s * HEARTBEAT_JITTER
                self._schedule(link, kind, now + self.config.heartbeat_s + self._rng.uniform(-spread, spread))
        elif kind is _Timer.CHECKIN:
            if link.phase in _POWERED:
                if link.device.checkin(now) is not None and link.phase is _Phase.UP:
                    self._send_checkins(link)
                self._schedule_checkin(link, now)
        elif kind is _Timer.DEATH:
            if link.phase is _Phase.UP:
                log.debug("%s dies", link.device.device_id)
                self._counters.deaths += 1
                link.closing = _Close.DEATH
                self._abort(link)
        elif kind is _Timer.RETRY:
            if link.phase is _Phase.BACKOFF:
                self._enqueue(link)
        elif kind is _Timer.REVIVE:
            if link.phase is _Phase.DEAD:
                self._boot(link, now)
        elif kind is _Timer.SUBACK and link.phase is _Phase.UP:
            log.warning("%s: no SUBACK within %.1f s; connecting again", link.device.device_id,
                        self.config.suback_timeout_s)
            self._abort(link)

    def _run_connects(self, now: float) -> None:
        rate = self.config.connect_rate
        self._tokens = min(self._burst, self._tokens + (now - self._tokens_at) * rate)
        self._tokens_at = now
        while self._connect_queue and self._tokens >= 1.0:
            link = self._connect_queue.popleft()
            if link.phase is _Phase.QUEUED:
                self._tokens -= 1.0
                self._connect(link, now)

    def _run_misc(self, now: float) -> None:
        """`loop_misc()` for a slice of the clients, so each gets one every MISC_PERIOD_S."""
        links = self._link_list
        if not links:
            return
        self._misc_credit += len(links) * (now - self._misc_at) / MISC_PERIOD_S
        self._misc_at = now
        n = min(len(links), int(self._misc_credit))
        self._misc_credit -= n
        for _ in range(n):
            link = links[self._misc_cursor]
            self._misc_cursor = (self._misc_cursor + 1) % len(links)
            client = link.client
            if client is not None and client.socket() is not None:
                try:
                    client.loop_misc()
                except Exception:
                    log.exception("%s: loop_misc failed", link.device.device_id)

    def _flush(self) -> None:
        """Write what paho queued; a socket that would block is left to the selector."""
        if not self._dirty:
            return
        for link in list(self._dirty):
            client = link.client
            if client is None or client.socket() is None:
                self._dirty.discard(link)
                continue
            try:
                client.loop_write()
            except Exception:
                log.exception("%s: write failed", link.device.device_id)
            if link in self._dirty:  # still bytes left: wait until the socket is writable
                self._dirty.discard(link)
                sock = client.socket()
                if sock is not None and link not in self._armed:
                    self._sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, link)
                    self._armed.add(link)

    # --- timers ----------------------------------------------------------------------------------

    def _schedule(self, link: _Link, kind: _Timer, due: float) -> None:
        seq = next(self._timer_seq)
        link.timers[kind] = seq
        heapq.heappush(self._timers, (due, seq, link, kind))

    def _cancel(self, link: _Link, *kinds: _Timer) -> None:
        for kind in kinds:
            link.timers.pop(kind, None)

    def _schedule_checkin(self, link: _Link, now: float) -> None:
        if self.config.checkin_rate > 0:
            self._schedule(link, _Timer.CHECKIN, now + self._rng.expovariate(self.config.checkin_rate / 60.0))

    # --- connection life -------------------------------------------------------------------------

    def _enqueue(self, link: _Link) -> None:
        link.phase = _Phase.QUEUED
        self._connect_queue.append(link)

    def _new_client(self, link: _Link) -> paho.Client:
        address = self._address
        client = new_client(address, link.device.device_id)
        client.user_data_set(link)
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.connect_async(address.host, address.port, self.config.keepalive_s)
        link.client = client
        return client

    def _connect(self, link: _Link, now: float) -> None:
        client = link.client or self._new_client(link)
        device = link.device
        client.will_set(
            self._topics.status(device.device_id), encode(device.will().to_obj(device.device_id)), qos=1, retain=True,
        )
        link.phase = _Phase.CONNECTING
        link.closing = None
        try:
            client.reconnect()  # a blocking TCP connect; then CONNECT is queued for _flush
        except OSError as exc:  # refused, unreachable, out of file descriptors
            self._counters.connect_failures += 1
            if self._counters.connect_failures in (1, 10, 100) or self._counters.connect_failures % 1000 == 0:
                log.warning("%s: connect to %s failed (%d failures so far): %s", device.device_id,
                            self._address.url, self._counters.connect_failures, exc)
            self._retry_later(link, now)

    def _retry_later(self, link: _Link, now: float) -> None:
        link.phase = _Phase.BACKOFF
        delay = link.backoff_s * self._rng.uniform(0.5, 1.0)
        link.backoff_s = min(BACKOFF_S[1], link.backoff_s * 2)
        self._schedule(link, _Timer.RETRY, now + delay)

    def _boot(self, link: _Link, now: float) -> None:
        """Power on again after a death or a kill: boot + 1, then connect."""
        link.device.reboot(now)
        link.backoff_s = BACKOFF_S[0]
        self._enqueue(link)
        self._schedule_checkin(link, now)

    def _abort(self, link: _Link) -> None:
        """Close the socket with no DISCONNECT, as a device losing power; paho then notices the
        end of stream and runs its disconnect path (`_on_disconnect`)."""
        client = link.client
        sock = None if client is None else client.socket()
        if client is None or sock is None:
            return
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _ in range(_ABORT_READS):
            if client.socket() is None:
                return
            try:
                client.loop_read()
            except Exception:
                log.exception("%s: failed while closing", link.device.device_id)
                break
        log.warning("%s: socket still open after an abort", link.device.device_id)

    def _kill(self, link: _Link) -> None:
        if link.phase in (_Phase.DOWN, _Phase.STOPPED):
            return
        self._cancel(link, *_Timer)
        if link.client is not None and link.client.socket() is not None:
            link.closing = _Close.KILL
            self._abort(link)
        else:
            link.phase = _Phase.DOWN

    def _revive_command(self, link: _Link) -> None:
        if link.phase not in (_Phase.DOWN, _Phase.DEAD):
            raise SimulatorError(f"{link.device.device_id} is not down (it is {link.phase.value})")
        self._cancel(link, _Timer.REVIVE)
        self._boot(link, time.monotonic())

    def _shutdown(self) -> None:
        """Clean stop: a retained offline status with reason shutdown, then DISCONNECT.

        The status goes out at QoS 1 and DISCONNECT only after its PUBACK (`_on_publish`); then the
        broker closes the connection. paho's own `disconnect()` closes the socket right after
        writing DISCONNECT: if the broker is still sending (a SUBACK, a retained config) the close
        turns into a TCP reset, the broker never reads the status and publishes the will instead
        (seen with Mosquitto; unmended amqtt 0.12.1 loses it too).
        """
        for link in self._link_list:
            self._cancel(link, *_Timer)
            client = link.client
            if client is None or client.socket() is None:
                link.phase = _Phase.STOPPED
                continue
            link.closing = _Close.STOP
            if link.phase is _Phase.UP:
                device = link.device
                info = client.publish(self._topics.status(device.device_id),
                                      encode(device.shutdown().to_obj(device.device_id)), qos=1, retain=True)
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    self._counters.published += 1
                    link.shutdown_mid = info.mid
                    continue
            client.disconnect()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while len(self._sel.get_map()) > 1 and time.monotonic() < deadline:
            self._flush()
            self._poll(0.05)
        for link in self._link_list:
            self._abort(link)

    def _disconnect_after_shutdown(self, link: _Link) -> None:
        """Send DISCONNECT and let the broker close the connection (see `_shutdown`)."""
        client = link.client
        sock = None if client is None else client.socket()
        if client is None or sock is None:
            return
        if client.want_write():  # paho still has bytes queued: it must order DISCONNECT after them
            client.disconnect()
            return
        try:
            sent = sock.send(_DISCONNECT_PACKET)
        except OSError:
            sent = 0
        if sent != len(_DISCONNECT_PACKET):
            client.disconnect()

    def _close_all(self) -> None:
        for link in self._link_list:
            client = link.client
            sock = None if client is None else client.socket()
            if sock is not None:
                sock.close()
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- sending ---------------------------------------------------------------------------------

    def _publish(self, client: paho.Client, topic: str, obj: JsonObject, *, qos: int = 0, retain: bool = False) -> None:
        if client.publish(topic, encode(obj), qos, retain).rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._counters.published += 1

    def _send_heartbeat(self, link: _Link, now: float) -> None:
        client, device = link.client, link.device
        if client is not None:
            heartbeat = device.heartbeat(now).to_obj(device.device_id)
            self._publish(client, self._topics.heartbeat(device.device_id), heartbeat)

    def _send_checkins(self, link: _Link) -> None:
        client, device = link.client, link.device
        if client is None:
            return
        topic = self._topics.attendance(device.device_id)
        for batch in device.unsent_batches():
            self._publish(client, topic, batch.to_obj(device.device_id))
            self._counters.checkins_sent += len(batch.events)

    # --- paho callbacks (simulator thread, inside loop_read/loop_write/loop_misc/reconnect) --------

    def _on_socket_open(self, client: paho.Client, link: _Link, sock: SocketLike) -> None:
        self._sel.register(sock, selectors.EVENT_READ, link)

    def _on_socket_close(self, client: paho.Client, link: _Link, sock: SocketLike) -> None:
        self._dirty.discard(link)
        self._armed.discard(link)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)

    def _on_socket_register_write(self, client: paho.Client, link: _Link, sock: SocketLike) -> None:
        self._dirty.add(link)

    def _on_socket_unregister_write(self, client: paho.Client, link: _Link, sock: SocketLike) -> None:
        self._dirty.discard(link)
        if link in self._armed:
            self._armed.discard(link)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.modify(sock, selectors.EVENT_READ, link)

    def _on_connect(
        self, client: paho.Client, link: _Link, flags: ConnectFlags, reason: ReasonCode, properties: Properties | None,
    ) -> None:
        device = link.device
        if reason.is_failure:
            log.warning("%s: the broker refused the connection: %s", device.device_id, reason)
            return  # paho closes the socket next; _on_disconnect schedules the retry
        link.phase = _Phase.UP
        link.backoff_s = BACKOFF_S[0]
        device.link_up()
        now = time.monotonic()
        topics, device_id = self._topics, device.device_id
        self._publish(client, topics.status(device_id), device.birth().to_obj(device_id), retain=True)
        if device.state is not None:  # re-report what it runs, as the retained state may be gone
            self._publish(client, topics.state(device_id), device.state.to_obj(device_id), retain=True)
        client.subscribe([(topics.config(device_id), 1), (topics.attendance_ack(device_id), 1)])
        self._schedule(link, _Timer.SUBACK, now + self.config.suback_timeout_s)
        self._send_heartbeat(link, now)
        self._send_checkins(link)
        self._schedule(link, _Timer.HEARTBEAT, now + self.config.heartbeat_s * self._rng.uniform(0.1, 1.0))
        if self.config.death_rate > 0:
            self._schedule(link, _Timer.DEATH, now + self._rng.expovariate(self.config.death_rate / 3600.0))
        with self._cond:
            self._counters.connected += 1
            self._cond.notify_all()

    def _on_subscribe(
        self, client: paho.Client, link: _Link, mid: int, reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._cancel(link, _Timer.SUBACK)
        if any(code.is_failure for code in reason_codes):
            log.warning("%s: the broker refused a subscription: %s", link.device.device_id, reason_codes)

    def _on_publish(
        self, client: paho.Client, link: _Link, mid: int, reason: ReasonCode, properties: Properties,
    ) -> None:
        if link.closing is _Close.STOP and mid == link.shutdown_mid:
            link.shutdown_mid = None
            self._disconnect_after_shutdown(link)

    def _on_disconnect(
        self, client: paho.Client, link: _Link, flags: DisconnectFlags, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if link.phase is _Phase.UP:
            with self._cond:
                self._counters.connected -= 1
        self._cancel(link, _Timer.HEARTBEAT, _Timer.DEATH, _Timer.SUBACK)
        closing, link.closing = link.closing, None
        now = time.monotonic()
        if closing is _Close.KILL:
            link.phase = _Phase.DOWN
        elif closing is _Close.DEATH:
            link.phase = _Phase.DEAD
            self._cancel(link, _Timer.CHECKIN)
            self._schedule(link, _Timer.REVIVE, now + self._rng.uniform(*self.config.down_s))
        elif closing is _Close.STOP:
            link.phase = _Phase.STOPPED
        else:
            log.debug("%s: connection lost (%s)", link.device.device_id, reason)
            self._retry_later(link, now)

    def _on_message(self, client: paho.Client, link: _Link, message: MQTTMessage) -> None:
        if link.closing is not None or link.phase is not _Phase.UP:
            return  # a dying device reads nothing
        device = link.device
        topic, payload = message.topic, bytes(message.payload)
        try:
            if topic == self._topics.config(device.device_id):
                self._on_config(client, link, payload)
            elif topic == self._topics.attendance_ack(device.device_id):
                self._counters.checkins_acked += device.on_ack(payload)
            else:  # amqtt 0.12 also sends retained messages matching other clients' subscriptions
                log.debug("%s: ignored a message on %s, not its topic", device.device_id, topic)
        except Rejected as exc:
            self._counters.bad_inbound += 1
            log.info("%s: dropped a message on %s: %s", device.device_id, topic, exc)

    def _on_config(self, client: paho.Client, link: _Link, payload: bytes) -> None:
        device = link.device
        state = device.on_config(payload)
        if state is None:
            self._counters.configs_ignored += 1
            return
        if state.applied:
            self._counters.configs_applied += 1
            log.debug("%s applied config %d", device.device_id, state.config_version)
        else:
            self._counters.configs_rejected += 1
            log.info("%s rejected config %d: %s", device.device_id, state.config_version, state.error)
        self._publish(client, self._topics.state(device.device_id), state.to_obj(device.device_id), retain=True)

