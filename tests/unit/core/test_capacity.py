"""The device count for `--students N` follows from the measured table: capacity.py holds the
figures of bench/results/capacity.md, and its functions meet the target where the table says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.core.capacity import (
    MEASURED_95_S,
    TARGET_S,
    capacity,
    devices_for,
    students_per_device,
)

TABLE = Path(__file__).resolve().parents[3] / "bench/results/capacity.md"
ROW = re.compile(r"^\| (\d+) \| (\d+) \| ([^|]+) \|")


def seconds(cell: str) -> int | None:
    clock = re.fullmatch(r"(\d+):(\d\d)", cell.strip())
    return int(clock.group(1)) * 60 + int(clock.group(2)) if clock else None


def measured() -> dict[tuple[int, int], int | None]:
    """(students, devices) → the table's "recycling: 95 %" column, in seconds."""
    rows = (ROW.match(line) for line in TABLE.read_text(encoding="utf-8").splitlines())
    return {(int(m.group(1)), int(m.group(2))): seconds(m.group(3)) for m in rows if m}


def test_the_figures_are_the_measured_tables() -> None:
    table = measured()
    assert table, f"no rows in {TABLE}"
    assert dict(MEASURED_95_S) == table


def test_the_claimed_devices_meet_the_target_where_measured() -> None:
    table = measured()
    for (students, _), _seconds in table.items():
        devices = devices_for(students)
        if (students, devices) in table:
            met = table[(students, devices)]
            assert met is not None and met <= TARGET_S, (students, devices)
            fewer = table.get((students, devices - 1))
            assert devices == 1 or fewer is None or fewer > TARGET_S, (students, devices)


def test_one_device_does_not_check_in_200_and_the_default_claims_more() -> None:
    one = MEASURED_95_S[(200, 1)]
    assert one is None or one > TARGET_S
    assert devices_for(200) > 1
    assert capacity(devices_for(200)) >= 200


def test_students_per_device_is_what_one_device_meets() -> None:
    per_device = students_per_device()
    assert per_device >= 1
    assert (per_device, 1) in MEASURED_95_S
    assert capacity(1) >= per_device


@pytest.mark.parametrize("students", [1, 30, 60, 61, 120, 150, 199, 200, 250, 300, 301, 1000])
def test_devices_for_is_the_fewest_that_cover(students: int) -> None:
    devices = devices_for(students)
    assert devices >= 1
    assert capacity(devices) >= students
    assert devices == 1 or capacity(devices - 1) < students


def test_more_devices_never_serve_fewer() -> None:
    served = [capacity(devices) for devices in range(0, 12)]
    assert served == sorted(served)
    assert served[0] == 0
