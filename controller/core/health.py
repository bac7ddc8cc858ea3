"""Whether the controller is alive and whether it is ready, from facts the shell gathers.

Pure: `now` and the last tick are parameters. Alive (`/healthz`, the systemd watchdog's meaning): the
ticker completed a tick recently, so the loop is not stuck. Ready (`/readyz`): connected to the
broker, the database answered its last use, and the first republish after the start is done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Facts:
    """What the shell knows of itself at one instant."""

    last_tick: float | None
    """Wall clock of the ticker's last completed tick; None before the first."""
    connected: bool
    database_ok: bool
    synced: bool
    """The start's load and the first reconcile after connecting are done."""


def alive_problem(facts: Facts, now: float, stale_s: float) -> str | None:
    """None when the ticker ran within `stale_s`; else why the process is not healthy."""
    if facts.last_tick is None:
        return "the ticker has not completed a tick yet"
    age = now - facts.last_tick
    if age > stale_s:
        return f"the ticker's last tick was {age:.1f} s ago (limit {stale_s:g} s)"
    return None


def ready_problems(facts: Facts) -> list[str]:
    """What keeps the controller from being ready; empty when it is."""
    problems = []
    if not facts.connected:
        problems.append("not connected to the broker")
    if not facts.database_ok:
        problems.append("the database failed its last use")
    if not facts.synced:
        problems.append("the initial resync is not done")
    return problems
