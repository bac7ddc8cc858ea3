"""Which device a new session gets: the freshest online device that is not busy."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from controller.liveness import DeviceLive


def candidates(
    devices: Iterable[DeviceLive], *, busy: Collection[str], retired: Collection[str], now: float, ttl: float
) -> list[str]:
    """Device ids in the order a claim should try them: freshest heartbeat first, ties by id."""
    free = [
        d for d in devices
        if d.device_id not in busy and d.device_id not in retired and d.online(now, ttl)
    ]
    free.sort(key=lambda d: (-(d.last_seen or 0.0), d.device_id))
    return [d.device_id for d in free]
