"""`fleet rollout`: its flag values read (or refused in one line) and its status drawn as a person reads it."""

from __future__ import annotations

from dataclasses import replace
from io import StringIO

import pytest
from rich.console import Console, RenderableType

from controller.cli.rollouts import devices_list, finished, fraction, list_table, rate, status_view
from controller.contract.rollouts import DeviceNote, RolloutStatus, RolloutSummary, WaveCounts
from controller.errors import FleetError

SUMMARY = RolloutSummary(3, "1.3.0", "room LT1", "halted", "canary wave: 2 of 2 updates failed (100% > 10% allowed)",
                         0.05, 20.0, 0.1, 5, False, "admin", 1_767_225_600.0, 1_767_225_700.0,
                         {"rolled_back": 2, "pending": 38})
STATUS = RolloutStatus(SUMMARY, (WaveCounts(0, {"rolled_back": 2}), WaveCounts(1, {"pending": 20}, 3),
                                 WaveCounts(2, {"pending": 18})),
                       (DeviceNote("dev-000", "rolled_back", "no_broker_after_boot"),
                        DeviceNote("dev-007", "waiting", "session")))


def text(renderable: RenderableType, width: int = 160) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


@pytest.mark.parametrize(("given", "value"), [("5%", 0.05), ("0.05", 0.05), ("100%", 1.0), ("0", 0.0), (" 10% ", 0.1)])
def test_a_share_is_a_percentage_or_a_fraction(given: str, value: float) -> None:
    assert fraction(given, "--canary") == pytest.approx(value)


@pytest.mark.parametrize(("given", "message"), [
    ("5", "--canary '5': a bare number is a fraction of 0-1; write 5% for a percentage"),
    ("150%", "--canary '150%': must be 0%-100%"),
    ("lots", "--canary 'lots': give a percentage like 5% (or a fraction like 0.05)"),
    ("nan%", "--canary 'nan%': must be 0%-100%"),
])
def test_a_bad_share_is_refused_in_one_line(given: str, message: str) -> None:
    with pytest.raises(FleetError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        fraction(given, "--canary")


@pytest.mark.parametrize(("given", "per_min"), [("20/min", 20.0), ("20", 20.0), ("1/s", 60.0), ("120/h", 2.0),
                                                 ("0.5/min", 0.5)])
def test_a_rate_is_read_per_minute(given: str, per_min: float) -> None:
    assert rate(given) == pytest.approx(per_min)


@pytest.mark.parametrize("given", ["fast", "0/min", "20/week", "-1/s", "1000/s"])
def test_a_bad_rate_is_refused(given: str) -> None:
    with pytest.raises(FleetError, match=r"^--rate "):
        rate(given)


def test_devices_are_split_on_commas() -> None:
    assert devices_list("a-1, b-2,,") == ("a-1", "b-2")
    with pytest.raises(FleetError):
        devices_list(" , ")


def test_the_status_shows_a_bar_per_wave_the_halt_reason_and_the_devices_that_failed_or_wait() -> None:
    shown = text(status_view(STATUS))
    lines = shown.splitlines()
    assert lines[0].startswith("rollout 3  1.3.0 → room LT1  halted  canary 5%, 20/min, halts over 10% failed after 5")
    assert "by admin at 2026-01-01 00:00 UTC" in lines[0]
    assert lines[1].startswith("canary") and lines[1].rstrip().endswith("2/2   2 rolled back")
    assert lines[2].startswith("wave 1") and lines[2].rstrip().endswith("0/20  20 pending · 3 waiting")
    assert lines[3].startswith("wave 2") and "0/18" in lines[3]
    assert lines[4] == "halted: canary wave: 2 of 2 updates failed (100% > 10% allowed)"
    assert lines[5] == "failed: dev-000 rolled back (no_broker_after_boot)"
    assert lines[6] == "waiting: dev-007 (session)"


def test_the_list_has_a_row_per_rollout() -> None:
    shown = text(list_table((SUMMARY,)))
    assert "room LT1" in shown and "halted" in shown and "│ 40 " in shown


def test_a_watch_ends_when_nothing_more_changes_by_itself() -> None:
    assert finished(SUMMARY)  # halted, nothing in flight
    assert not finished(replace(SUMMARY, counts={"rolled_back": 2, "rebooting": 1}))  # one still updating
    assert not finished(replace(SUMMARY, state="running")) and not finished(replace(SUMMARY, state="paused"))
    assert finished(replace(SUMMARY, state="completed")) and finished(replace(SUMMARY, state="aborted"))


def test_a_run_of_untouched_waves_is_one_row() -> None:
    waves = (WaveCounts(0, {"confirmed": 5}), WaveCounts(1, {"confirmed": 19, "downloading": 1}),
             *(WaveCounts(w, {"pending": 20}) for w in range(2, 9)), WaveCounts(9, {"pending": 20}, 1),
             WaveCounts(10, {"pending": 20}), WaveCounts(11, {"pending": 20}))
    lines = text(status_view(RolloutStatus(SUMMARY, waves))).splitlines()[1:]
    labels = [line.split()[0] + (" " + line.split()[1] if line.startswith("wave") else "") for line in lines[:5]]
    assert labels == ["canary", "wave 1", "waves 2-8", "wave 9", "wave 10"]
    assert "0/140  140 pending" in lines[2]
