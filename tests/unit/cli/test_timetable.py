"""`fleet timetable`'s pure parts: the time zone it works in and the week it lists."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from controller.cli.clock import week
from controller.cli.clock import zone as zone_of
from controller.errors import FleetError

LONDON = ZoneInfo("Europe/London")


def test_a_named_zone_is_that_zone_and_an_unknown_one_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert zone_of("Europe/London") == LONDON
    monkeypatch.setenv("TZ", "America/New_York")
    assert zone_of(None) == ZoneInfo("America/New_York")
    with pytest.raises(FleetError, match="unknown time zone 'Mars/Olympus': give an IANA name"):
        zone_of("Mars/Olympus")


def test_this_week_runs_monday_to_monday_in_the_zone_across_the_clock_change() -> None:
    # Wednesday 28 October 2026; the clocks went back on Sunday 25th, inside the previous week
    start, end = week(datetime(2026, 10, 28, 12, tzinfo=UTC).timestamp(), LONDON)
    assert datetime.fromtimestamp(start, LONDON) == datetime(2026, 10, 26, tzinfo=LONDON)
    assert end - start == 7 * 86400
    # the week of the change is an hour longer
    start, end = week(datetime(2026, 10, 21, 12, tzinfo=UTC).timestamp(), LONDON)
    assert end - start == 7 * 86400 + 3600
