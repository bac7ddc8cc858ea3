"""The fleet and its active sessions counted by state, as the controller's metrics report them.

Pure: the shell hands in the registry's devices, the online set, which devices serve a session, the
inventory and the active sessions it read; these functions count and change nothing. The device
totals are the ones `devices.list` answers with (`views.devices_result` takes them from here), so a
scrape and `fleet devices --json` agree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.core.liveness import DeviceLive
from controller.core.values import NO_INFO, DeviceInfo, SessionRecord


@dataclass(frozen=True, slots=True)
class DeviceCounts:
    """Devices by state; every count leaves retired devices out, except `retired`."""

    total: int
    online: int
    offline: int
    available: int
    """Online, approved and serving no session: what a session start may claim."""
    busy: int
    """Serving a session."""
    retired: int
    flagged: int
    """With any flag raised (flapping, duplicate id, flooding)."""


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """Active sessions by state; each is in exactly one."""

    pending: int
    applied: int
    rejected: int
    degraded: int


def in_service(devices: Iterable[DeviceLive], inventory: Mapping[str, DeviceInfo]) -> list[DeviceLive]:
    """The devices the fleet table lists: all but the retired."""
    return [d for d in devices if not inventory.get(d.device_id, NO_INFO).retired]


def device_counts(devices: Sequence[DeviceLive], online: Collection[str], busy: Mapping[str, int],
                  inventory: Mapping[str, DeviceInfo], now: float) -> DeviceCounts:
    """`devices` the registry's; `busy` device → the session it serves; `inventory` what operators set."""
    return counts_in_service(in_service(devices, inventory), online, busy, inventory, now)


def counts_in_service(listed: Sequence[DeviceLive], online: Collection[str], busy: Mapping[str, int],
                      inventory: Mapping[str, DeviceInfo], now: float) -> DeviceCounts:
    """device_counts of devices already filtered by `in_service` (the fleet table has them too)."""
    n_online = sum(1 for d in listed if d.device_id in online)
    available = sum(1 for d in listed if d.device_id in online and d.device_id not in busy
                    and inventory.get(d.device_id, NO_INFO).approved)
    return DeviceCounts(
        total=len(listed), online=n_online, offline=len(listed) - n_online, available=available,
        busy=sum(1 for device_id in busy if not inventory.get(device_id, NO_INFO).retired),
        retired=sum(1 for info in inventory.values() if info.retired),
        flagged=sum(1 for d in listed if d.flags(now)),
    )


def session_state(record: SessionRecord) -> str:
    """pending, applied, rejected or degraded (lost its device, none free to take over: first)."""
    return "degraded" if record.degraded else config_outcome(record)


def config_outcome(record: SessionRecord) -> str:
    """pending, applied or rejected: what its device made of the session's config (the store never
    holds both an error and an applied time)."""
    if record.error is not None:
        return "rejected"
    return "applied" if record.applied_at is not None else "pending"


def session_counts(active: Iterable[SessionRecord]) -> SessionCounts:
    states = [session_state(r) for r in active]
    return SessionCounts(*(states.count(state) for state in ("pending", "applied", "rejected", "degraded")))
