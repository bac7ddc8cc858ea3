"""When a session's device has been offline for longer than the session's grace period. Pure."""

from __future__ import annotations

from collections.abc import Collection, Mapping


def track_offline(busy: Mapping[str, int], online: Collection[str], offline_since: dict[str, float],
                  now: float) -> None:
    """Note when each busy device was first seen offline; forget devices that are back or free."""
    for device_id in list(offline_since):
        if device_id in online or device_id not in busy:
            del offline_since[device_id]
    for device_id in busy:
        if device_id not in online:
            offline_since.setdefault(device_id, now)


def due(busy: Mapping[str, int], offline_since: Mapping[str, float], grace: Mapping[int, float],
        now: float, default_grace: float = 60.0) -> list[tuple[int, str]]:
    """(session, device) pairs to move: offline for at least the session's grace period."""
    return sorted(
        (session_id, device_id) for device_id, session_id in busy.items()
        if device_id in offline_since and now - offline_since[device_id] >= grace.get(session_id, default_grace)
    )
