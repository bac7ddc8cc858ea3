"""The capacity phase: simulated lectures (`controller.sim.lecture`, pure, no broker) of 60 to 300
students through 1 to 3 devices, with slot recycling on and off, many seeds each; writes
bench/results/capacity.md and capacity.json. The controller's device count for `--students N`
(`controller/core/capacity.py`) is held to capacity.md by tests/unit/core/test_capacity.py.
"""

from __future__ import annotations

import json
import random
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from bench.results import Row, percentile, verdict
from controller.core.capacity import TARGET_S, devices_for
from controller.sim.lecture import Lecture, simulate

STUDENTS: Final = (60, 120, 200, 300)
DEVICES: Final = (1, 2, 3)
SEEDS: Final = 200
PERCENTILE: Final = 50.0
"""Over seeds, the median lecture. The 90th percentile of a 60-student lecture's time to 95 % is its
late arrivals' (4:50 with no slot limit at all, seeds 0-199), not the devices'."""
NOT_WITHIN: Final = "not within the lecture"
UNLIMITED: Final = 10**6


@dataclass(frozen=True, slots=True)
class Cell:
    students: int
    devices: int
    recycle: bool
    to_95_s: float | None
    """The PERCENTILE (median) over seeds of the time to 95 % checked in; None: not within the lecture."""
    to_100_s: float | None
    checked_in: int
    """Median over seeds of the students checked in by the end of the lecture."""


@dataclass(frozen=True, slots=True)
class CapacityResult:
    seeds: int
    cells: tuple[Cell, ...]
    floor_95_s: tuple[float, ...]
    """Per STUDENTS: the time to 95 % with no slot limit (arrivals and typing alone)."""


def _over_seeds(times: list[float | None]) -> float | None:
    value = percentile([t if t is not None else float("inf") for t in times], PERCENTILE)
    return None if value == float("inf") else value


def _cell(lecture: Lecture, seeds: int) -> Cell:
    outcomes = [simulate(lecture, random.Random(seed)) for seed in range(seeds)]
    return Cell(lecture.students, lecture.devices, lecture.recycle,
                _over_seeds([o.time_to(0.95) for o in outcomes]), _over_seeds([o.time_to(1.0) for o in outcomes]),
                round(statistics.median(len(o.checkins) for o in outcomes)))


def run(seeds: int = SEEDS) -> CapacityResult:
    cells = tuple(_cell(Lecture(n, k, recycle), seeds)
                  for n in STUDENTS for k in DEVICES for recycle in (True, False))
    floor = tuple(_cell(Lecture(n, 1, slots=UNLIMITED), seeds).to_95_s or float("nan") for n in STUDENTS)
    return CapacityResult(seeds, cells, floor)


def clock(seconds: float | None) -> str:
    """m:ss, as capacity.md shows a time (and tests/unit/core/test_capacity.py reads it)."""
    if seconds is None:
        return NOT_WITHIN
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _time(seconds: float | None, cell: Cell) -> str:
    return clock(seconds) if seconds is not None else f"{NOT_WITHIN} ({cell.checked_in} of {cell.students})"


def markdown(result: CapacityResult) -> str:
    cells = {(c.students, c.devices, c.recycle): c for c in result.cells}
    lines = [
        "# Capacity: a lecture's check-ins through 10-slot devices",
        "",
        f"`python -m bench --only capacity`: `controller/sim/lecture.py`, {result.seeds} simulated lectures "
        f"(seeds) a cell, each time the median over them (m:ss from the session start). "
        f"\"{NOT_WITHIN} (x of N)\": the lecture (90 min) ended first, x checked in (median). "
        "Model and its distributions: README, \"Big lectures\".",
        "",
        "| students | devices | recycling: 95 % | recycling: 100 % | no recycling: 95 % | no recycling: 100 % |",
        "|---|---|---|---|---|---|",
    ]
    for n in STUDENTS:
        for k in DEVICES:
            on, off = cells[(n, k, True)], cells[(n, k, False)]
            lines.append(f"| {n} | {k} | {_time(on.to_95_s, on)} | {_time(on.to_100_s, on)} | "
                         f"{_time(off.to_95_s, off)} | {_time(off.to_100_s, off)} |")
    floors = ", ".join(f"{n}: {clock(f)}" for n, f in zip(STUDENTS, result.floor_95_s, strict=True))
    lines += ["", f"No slot limit at all (arrivals and typing alone), to 95 %: {floors}."]
    return "\n".join(lines) + "\n"


def write(out_dir: Path, result: CapacityResult) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "capacity.md"
    md.write_text(markdown(result), encoding="utf-8")
    (out_dir / "capacity.json").write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    return md


def rows(result: CapacityResult) -> list[Row]:
    """The figure latest.md carries: 200 students to 95 % with the devices the controller claims."""
    claimed = devices_for(200)
    cell = next(c for c in result.cells if (c.students, c.devices, c.recycle) == (200, min(claimed, DEVICES[-1]), True))
    ok = cell.to_95_s is not None and cell.to_95_s <= TARGET_S and claimed <= DEVICES[-1]
    one = next(c for c in result.cells if (c.students, c.devices, c.recycle) == (200, 1, True))
    return [Row(
        f"200 students checked in to 95 % (simulated lecture, median of {result.seeds}; "
        "table: capacity.md)",
        f"{claimed} devices (`devices_for(200)`), recycling: {clock(cell.to_95_s)}",
        f"1 device: {clock(one.to_95_s)}; without recycling: {NOT_WITHIN}", "",
        f"≤ {clock(TARGET_S)}", verdict(ok))]
