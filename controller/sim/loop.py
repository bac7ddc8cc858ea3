"""The simulator's thread: each device's connection life (queued for a connect token, connecting,
up, backing off, dead, down, stopped), its timers (heartbeats, check-ins, deaths, retries,
revivals, SUBACK watch), paho's connection callbacks, the power cycle of a firmware update and the
clean shutdown. What goes over a connection is `controller.sim.traffic`'s; firmware updates over
time are `controller.sim.updating`'s.

Everything here runs on that one thread: every paho call and every `SimDevice` mutation. Other
threads reach it through the `Simulator` (`controller.sim.simulator`), which posts commands to the
reactor and reads `counters` and `links`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Final

import paho.mqtt.client as paho

from controller.adapters.mqtt import Brokers, broker_of, new_client, parse_broker_urls
from controller.contract.topics import Topics
from controller.core.ratelimit import TokenBucket
from controller.sim.device import SimDevice
from controller.sim.pump import ClientPump
from controller.sim.reactor import Reactor, Timers
from controller.sim.traffic import Close, Counters, Link, Phase, Traffic
from controller.sim.updating import UpdateDriver

if TYPE_CHECKING:
    from paho.mqtt.client import ConnectFlags, DisconnectFlags
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from controller.sim.simulator import SimConfig

log = logging.getLogger(__name__)

HEARTBEAT_JITTER: Final = 0.10
"""Each heartbeat interval is `heartbeat_s` ± 10 %."""
MAX_SELECT_S: Final = 0.1
BACKOFF_S: Final = (1.0, 30.0)
"""Reconnect backoff after a lost connection or a failed connect: first and largest delay."""
CONNECT_BURST_S: Final = 0.05
"""The connect token bucket holds this many seconds' worth of connects."""
STOP_TIMEOUT_S: Final = 10.0
_DISCONNECT_PACKET: Final = b"\xe0\x00"  # MQTT 3.1.1 DISCONNECT: fixed header, no payload


_POWERED: Final = frozenset({Phase.QUEUED, Phase.CONNECTING, Phase.UP, Phase.BACKOFF})


class _Timer(Enum):
    HEARTBEAT = "heartbeat"
    CHECKIN = "checkin"
    DEATH = "death"
    RETRY = "retry"
    REVIVE = "revive"
    SUBACK = "suback"  # amqtt 0.12 can leave a session half-dead: CONNACK sent, nothing else ever handled
    REFUSED = "refused"  # a subscription refused (NATS, while a stream leader moves): connect again


class SimLoop:
    """The devices of `config` and everything done on the simulator's thread (`run`)."""

    def __init__(self, config: SimConfig, now: float) -> None:
        self.config = config
        self._address: Brokers = parse_broker_urls(config.broker_url)
        self._rng = random.Random(config.seed)
        self.links: dict[str, Link] = {}
        for n in range(config.start_index, config.start_index + config.count):
            device_id = config.device_id(n)
            self.links[device_id] = Link(SimDevice(device_id, n, self._rng, now, config.fw), BACKOFF_S[0])
        self._link_list = list(self.links.values())
        self.counters = Counters()
        self._traffic = Traffic(Topics(config.root), self.counters)
        self.cond = threading.Condition()
        self.finished = False
        self._timers: Timers[tuple[Link, _Timer]] = Timers()
        self._connect_queue: deque[Link] = deque()
        self._bucket = TokenBucket(config.connect_rate, max(1.0, config.connect_rate * CONNECT_BURST_S), now)
        self._pump: ClientPump[Link]  # made by open()

    def open(self) -> Reactor[Link]:
        """Make the reactor (on the caller's thread, before `run`) for other threads to post to;
        first the update driver, which may refuse its key file (SimulatorError)."""
        self._traffic.hooks = self._updates = UpdateDriver(self.config.update, self._traffic, rng=self._rng,
                                                           reboot=self.reboot)
        reactor: Reactor[Link] = Reactor()
        self._pump = ClientPump(reactor, self._link_list, time.monotonic())
        return reactor

    def run(self, stop: threading.Event) -> None:
        """The thread's body: connect every device, run until `stop`, then shut down cleanly."""
        try:
            now = time.monotonic()
            for link in self._link_list:
                link.device.booted_at = now
                self._enqueue(link)
                self._schedule_checkin(link, now)
            while not stop.is_set():
                self._tick()
            self._shutdown()
        except Exception:
            log.exception("the simulator loop failed")
        finally:
            self._updates.close()
            self._pump.close_all()
            with self.cond:
                self.finished = True
                self.cond.notify_all()

    def kill(self, link: Link) -> None:
        """Drop the connection with no DISCONNECT; the device stays down until `revive`."""
        if link.phase in (Phase.DOWN, Phase.STOPPED):
            return
        self._cancel(link, *_Timer)
        if link.client is not None and link.client.socket() is not None:
            link.closing = Close.KILL
            self._pump.abort(link)
        else:
            link.phase = Phase.DOWN

    def reboot(self, link: Link) -> None:
        """A firmware update's power cycle: dropped with no DISCONNECT (the will), booted with boot + 1."""
        if link.phase is Phase.UP and link.client is not None and link.client.socket() is not None:
            link.closing = Close.REBOOT
            self._pump.abort(link)  # `_on_disconnect` cancels its timers and boots it
        elif link.phase not in (Phase.DOWN, Phase.DEAD, Phase.STOPPED):
            link.device.reboot(time.monotonic())

    def revive(self, link: Link) -> bool:
        """Boot a killed or dead device again; False when it is neither."""
        if link.phase not in (Phase.DOWN, Phase.DEAD):
            return False
        self._cancel(link, _Timer.REVIVE)
        self._boot(link, time.monotonic())
        return True

    # --- the loop ---

    def _tick(self) -> None:
        pump = self._pump
        pump.poll(self._select_timeout(time.monotonic()))
        pump.reactor.run_commands()
        now = time.monotonic()
        self._run_timers(now)
        self._updates.run_timers(now)
        self._run_connects(now)
        pump.misc(now)
        pump.flush()

    def _select_timeout(self, now: float) -> float:
        timeout = MAX_SELECT_S
        for due in (self._timers.next_due(), self._updates.next_due()):
            if due is not None:
                timeout = min(timeout, due - now)
        if self._connect_queue:
            timeout = min(timeout, self._bucket.wait_s())
        return max(0.0, timeout)

    def _run_timers(self, now: float) -> None:
        for link, kind in self._timers.pop_due(now):
            try:
                self._on_timer(link, kind, now)
            except Exception:
                log.exception("%s: %s timer failed", link.name, kind.value)

    def _on_timer(self, link: Link, kind: _Timer, now: float) -> None:
        if kind is _Timer.HEARTBEAT:
            if link.phase is Phase.UP:
                self._heartbeat(link, now)
        elif kind is _Timer.CHECKIN:
            if link.phase in _POWERED:
                self._traffic.visit(link, now)
                self._schedule_checkin(link, now)
        elif kind is _Timer.DEATH:
            if link.phase is Phase.UP:
                log.debug("%s dies", link.name)
                self.counters.deaths += 1
                link.closing = Close.DEATH
                self._pump.abort(link)
        elif kind is _Timer.RETRY:
            if link.phase is Phase.BACKOFF:
                self._enqueue(link)
        elif kind is _Timer.REVIVE:
            if link.phase is Phase.DEAD:
                self._boot(link, now)
        elif kind is _Timer.REFUSED and link.phase is Phase.UP:
            self._pump.abort(link)
        elif kind is _Timer.SUBACK and link.phase is Phase.UP:
            log.warning("%s: no SUBACK within %.1f s; connecting again", link.name, self.config.suback_timeout_s)
            self._pump.abort(link)

    def _heartbeat(self, link: Link, now: float) -> None:
        self._traffic.heartbeat(link, now)
        self._traffic.resend_unacked(link, now, self.config.ack_timeout_s)
        spread = self.config.heartbeat_s * HEARTBEAT_JITTER
        self._schedule(link, _Timer.HEARTBEAT, now + self.config.heartbeat_s + self._rng.uniform(-spread, spread))

    def _run_connects(self, now: float) -> None:
        bucket = self._bucket
        bucket.refill(now)
        while self._connect_queue and bucket.ready():
            link = self._connect_queue.popleft()
            if link.phase is Phase.QUEUED:
                bucket.take()
                self._connect(link, now)

    def _schedule(self, link: Link, kind: _Timer, due: float) -> None:
        self._timers.schedule((link, kind), due)

    def _cancel(self, link: Link, *kinds: _Timer) -> None:
        self._timers.cancel(*((link, kind) for kind in kinds))

    def _schedule_checkin(self, link: Link, now: float) -> None:
        if self.config.checkin_rate > 0:
            self._schedule(link, _Timer.CHECKIN, now + self._rng.expovariate(self.config.checkin_rate / 60.0))

    # --- connection life ---

    def _enqueue(self, link: Link) -> None:
        link.phase = Phase.QUEUED
        self._connect_queue.append(link)

    def _new_client(self, link: Link) -> paho.Client:
        # with a broker list, device n starts at entry n: the fleet is spread over a cluster's nodes
        client = new_client(self._address, link.name, start=link.device.index)
        address = self._address.addresses[link.device.index % len(self._address.addresses)]
        client.user_data_set(link)
        self._pump.attach(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._traffic.on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        client.connect_async(address.host, address.port, self.config.keepalive_s)
        link.client = client
        return client

    def _connect(self, link: Link, now: float) -> None:
        client = link.client or self._new_client(link)
        self._traffic.will(link, client)
        link.phase = Phase.CONNECTING
        link.closing = None
        try:
            client.reconnect()  # a blocking TCP connect; then CONNECT is queued for the pump's flush
        except OSError as exc:  # refused, unreachable, out of file descriptors
            failures = self.counters.connect_failures = self.counters.connect_failures + 1
            if failures in (1, 10, 100) or failures % 1000 == 0:
                log.warning("%s: connect to %s failed (%d failures so far): %s", link.name,
                            broker_of(client), failures, exc)
            self._retry_later(link, now)

    def _retry_later(self, link: Link, now: float) -> None:
        link.phase = Phase.BACKOFF
        delay = link.backoff_s * self._rng.uniform(0.5, 1.0)
        link.backoff_s = min(BACKOFF_S[1], link.backoff_s * 2)
        self._schedule(link, _Timer.RETRY, now + delay)

    def _boot(self, link: Link, now: float) -> None:
        """Power on again after a death or a kill: boot + 1, then connect."""
        link.device.reboot(now)
        link.backoff_s = BACKOFF_S[0]
        self._enqueue(link)
        self._schedule_checkin(link, now)

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
                link.phase = Phase.STOPPED
                continue
            link.closing = Close.STOP
            if link.phase is Phase.UP:
                link.shutdown_mid = self._traffic.shutdown(link, client)
                if link.shutdown_mid is not None:
                    continue
            client.disconnect()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self._pump.reactor.sockets() > 0 and time.monotonic() < deadline:
            self._pump.flush()
            self._pump.poll(0.05)
        for link in self._link_list:
            self._pump.abort(link)

    # --- paho callbacks (inside the pump's loop_read/loop_write/loop_misc and reconnect) ---

    def _on_connect(
        self, client: paho.Client, link: Link, flags: ConnectFlags, reason: ReasonCode, properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("%s: the broker refused the connection: %s", link.name, reason)
            return  # paho closes the socket next; _on_disconnect schedules the retry
        link.phase = Phase.UP
        link.backoff_s = BACKOFF_S[0]
        link.device.link_up()
        now = time.monotonic()
        self._traffic.greet(link, client)
        self._schedule(link, _Timer.SUBACK, now + self.config.suback_timeout_s)
        self._traffic.heartbeat(link, now)
        self._traffic.checkins(link)
        self._schedule(link, _Timer.HEARTBEAT, now + self.config.heartbeat_s * self._rng.uniform(0.1, 1.0))
        if self.config.death_rate > 0:
            self._schedule(link, _Timer.DEATH, now + self._rng.expovariate(self.config.death_rate / 3600.0))
        with self.cond:
            self.counters.connected += 1
            self.cond.notify_all()

    def _on_subscribe(
        self, client: paho.Client, link: Link, mid: int, reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._cancel(link, _Timer.SUBACK)
        if any(code.is_failure for code in reason_codes):
            # a device without its config or ack subscription would run on deaf: connect again
            # (NATS refuses subscriptions for a few seconds while a stream leader moves)
            log.warning("%s: the broker refused a subscription: %s; connecting again", link.name, reason_codes)
            self._schedule(link, _Timer.REFUSED, 0.0)  # not from inside paho's read: on the next tick
            return
        if link.phase is Phase.UP and link.closing is None:  # subscribed, its config (in flash) applied;
            self._updates.on_up(link, time.monotonic())  # not while it is losing power (a SUBACK read on the way out)

    def _on_publish(
        self, client: paho.Client, link: Link, mid: int, reason: ReasonCode, properties: Properties,
    ) -> None:
        if link.closing is Close.STOP and mid == link.shutdown_mid:
            link.shutdown_mid = None
            _disconnect_after_shutdown(link)

    def _on_disconnect(
        self, client: paho.Client, link: Link, flags: DisconnectFlags, reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if link.phase is Phase.UP:
            with self.cond:
                self.counters.connected -= 1
        self._cancel(link, _Timer.HEARTBEAT, _Timer.DEATH, _Timer.SUBACK, _Timer.REFUSED)
        closing, link.closing = link.closing, None
        now = time.monotonic()
        if closing is Close.KILL:
            link.phase = Phase.DOWN
        elif closing is Close.REBOOT:
            self._boot(link, now)
        elif closing is Close.DEATH:
            link.phase = Phase.DEAD
            self._cancel(link, _Timer.CHECKIN)
            self._schedule(link, _Timer.REVIVE, now + self._rng.uniform(*self.config.down_s))
        elif closing is Close.STOP:
            link.phase = Phase.STOPPED
        else:
            log.debug("%s: connection lost (%s)", link.name, reason)
            self._retry_later(link, now)


def _disconnect_after_shutdown(link: Link) -> None:
    """Send DISCONNECT and let the broker close the connection (see `SimLoop._shutdown`)."""
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
