"""Unit tests for controller.core.schedule: when a session ends and where an extension moves it."""

from __future__ import annotations

import pytest

from controller.core import schedule
from controller.errors import BadRequest

NOW = 1_000_000.0
HOUR = 3600.0


def test_a_session_ends_as_asked_else_after_its_courses_usual_length_capped() -> None:
    assert schedule.end_of(NOW, until=NOW + 90 * 60, duration_s=None, usual_s=HOUR, max_s=4 * HOUR) == NOW + 5400
    assert schedule.end_of(NOW, until=None, duration_s=1800, usual_s=HOUR, max_s=4 * HOUR) == NOW + 1800
    assert schedule.end_of(NOW, until=None, duration_s=None, usual_s=HOUR, max_s=4 * HOUR) == NOW + HOUR
    assert schedule.end_of(NOW, until=None, duration_s=None, usual_s=9 * HOUR, max_s=4 * HOUR) == NOW + 4 * HOUR


@pytest.mark.parametrize(("until", "duration_s", "message"), [
    (NOW - 1, None, "the session's end ('until') is in the past"),
    (NOW, None, "the session's end ('until') is in the past"),
    (NOW + 5 * HOUR, None, "a session lasts at most 4 h (the controller's --max-session)"),
    (None, 4 * HOUR + 1, "a session lasts at most 4 h (the controller's --max-session)"),
])
def test_an_end_in_the_past_or_beyond_the_maximum_is_refused(until: float | None, duration_s: float | None,
                                                             message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        schedule.end_of(NOW, until=until, duration_s=duration_s, usual_s=HOUR, max_s=4 * HOUR)
    assert caught.value.message == message


def test_a_courses_usual_length_is_the_median_of_its_real_sessions() -> None:
    assert schedule.usual_length([], default_s=2 * HOUR) == 2 * HOUR
    assert schedule.usual_length([HOUR, 1.5 * HOUR, 4 * HOUR], default_s=2 * HOUR) == 1.5 * HOUR  # one forgotten
    assert schedule.usual_length([60.0, 120.0], default_s=2 * HOUR) == 2 * HOUR  # tests and restarts say nothing


def test_an_extension_moves_the_end_and_an_end_in_the_past_ends_it_now() -> None:
    assert schedule.extended(NOW + 600, NOW, by_s=900, until=None, max_s=4 * HOUR) == NOW + 1500
    assert schedule.extended(NOW + 600, NOW, by_s=-300, until=None, max_s=4 * HOUR) == NOW + 300
    assert schedule.extended(NOW + 600, NOW, by_s=-900, until=None, max_s=4 * HOUR) == NOW  # ends at the next tick
    assert schedule.extended(None, NOW, by_s=600, until=None, max_s=4 * HOUR) == NOW + 600
    assert schedule.extended(NOW + 600, NOW, by_s=None, until=NOW + 7200, max_s=4 * HOUR) == NOW + 7200
    with pytest.raises(BadRequest, match="at most 4 h from now"):
        schedule.extended(NOW + 3 * HOUR, NOW, by_s=2 * HOUR, until=None, max_s=4 * HOUR)
    assert schedule.hours(5400) == "90 min" and schedule.hours(4 * HOUR) == "4 h"
