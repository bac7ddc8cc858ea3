"""Simulated ESP32 fleet: many devices speaking MQTT contract v1 from one process and one thread.

Owns the simulator's public face, used by tests, demos and load runs: what to simulate
(`SimConfig`), what it reports (`SimStats`) and `Simulator`, which starts the simulator's thread and
is the only way other threads reach it. The layers below:

* `SimDevice` (`controller.sim.device`) decides, with no I/O and no clock, by the firmware's rules;
  its `Updater` (`controller.sim.update`) does the same for firmware updates.
* `UpdateDriver` (`controller.sim.updating`) runs the updates over time on the one thread, the
  images downloaded over HTTP once per URL (`controller.sim.fetch`).
* `SimLoop` (`controller.sim.loop`) runs on the one thread: each device's connection life, its
  timers and the paho callbacks; one paho client per device (MQTT 3.1.1, clean session, client id =
  device id), reconnects paced by a token bucket so a broker is not flooded.
* `ClientPump` (`controller.sim.pump`) moves every client's socket through one selector
  (`controller.sim.reactor`): no thread per device, N devices are N sockets in one epoll set.

Thread rules: every paho call and every `SimDevice` mutation happens on the simulator's thread.
Other threads use `kill`/`revive`/`stop` (handed to that thread through the reactor's command
queue) and read `stats()`/`devices` (snapshots of plain values).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

from controller.adapters.mqtt import DEFAULT_BROKER_URL, broker_of
from controller.contract.topics import Topics, valid_device_id
from controller.errors import FleetError
from controller.sim.device import FW_VERSION, DeviceView
from controller.sim.loop import STOP_TIMEOUT_S, SimLoop
from controller.sim.reactor import Reactor
from controller.sim.traffic import Link, Phase
from controller.sim.update import UpdateFaults

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S: Final = 10.0


class SimulatorError(FleetError):
    """A bad simulator config or a request the simulator cannot carry out."""


# --- configuration and snapshots -----------------------------------------------------------------


@dataclass(frozen=True)
class UpdateSettings:
    """How the simulated devices take firmware updates (docs/contract.md, `update`)."""

    key: Path | None = None
    """The fleet's public key (PEM) the devices verify images with; without one every update
    command is refused `no_key`."""
    faults: UpdateFaults = field(default_factory=UpdateFaults)
    download_s: float = 5.0
    """How long one device takes to download an image (never less than the real download)."""
    progress_s: float = 1.0
    """At most one `downloading` report per device this often."""
    rollback_s: float = 30.0
    """How long a new image has to confirm before the bootloader goes back to the old one."""

    def __post_init__(self) -> None:
        if self.download_s < 0 or self.progress_s <= 0 or self.rollback_s <= 0:
            raise SimulatorError("download_s must not be negative; progress_s and rollback_s must be positive")


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; every rate is per device."""

    broker_url: str = DEFAULT_BROKER_URL
    root: str = "fleet"
    count: int = 10
    id_prefix: str = "sim-"
    heartbeat_s: float = 30.0
    checkin_rate: float = 0.0
    """Check-in attempts per device per minute while its config has an active session: a student
    of the class at random, so repeats come and are refused as on the device."""
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
    """A connection whose SUBACK does not come in time is dropped and made again (see `controller.sim.loop`)."""
    fw: str = FW_VERSION
    """The firmware version every device runs at start."""
    update: UpdateSettings = field(default_factory=UpdateSettings)
    ack_timeout_s: float = 30.0
    """Unacked check-ins are sent again after this long without an ack moving the queue (the firmware's
    kAckTimeoutMs)."""

    def __post_init__(self) -> None:
        if self.count < 0 or self.start_index < 0:
            raise SimulatorError("count and start_index must not be negative")
        for index in (self.start_index, self.start_index + max(self.count - 1, 0)):
            if not valid_device_id(self.device_id(index)):
                raise SimulatorError(f"id prefix {self.id_prefix!r} gives a bad device id {self.device_id(index)!r}")
        periods = (self.heartbeat_s, self.connect_rate, self.suback_timeout_s, self.ack_timeout_s)
        if min(periods) <= 0 or self.keepalive_s < 1:
            raise SimulatorError("heartbeat_s, connect_rate, keepalive_s, suback_timeout_s and ack_timeout_s must be "
                                 "positive")
        if self.checkin_rate < 0 or self.death_rate < 0:
            raise SimulatorError("checkin_rate and death_rate must not be negative")
        if not 1 <= len(self.fw) < 32:
            raise SimulatorError("fw must be 1..31 characters (esp_app_desc_t.version)")
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
    """Counters since start (a frozen copy of the loop's `Counters`, field for field); `connected`
    is the number of devices connected now."""

    connected: int
    published: int
    configs_applied: int
    configs_rejected: int
    configs_ignored: int
    checkins_sent: int
    """Events sent, resends included."""
    checkins_acked: int
    """Events dropped from a queue because an ack covered them."""
    checkins_repeated: int
    """Visits of a student already checked in this session, refused as the firmware does."""
    checkins_refused: int
    """Check-ins a full queue refused (they take no seq), as the firmware does."""
    deaths: int
    connect_failures: int
    bad_inbound: int
    updates_started: int
    """Update attempts begun (a first `downloading` report)."""
    updates_confirmed: int
    updates_failed: int
    updates_rolled_back: int


# --- the public face --------------------------------------------------------------------------


class Simulator:
    """N simulated devices on one broker, run by one background thread (`start`/`stop`)."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._loop = SimLoop(config, time.monotonic())
        self._reactor: Reactor[Link] | None = None  # made by start()
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the simulator's thread; devices connect at `connect_rate` per second."""
        if self._thread is not None:
            raise SimulatorError("the simulator was started already")
        self._reactor = self._loop.open()
        self._thread = threading.Thread(
            target=self._loop.run, args=(self._stop_requested,), name="fleet-simulator", daemon=True,
        )
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Publish a retained `reason: shutdown` offline status for every connected device,
        disconnect them cleanly and end the thread. Calling it again does nothing."""
        thread, reactor = self._thread, self._reactor
        if thread is None or reactor is None:
            return
        self._stop_requested.set()
        reactor.wake()
        thread.join(timeout + 2.0)
        if thread.is_alive():
            log.warning("the simulator thread did not end within %.1f s", timeout + 2.0)

    def wait_connected(self, n: int, timeout: float) -> bool:
        """Wait until at least `n` devices are connected; False at the timeout."""
        loop = self._loop
        with loop.cond:
            loop.cond.wait_for(lambda: loop.counters.connected >= n or loop.finished, timeout)
            return loop.counters.connected >= n

    def stats(self) -> SimStats:
        return SimStats(**dataclasses.asdict(self._loop.counters))

    @property
    def devices(self) -> Mapping[str, DeviceView]:
        """A snapshot of every device, by id."""
        return {device_id: link.device.view(link.phase is Phase.UP) for device_id, link in self._loop.links.items()}

    def device(self, device_id: str) -> DeviceView:
        link = self._link(device_id)
        return link.device.view(link.phase is Phase.UP)

    def broker_of(self, device_id: str) -> str | None:
        """`host:port` of the broker the device is connected to now; None while it is not up."""
        link = self._link(device_id)
        client = link.client
        return None if client is None or link.phase is not Phase.UP else broker_of(client)

    def kill(self, device_id: str) -> None:
        """Drop the device's connection without DISCONNECT (the broker publishes its will); it
        stays down until `revive`."""
        link = self._link(device_id)
        self._submit(lambda: self._loop.kill(link))

    def revive(self, device_id: str) -> None:
        """Boot a killed (or dead) device again: `boot` rises by one and it reconnects."""
        link = self._link(device_id)

        def revive() -> None:  # on the simulator's thread, where the phase is read
            if not self._loop.revive(link):
                raise SimulatorError(f"{device_id} is not down (it is {link.phase.value})")

        self._submit(revive)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _link(self, device_id: str) -> Link:
        try:
            return self._loop.links[device_id]
        except KeyError:
            raise SimulatorError(f"no simulated device {device_id!r}") from None

    def _submit(self, command: Callable[[], None]) -> None:
        """Run `command` on the simulator's thread and wait for it; its exception is re-raised."""
        thread, reactor = self._thread, self._reactor
        if thread is None or reactor is None or not thread.is_alive() or self._stop_requested.is_set():
            raise SimulatorError("the simulator is not running")
        if not reactor.call(command, COMMAND_TIMEOUT_S, lambda: self._loop.finished):
            raise SimulatorError("the simulator stopped or did not answer in time")
