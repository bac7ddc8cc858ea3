"""How many devices a session start claims, and the not_enough_devices message."""

from __future__ import annotations

from dataclasses import replace

from controller.contract.requests import SessionStartParams
from controller.core.capacity import capacity, devices_for
from controller.core.sizing import shortfall, wanted

BASE = SessionStartParams("CS101", None, "2024/2025", "1st")


def test_one_device_unless_asked() -> None:
    assert wanted(BASE) == 1


def test_devices_are_taken_as_given() -> None:
    assert wanted(replace(BASE, devices=4)) == 4


def test_students_follow_the_capacity_model_capped_at_ten() -> None:
    assert wanted(replace(BASE, students=150)) == devices_for(150) > 1
    assert wanted(replace(BASE, students=1000)) == min(devices_for(1000), 10)


def test_the_shortfall_names_what_is_free_its_capacity_and_anyway() -> None:
    message = shortfall(3, 2, "LT2")
    assert message == (f"3 devices wanted but only 2 free in room LT2: 2 check in about {capacity(2)} students in "
                       "5 minutes; pass --anyway to start on them")
    assert "in room" not in shortfall(3, 1, None)
