"""How many students a session's devices check in within the target, and so how many devices
`--students N` claims: the measured table of bench/results/capacity.md (simulated lectures,
`controller/sim/lecture.py`, the median of 200 seeds, slot recycling on), held here as data and
to the file by tests/unit/core/test_capacity.py, so the default follows from the measurement.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

TARGET_S: Final = 300
"""A lecture hall is checked in to 95 % within five minutes of the session start."""
MEASURED_95_S: Final[Mapping[tuple[int, int], int | None]] = MappingProxyType({
    (60, 1): 214, (60, 2): 192, (60, 3): 192,
    (120, 1): 378, (120, 2): 210, (120, 3): 193,
    (200, 1): 613, (200, 2): 319, (200, 3): 227,
    (300, 1): 908, (300, 2): 463, (300, 3): 319,
})
"""(students, devices) → seconds to 95 % checked in with recycling (capacity.md, rounded to the
second); None: not within the lecture."""


def _met(students: int, devices: int) -> bool:
    seconds = MEASURED_95_S[(students, devices)]
    return seconds is not None and seconds <= TARGET_S


def _measured_devices() -> int:
    return max(devices for _, devices in MEASURED_95_S)


def _measured_capacity(devices: int) -> int:
    """The most students of the table `devices` devices check in to 95 % within the target; 0 when
    none."""
    return max((n for n, k in MEASURED_95_S if k == devices and _met(n, k)), default=0)


def students_per_device() -> int:
    """Students one recycling device checks in to 95 % within TARGET_S: the table's one-device
    figure, or what a device adds on average between one and the most measured, the smaller."""
    most = _measured_devices()
    added = (_measured_capacity(most) - _measured_capacity(1)) // max(1, most - 1)
    return min(_measured_capacity(1), added) if most > 1 else _measured_capacity(1)


def capacity(devices: int) -> int:
    """Students `devices` devices check in to 95 % within TARGET_S: the table where it was measured,
    beyond it the most measured plus students_per_device() for each device more."""
    if devices < 1:
        return 0
    most = _measured_devices()
    if devices <= most:
        return max(_measured_capacity(k) for k in range(1, devices + 1))
    return _measured_capacity(most) + (devices - most) * students_per_device()


def devices_for(students: int) -> int:
    """The devices to claim for `students` (at least 1): the fewest whose capacity covers them."""
    per_device = students_per_device()
    if per_device < 1:
        raise ValueError("the measured table has no device count that meets the target")
    devices = 1
    while capacity(devices) < students:
        devices += 1
    return devices
