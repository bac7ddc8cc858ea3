"""Alive and ready, from the facts the shell gathers (no clock: `now` is a parameter)."""

from __future__ import annotations

from controller.core.health import Facts, alive_problem, ready_problems

READY = Facts(last_tick=100.0, connected=True, database_ok=True, synced=True)


def test_alive_while_the_ticker_ran_within_the_limit() -> None:
    assert alive_problem(READY, now=110.0, stale_s=10.0) is None
    stale = alive_problem(READY, now=110.5, stale_s=10.0)
    assert stale is not None and "10.5 s ago" in stale and "limit 10 s" in stale
    never = alive_problem(Facts(None, True, True, True), now=0.0, stale_s=10.0)
    assert never is not None and "not completed a tick" in never


def test_ready_names_everything_missing() -> None:
    assert ready_problems(READY) == []
    assert ready_problems(Facts(100.0, connected=False, database_ok=False, synced=False)) == [
        "not connected to the broker", "the database failed its last use", "the initial resync is not done"]
    assert ready_problems(Facts(None, connected=True, database_ok=False, synced=True)) == [
        "the database failed its last use"]
