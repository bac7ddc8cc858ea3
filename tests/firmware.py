"""The firmware's source as the tests read it: constants the controller's models must agree with."""

from __future__ import annotations

import re
from pathlib import Path

FLEET_CORE = Path(__file__).resolve().parents[1] / "firmware/lib/fleet_core/src/fleet_core"


def firmware_constant(name: str, header: str = "limits.h") -> int:
    """The integer `constexpr ... name = N;` in fleet_core's `header`."""
    text = (FLEET_CORE / header).read_text(encoding="utf-8")
    found = re.search(rf"constexpr\s+[\w:]+\s+{name}\s*=\s*(\d+)\s*;", text)
    assert found is not None, f"{name} is not in {FLEET_CORE / header}"
    return int(found.group(1))
