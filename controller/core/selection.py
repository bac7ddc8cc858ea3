"""Which device a new session gets: the freshest online device that is free (and in the room, if asked)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from controller.core.liveness import FLOODING, DeviceLive


def candidates(
    devices: Iterable[DeviceLive], *, busy: Collection[str], excluded: Collection[str], now: float, ttl: float,
    room: str | None = None, rooms: Mapping[str, str | None] | None = None,
) -> list[str]:
    """Device ids in the order a claim should try them: freshest heartbeat first, ties by id.

    `excluded` holds retired and unapproved devices; a device flagged flooding (a fault, or worse)
    does not qualify either; with `room`, only devices whose home room (from `rooms`) is that room
    qualify.
    """
    homes = rooms or {}
    free = [
        d for d in devices
        if d.device_id not in busy and d.device_id not in excluded and d.online(now, ttl)
        and (room is None or homes.get(d.device_id) == room)
        and not (d.flagged and FLOODING in d.flags(now))
    ]
    free.sort(key=lambda d: (-(d.last_seen or 0.0), d.device_id))
    return [d.device_id for d in free]


def describe_room(room: str, in_room: Iterable[str], *, online: Collection[str], busy: Mapping[str, int],
                  excluded: Collection[str]) -> str:
    """Why a room has no free device: what is in it and in which state."""
    states = []
    for device_id in sorted(in_room):
        if device_id in excluded:
            states.append(f"{device_id} (retired or unapproved)")
        elif device_id in busy:
            states.append(f"{device_id} (busy: session {busy[device_id]})")
        elif device_id not in online:
            states.append(f"{device_id} (offline)")
    if not states:
        return f"no device is placed in room {room}"
    return f"no free device in room {room}: " + ", ".join(states)
