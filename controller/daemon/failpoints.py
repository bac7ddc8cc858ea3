"""Named crash points for the fault suite: `FLEET_FAILPOINT=name` makes the process die there at once,
as kill -9 would (no cleanup, no offline presence). Unset in production, where `hit` is one dict lookup."""

from __future__ import annotations

import os

_ARMED = os.environ.get("FLEET_FAILPOINT", "")


def hit(name: str) -> None:
    if name == _ARMED:
        os._exit(137)
