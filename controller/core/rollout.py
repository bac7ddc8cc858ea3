"""A firmware rollout as a level-based state machine: from the rollout, its devices' rows and the
fleet as it is now, what to do now (`decide`). Pure: `now` is a parameter, nothing is read or sent.

The rules, each applied on every tick from the stored level (never from an event, so a restarted or
second controller decides the same):
- a device already running the version when its turn comes is confirmed without a command; one
  being updated only when it reports `confirmed` (its trial boot's birth already names the new
  version, and it may still roll back); after a failure only a `confirmed` counts;
- commands go to the canary wave (0) first; later waves only once every canary is terminal and
  the canaries' failures are within `max_failures` (else the rollout halts, and says why);
- commands are paced by `rate_per_min` as a token budget over the last commands' times;
- a device is never commanded while it serves a session, nor while its room has a timetabled
  lecture within the next hour (`LECTURE_GUARD_S`), nor while it is offline: it waits;
- a device that would go down a version waits out the rollout as failed `downgrade` unless the
  rollout allows downgrades;
- a device in flight that makes no progress for `timeout_s` is commanded again, up to
  `max_attempts` commands, then failed `timeout`; one that runs the version by then is confirmed
  (long past any trial boot; its confirmation was lost);
- after `min_sample` terminal devices, failures / terminal > `max_failures` halts the rollout
  (halted: no new commands; devices already updating go on and are recorded);
- every device terminal: completed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from controller.contract.firmware import FirmwareError, Version

ROLLOUT_STATES: Final = ("running", "paused", "halted", "aborted", "completed")
ACTIVE: Final = frozenset({"running", "paused", "halted"})
"""A rollout that still owns its devices (a second one may not overlap it)."""
DEVICE_STATES: Final = ("pending", "commanded", "downloading", "verifying", "rebooting", "confirmed", "failed",
                        "rolled_back")
IN_FLIGHT: Final = frozenset({"commanded", "downloading", "verifying", "rebooting"})
TERMINAL: Final = frozenset({"confirmed", "failed", "rolled_back"})
FAILED: Final = frozenset({"failed", "rolled_back"})
LECTURE_GUARD_S: Final = 3600.0
"""No device is updated while its room has a lecture starting within this long (or under way)."""
WAIT_REASONS: Final = ("session", "lecture", "offline")
TIMEOUT: Final = "timeout"
"""The controller's own failure reason: no progress after `max_attempts` commands."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How long a device may show no progress before it is commanded again, and how often."""

    timeout_s: float = 600.0
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class Plan:
    """A rollout as stored: what it installs, how fast, when it halts, and where it stands."""

    id: int
    version: str
    canary: float  # fraction of the target in the canary wave, 0..1
    rate_per_min: float
    max_failures: float  # fraction, 0..1
    min_sample: int
    allow_downgrade: bool = False
    state: str = "running"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """One device of a rollout: its wave, where its update stands, the commands it was sent and when
    its state last changed (`commanded_at`: the last command)."""

    device_id: str
    wave: int
    state: str = "pending"
    attempts: int = 0
    changed_at: float = 0.0
    commanded_at: float | None = None
    reason: str = ""
    percent: int | None = None


@dataclass(frozen=True, slots=True)
class Lecture:
    """A timetabled lecture's room and times (epoch seconds)."""

    room: str
    starts_at: float
    ends_at: float


@dataclass(frozen=True, slots=True)
class Facts:
    """The fleet now: who is online, what each device runs, who serves a session, each device's
    room and the lectures not yet over."""

    online: Collection[str] = frozenset()
    running: Mapping[str, str | None] = field(default_factory=dict)
    serving: Collection[str] = frozenset()
    rooms: Mapping[str, str | None] = field(default_factory=dict)
    lectures: Sequence[Lecture] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """What a tick does: the rows that change (`commanded`: the update command goes out to these),
    the devices that wait and why, and the rollout's state after it."""

    changed: tuple[Target, ...] = ()
    commanded: tuple[str, ...] = ()
    waiting: Mapping[str, str] = field(default_factory=dict)
    state: str = "running"
    reason: str = ""


# --- planning -------------------------------------------------------------------------------------


def waves(device_ids: Collection[str], canary: float, rate_per_min: float) -> dict[str, int]:
    """Each device's wave: `ceil(canary * n)` devices (at least one when `canary` > 0) spread evenly
    over the ids in order as wave 0, then batches of a minute's worth at the rate (waves 1, 2, ...)."""
    ids = sorted(device_ids)
    n = len(ids)
    k = min(n, max(1 if canary > 0 else 0, math.ceil(canary * n - 1e-9)))
    chosen = {ids[(i * n) // k] for i in range(k)} if k else set()
    batch = max(1, math.ceil(rate_per_min))
    rest = [d for d in ids if d not in chosen]
    return {d: 0 for d in chosen} | {d: 1 + i // batch for i, d in enumerate(rest)}


def downgrades(version: str, running: Mapping[str, str | None]) -> list[str]:
    """The devices running a version above `version` (those whose version is unknown or unparsable: none)."""
    target = Version.parse(version)
    return sorted(d for d, fw in running.items() if fw is not None and _above(fw, target))


def _above(fw: str, target: Version) -> bool:
    try:
        return Version.parse(fw) > target
    except FirmwareError:
        return False


def _runs(fw: str | None, version: str) -> bool:
    try:
        return fw is not None and Version.parse(fw) == Version.parse(version)
    except FirmwareError:
        return False


# --- one tick -------------------------------------------------------------------------------------


def lecture_rooms(lectures: Sequence[Lecture], now: float) -> set[str]:
    """Rooms with a lecture under way or starting within `LECTURE_GUARD_S`."""
    return {lec.room for lec in lectures if lec.ends_at > now and lec.starts_at < now + LECTURE_GUARD_S}


def wait_reason(device_id: str, facts: Facts, rooms: Collection[str]) -> str | None:
    """Why a device may not be commanded now (None: it may)."""
    if device_id in facts.serving:
        return "session"
    if facts.rooms.get(device_id) in rooms:
        return "lecture"
    if device_id not in facts.online:
        return "offline"
    return None


def budget(plan: Plan, targets: Sequence[Target], now: float) -> int:
    """Commands the rate allows now: `rate_per_min` a minute as a window over the last commands
    (a rate under one a minute: one command per `60 / rate` seconds)."""
    capacity = max(1, math.floor(plan.rate_per_min))
    window = capacity * 60.0 / plan.rate_per_min
    recent = sum(1 for t in targets if t.commanded_at is not None and now - window < t.commanded_at <= now)
    return max(0, capacity - recent)


def failure_share(targets: Sequence[Target]) -> tuple[int, int]:
    """(failed or rolled back, terminal) among `targets`."""
    terminal = [t for t in targets if t.state in TERMINAL]
    return sum(1 for t in terminal if t.state in FAILED), len(terminal)


def halt_reason(plan: Plan, targets: Sequence[Target]) -> str | None:
    """Why the rollout must halt now, or None: the canary wave over the threshold once all of it is
    terminal, or the whole rollout's failures over it after `min_sample` terminal devices."""
    canary = [t for t in targets if t.wave == 0]
    failed, terminal = failure_share(canary)
    if canary and terminal == len(canary) and failed > plan.max_failures * terminal:
        return f"canary wave: {failed} of {terminal} updates failed ({_pct(failed, terminal)} > " \
               f"{_pct(plan.max_failures)} allowed)"
    failed, terminal = failure_share(targets)
    if terminal >= plan.min_sample and failed > plan.max_failures * terminal:
        return f"{failed} of {terminal} updates failed ({_pct(failed, terminal)} > {_pct(plan.max_failures)} allowed)"
    return None


def _pct(part: float, whole: float = 1.0) -> str:
    return f"{100.0 * part / whole:.0f}%"


def decide(plan: Plan, targets: Sequence[Target], facts: Facts, now: float, policy: Policy = Policy()) -> Decision:
    """One tick of `plan` over its `targets` given `facts` at `now`."""
    if plan.state not in ACTIVE:
        return Decision(state=plan.state, reason=plan.reason)
    rows = {t.device_id: t for t in targets}
    _settle(plan, rows, facts, now)
    state, reason = plan.state, plan.reason
    halted = halt_reason(plan, list(rows.values())) if state == "running" else None
    if halted is not None:
        state, reason = "halted", halted
    waiting: dict[str, str] = {}
    commanded: list[str] = []
    if state == "running":
        waiting, commanded = _command(plan, rows, facts, now, policy)
    if state != "halted" and all(t.state in TERMINAL for t in rows.values()):
        state, reason = "completed", ""
    before = {t.device_id: t for t in targets}
    changed = tuple(t for t in rows.values() if t != before[t.device_id])
    return Decision(changed, tuple(commanded), waiting, state, reason)


def _settle(plan: Plan, rows: dict[str, Target], facts: Facts, now: float) -> None:
    """What needs no command: pending devices that run the version already are confirmed, those
    that would be downgraded fail `downgrade`."""
    target = Version.parse(plan.version)
    for device_id, row in rows.items():
        if row.state != "pending":  # one being updated counts when it says `confirmed`: the first boot of
            continue  # a new image reports its version in the birth before it has proven itself
        fw = facts.running.get(device_id)
        if _runs(fw, plan.version):
            rows[device_id] = replace(row, state="confirmed", changed_at=now, reason="", percent=None)
        elif not plan.allow_downgrade and fw is not None and _above(fw, target):
            rows[device_id] = replace(row, state="failed", changed_at=now, reason="downgrade")


def _command(plan: Plan, rows: dict[str, Target], facts: Facts, now: float,
             policy: Policy) -> tuple[dict[str, str], list[str]]:
    """Retries first (in flight, no progress past the timeout), then pending devices wave by wave,
    within the rate's budget; devices that may not be commanded now wait. Returns (waiting, commanded)."""
    rooms = lecture_rooms(facts.lectures, now)
    left = budget(plan, list(rows.values()), now)
    waiting: dict[str, str] = {}
    commanded: list[str] = []
    stalled = [t for t in rows.values() if t.state in IN_FLIGHT and now - t.changed_at >= policy.timeout_s]
    for row in stalled:
        # Running the version this long after its last step is past any trial boot: its confirmation
        # was lost (and a device says nothing of a command for the version it runs).
        if _runs(facts.running.get(row.device_id), plan.version):
            rows[row.device_id] = replace(row, state="confirmed", changed_at=now, reason="", percent=None)
        elif row.attempts >= policy.max_attempts:
            rows[row.device_id] = replace(row, state="failed", changed_at=now, reason=TIMEOUT)
    canary_open = any(t.wave == 0 and t.state not in TERMINAL for t in rows.values())
    due = [rows[t.device_id] for t in stalled if rows[t.device_id].state in IN_FLIGHT] + [
        t for t in rows.values() if t.state == "pending" and (t.wave == 0 or not canary_open)]
    for row in sorted(due, key=lambda t: (t.state == "pending", t.wave, t.device_id)):
        why = wait_reason(row.device_id, facts, rooms)
        if why == "offline" and row.state != "pending":
            why = None  # a retry: the retained command waits for it
        if why is not None:
            waiting[row.device_id] = why
        elif left > 0:
            rows[row.device_id] = _commanded(row, now)
            commanded.append(row.device_id)
            left -= 1
    return waiting, commanded


def _commanded(row: Target, now: float) -> Target:
    return replace(row, state="commanded", attempts=row.attempts + 1, changed_at=now, commanded_at=now, reason="",
                   percent=None)


# --- progress from the device -------------------------------------------------------------------


def progress(row: Target, version: str, reported: str, *, of: str, percent: int | None = None,
             reason: str | None = None, now: float) -> Target | None:
    """A device's `update/state` (`reported`, for version `of`) applied to its row in a rollout of
    `version` (None: nothing changes). A stale state of another version changes nothing, nor does
    anything after `confirmed`; after a failure only `confirmed` (the device tried again by itself,
    e.g. after a `download_error`, and made it). The same state again keeps its time (a retained
    state re-read after a restart is no progress)."""
    if reported not in DEVICE_STATES or reported == "pending" or not _runs(of, version):
        return None
    if row.state == "confirmed" or (row.state in FAILED and reported != "confirmed"):
        return None
    if reported == row.state and percent == row.percent:
        return None
    changed_at = row.changed_at if reported == row.state else now
    return replace(row, state=reported, changed_at=changed_at, percent=percent,
                   reason=(reason or "")[:64] if reported in FAILED else "")


def unfinished(targets: Sequence[Target]) -> list[str]:
    """Devices that were sent a command and have not finished (an abort withdraws their command)."""
    return [t.device_id for t in targets if t.attempts > 0 and t.state not in TERMINAL]
