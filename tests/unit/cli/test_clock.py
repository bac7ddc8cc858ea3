"""Times as a lecturer types them (controller/cli/clock.py): durations and wall-clock ends, across
a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from controller.cli import clock
from controller.errors import FleetError

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(("text", "seconds"), [
    ("90m", 5400), ("1h30m", 5400), ("2h", 7200), ("45s", 45), ("-15m", -900), ("+10min", 600), ("20", 1200),
])
def test_durations(text: str, seconds: float) -> None:
    assert clock.seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1.5h", "ten minutes", "15 m", "--5m"])
def test_a_bad_duration_is_one_clear_error(text: str) -> None:
    with pytest.raises(FleetError, match="is not a duration"):
        clock.seconds(text)


def test_a_wall_clock_end_is_the_next_such_time_in_the_zone_across_a_dst_change() -> None:
    saturday = datetime(2026, 10, 24, 9, 0, tzinfo=LONDON)  # BST, UTC+1; clocks go back on Sunday 25th
    assert datetime.fromtimestamp(clock.wall_clock("11:30", saturday), UTC) == datetime(2026, 10, 24, 10, 30,
                                                                                          tzinfo=UTC)
    late = datetime(2026, 10, 24, 12, 0, tzinfo=LONDON)  # 11:30 has passed: Sunday's, in GMT
    assert datetime.fromtimestamp(clock.wall_clock("11:30", late), UTC) == datetime(2026, 10, 25, 11, 30, tzinfo=UTC)
    dated = clock.wall_clock("2026-10-26 09:15", saturday)
    assert datetime.fromtimestamp(dated, UTC) == datetime(2026, 10, 26, 9, 15, tzinfo=UTC)
    with pytest.raises(FleetError, match="is not a time"):
        clock.wall_clock("25:00", saturday)


def test_the_zone_comes_from_fleet_timezone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV_ZONE, "Europe/London")
    assert clock.zone() == LONDON
    monkeypatch.setenv(clock.ENV_ZONE, "Mars/Olympus")
    with pytest.raises(FleetError, match="unknown time zone 'Mars/Olympus'"):
        clock.zone()
