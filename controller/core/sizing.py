"""How many devices a session start claims, and what a lecturer is told when fewer are free."""

from __future__ import annotations

from controller.contract.requests import MAX_SESSION_DEVICES, SessionStartParams
from controller.core.capacity import TARGET_S, capacity, devices_for


def wanted(request: SessionStartParams) -> int:
    """The devices the request asks for: `devices`, or enough for `students` (at most
    MAX_SESSION_DEVICES), or one."""
    if request.devices is not None:
        return request.devices
    if request.students is not None:
        return min(devices_for(request.students), MAX_SESSION_DEVICES)
    return 1


def shortfall(wanted_devices: int, free: int, room: str | None, *, serving: int = 0) -> str:
    """The not_enough_devices message: how many are free (in `room`) besides the `serving` a running
    session has, what they all serve, and how to take them anyway."""
    where = f" in room {room}" if room else ""
    besides = f" besides the {serving} serving it" if serving else ""
    total = serving + free
    return (f"{wanted_devices} devices wanted but only {free} free{where}{besides}: {total} check in about "
            f"{capacity(total)} students in {TARGET_S // 60} minutes; pass --anyway to "
            + ("add them" if serving else "start on them"))
