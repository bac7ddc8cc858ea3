"""The lecture model: the firmware's slot policy, and how slots, recycling and devices bound the time
a lecture takes to check in."""

from __future__ import annotations

import random
import statistics

import pytest

from controller.contract.messages import AP_SLOTS
from controller.sim.lecture import (
    RELEASE_GRACE_S,
    STATION_IDLE_S,
    Lecture,
    Outcome,
    simulate,
)
from tests.firmware import firmware_constant

SEEDS = range(20)


def median_to(lecture: Lecture, fraction: float) -> float:
    """Median over SEEDS of the time to `fraction` checked in; infinite when not within the lecture."""
    times = [simulate(lecture, random.Random(seed)).time_to(fraction) for seed in SEEDS]
    return statistics.median(t if t is not None else float("inf") for t in times)


@pytest.mark.parametrize(("ours", "header", "theirs", "unit"), [
    (AP_SLOTS, "limits.h", "kApMaxConnections", 1),
    (RELEASE_GRACE_S, "stations.h", "kReleaseGraceMs", 1000),
    (STATION_IDLE_S, "stations.h", "kStationIdleMs", 1000),
])
def test_the_slot_policy_is_the_firmwares(ours: float, header: str, theirs: str, unit: int) -> None:
    assert ours * unit == firmware_constant(theirs, header)


def test_the_eleventh_student_waits_without_recycling() -> None:
    for seed in SEEDS:
        held = simulate(Lecture(11, recycle=False), random.Random(seed))
        assert len(held.checkins) == AP_SLOTS
        assert held.time_to(1.0) is None
        assert held.refused >= 1
        recycled = simulate(Lecture(11, recycle=True), random.Random(seed))
        assert len(recycled.checkins) == 11


def test_recycling_beats_holding_the_slots() -> None:
    for devices in (1, 2, 3):
        assert median_to(Lecture(120, devices, recycle=True), 0.95) < median_to(Lecture(120, devices, recycle=False),
                                                                                 0.95)


@pytest.mark.parametrize("students", [60, 200])
def test_more_devices_are_never_slower(students: int) -> None:
    times = [median_to(Lecture(students, devices), 0.95) for devices in (1, 2, 3, 4)]
    assert times == sorted(times, reverse=True)
    assert times[0] > times[-1]  # and one device is the bottleneck


def test_no_slot_limit_is_the_floor() -> None:
    floor = median_to(Lecture(200, slots=10**6), 0.95)
    assert all(floor <= median_to(Lecture(200, devices), 0.95) for devices in (1, 2, 3))


def test_a_seed_gives_the_same_lecture() -> None:
    def run(seed: int) -> Outcome:
        return simulate(Lecture(120, 2), random.Random(seed))

    assert run(7) == run(7)
    assert run(7).checkins != run(8).checkins


def test_every_checkin_is_within_the_lecture_and_once_per_student() -> None:
    outcome = simulate(Lecture(300, 1, length_s=600.0), random.Random(3))
    assert len(outcome.checkins) < 300
    assert all(0.0 < t <= 600.0 for t in outcome.checkins)
    assert list(outcome.checkins) == sorted(outcome.checkins)
    assert outcome.time_to(1.0) is None


def test_an_empty_lecture_is_refused() -> None:
    with pytest.raises(ValueError, match="students"):
        simulate(Lecture(0), random.Random(1))
