"""Which devices are alive: birth/will with the boot rule plus a heartbeat TTL, all in memory.

Pure: every function takes `now` (wall-clock seconds). The controller's shell owns one
`Registry`, feeds it decoded messages and flushes `dirty` devices to the database now and then.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from controller.contract.messages import Heartbeat, State, Status
from controller.core.acks import AckMark

NO_ACKS: Final = AckMark()

FLAP_BIRTHS: Final = 6  # this many connects ...
FLAP_WINDOW_S: Final = 300.0  # ... within this window is flapping
FLAG_HOLD_S: Final = 600.0  # how long a raised flag stays up after its last cause
FLAPPING: Final = "flapping"
DUPLICATE_ID: Final = "duplicate_id"
FLOODING: Final = "flooding"
FLOOD_WINDOW_S: Final = 10.0
MAX_DEVICE_RATE: Final = 10.0
"""Messages a second a device may send, averaged over FLOOD_WINDOW_S: its contract sends a heartbeat
every few seconds at most and a check-in batch per student, so more is a fault or an attack."""


class Seen(Enum):
    """What a status message did to the record."""

    APPLIED = "applied"
    STALE = "stale"


@dataclass(slots=True)
class DeviceLive:
    """One device as the controller knows it from the wire."""

    device_id: str
    boot: int = -1
    status_boot: int = -1
    status_online: bool = False
    last_seen: float | None = None
    fw: str | None = None
    ip: str | None = None
    heartbeat: Heartbeat | None = None
    reported: State | None = None
    births: tuple[float, ...] = ()  # the last FLAP_BIRTHS connects (a tuple: a deque costs 768 B a device)
    flagged: dict[str, float] | None = None  # flag → until; None until a first flag (most devices never)
    window_at: float = float("-inf")  # the start of the current rate window ...
    window_n: int = 0  # ... and the messages received in it
    acks: AckMark = NO_ACKS  # how far its check-ins were acked in order (controller.core.acks)

    def flags(self, now: float) -> list[str]:
        return sorted(flag for flag, until in (self.flagged or {}).items() if until > now)

    def online(self, now: float, ttl: float) -> bool:
        return (
            self.status_online
            and self.status_boot == self.boot
            and self.last_seen is not None
            and now - self.last_seen <= ttl
        )


@dataclass
class Registry:
    """Every device seen, keyed by id; `dirty` holds ids whose record changed since the last flush."""

    ttl: float = 90.0
    max_rate: float = MAX_DEVICE_RATE
    devices: dict[str, DeviceLive] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    raised: list[tuple[str, str]] = field(default_factory=list)  # (device, flag) newly raised, for the log

    def _flag(self, device: DeviceLive, flag: str, now: float) -> None:
        if device.flagged is None:
            device.flagged = {}
        if device.flagged.get(flag, 0.0) <= now:
            self.raised.append((device.device_id, flag))
        device.flagged[flag] = now + FLAG_HOLD_S

    def get(self, device_id: str) -> DeviceLive:
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = DeviceLive(device_id)
            self.dirty.add(device_id)
        return device

    def __iter__(self) -> Iterator[DeviceLive]:
        return iter(self.devices.values())

    def __len__(self) -> int:
        return len(self.devices)

    def admit(self, device_id: str, now: float) -> bool:
        """Count one message from `device_id`; False when it is over its rate (flagged `flooding`,
        the message to be dropped unread). Fixed windows: a few operations on the hot path."""
        device = self.devices.get(device_id)
        if device is None:
            return True
        if not 0 <= now - device.window_at < FLOOD_WINDOW_S:  # a new window (or the clock stepped back)
            device.window_at, device.window_n = now, 1
            return True
        device.window_n += 1
        limit = self.max_rate * FLOOD_WINDOW_S
        if device.window_n <= limit:
            return True
        if device.window_n - 1 <= limit:  # the first message over: raise the flag once a window
            self._flag(device, FLOODING, now)
        return False

    def on_status(self, device_id: str, status: Status, now: float, *, retained: bool) -> Seen:
        """Birth or will. A status from an older boot than one already seen online is stale."""
        device = self.get(device_id)
        if status.boot < device.boot:
            if status.online and not retained:  # boots only rise: another device is using this id
                self._flag(device, DUPLICATE_ID, now)
            return Seen.STALE
        if status.online and not retained:
            device.births = (*device.births[-(FLAP_BIRTHS - 1):], now)
            if len(device.births) == FLAP_BIRTHS and now - device.births[0] <= FLAP_WINDOW_S:
                self._flag(device, FLAPPING, now)
        device.boot = status.boot
        device.status_boot = status.boot
        device.status_online = status.online
        if status.fw is not None:
            device.fw = status.fw
        if status.ip is not None:
            device.ip = status.ip
        if status.online and not retained:
            device.last_seen = now
        self.dirty.add(device_id)
        return Seen.APPLIED

    def on_heartbeat(self, device_id: str, heartbeat: Heartbeat, now: float) -> Seen:
        device = self.get(device_id)
        if heartbeat.boot < device.boot:
            self._flag(device, DUPLICATE_ID, now)
            return Seen.STALE
        device.boot = heartbeat.boot
        device.last_seen = now
        device.heartbeat = heartbeat
        if heartbeat.fw is not None:
            device.fw = heartbeat.fw
        self.dirty.add(device_id)
        return Seen.APPLIED

    def on_state(self, device_id: str, state: State) -> None:
        self.get(device_id).reported = state
        self.dirty.add(device_id)

    def restore(self, device_id: str, *, last_seen: float | None, boot: int | None, fw: str | None) -> None:
        """Seed a record from the database at start, before retained statuses arrive."""
        device = self.devices.setdefault(device_id, DeviceLive(device_id))
        device.last_seen = last_seen
        device.boot = boot if boot is not None else -1
        device.fw = fw

    def merge(self, device_id: str, *, last_seen: float | None, boot: int | None) -> None:
        """Fold in what another controller recorded (shared subscriptions split heartbeats)."""
        if last_seen is None:
            return
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = DeviceLive(device_id)
        if device.last_seen is None or last_seen > device.last_seen:
            device.last_seen = last_seen
        if boot is not None and boot > device.boot:
            device.boot = boot

    def take_dirty(self) -> list[DeviceLive]:
        """The records changed since the last call (to flush), no longer dirty."""
        ids, self.dirty = self.dirty, set()
        return [self.devices[i] for i in ids if i in self.devices]

    def keep_dirty(self, device_ids: Iterable[str]) -> None:
        """Mark taken records dirty again (their flush failed: the next one writes them)."""
        self.dirty.update(device_ids)

    def take_raised(self) -> list[tuple[str, str]]:
        """(device, flag) of the flags raised since the last call (to log), cleared."""
        raised, self.raised = self.raised, []
        return raised

    def forget(self, device_id: str) -> None:
        """Drop a device's record; it is not flushed."""
        self.devices.pop(device_id, None)
        self.dirty.discard(device_id)

    def online_ids(self, now: float) -> set[str]:
        ttl = self.ttl
        return {d.device_id for d in self.devices.values() if d.online(now, ttl)}
