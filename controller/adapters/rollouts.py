"""The store's firmware rollouts: a rollout created with its devices' rows, one tick of the state
machine run inside a transaction that holds the rollout's row lock (`SELECT ... FOR UPDATE` on
PostgreSQL; SQLite has one writer at a time), a device's reported progress, pause/resume/abort,
and the reads of `rollout.status` and `rollout.list`. `RolloutStore` (the store's `rollouts`) runs
each in a transaction of the store's, so two controllers never decide one rollout at once and the
second finds the first's commands in the rows (and the rate's budget spent)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager

from sqlalchemy import text
from sqlmodel import Session, col, select

from controller.adapters.tables import Device, LectureRow, RolloutDeviceRow, RolloutRow, stored_id
from controller.contract.rollouts import RolloutStartParams, RolloutSummary
from controller.core.rollout import ACTIVE, LECTURE_GUARD_S, Decision, Lecture, Plan, Target, progress
from controller.errors import RolloutRefused, UnknownRollout

Transaction = Callable[[], AbstractContextManager[Session]]
START_LOCK = 0x466C52  # "FlR": the PostgreSQL advisory lock a rollout's start holds until it commits
Decide = Callable[[Plan, list[Target]], Decision]


def plan_of(row: RolloutRow) -> Plan:
    return Plan(stored_id(row.id), row.version, row.canary, row.rate_per_min, row.max_failures, row.min_sample,
                row.allow_downgrade, row.state, row.reason)


def target_of(row: RolloutDeviceRow) -> Target:
    return Target(row.device_id, row.wave, row.state, row.attempts, row.changed_at, row.commanded_at, row.reason,
                  row.percent)


def summary_of(row: RolloutRow, counts: Mapping[str, int]) -> RolloutSummary:
    return RolloutSummary(stored_id(row.id), row.version, row.target, row.state, row.reason, row.canary,
                          row.rate_per_min, row.max_failures, row.min_sample, row.allow_downgrade, row.created_by,
                          row.created_at, row.updated_at, dict(counts))


def _locked(s: Session, rollout_id: int) -> RolloutRow:
    row = s.get(RolloutRow, rollout_id, with_for_update=True)
    if row is None:
        raise UnknownRollout(f"no rollout {rollout_id}")
    return row


def _targets(s: Session, rollout_id: int) -> list[RolloutDeviceRow]:
    return list(s.exec(select(RolloutDeviceRow).where(RolloutDeviceRow.rollout_id == rollout_id)
                       .order_by(col(RolloutDeviceRow.device_id))))


def _write(row: RolloutDeviceRow, target: Target) -> None:
    row.state, row.attempts, row.changed_at, row.commanded_at = (target.state, target.attempts, target.changed_at,
                                                                 target.commanded_at)
    row.percent, row.reason = target.percent, target.reason[:64]


class RolloutStore:
    """Rollouts and their devices, one transaction each (`reading` and `writing` are the store's)."""

    def __init__(self, reading: Transaction, writing: Transaction) -> None:
        self._reading = reading
        self._writing = writing

    def create(self, params: RolloutStartParams, waves: Mapping[str, int], *, by: str, now: float) -> RolloutSummary:
        """A running rollout of `waves`' devices; RolloutRefused `rollout_overlap` when one of them is
        in another rollout not yet ended. On PostgreSQL starts take an advisory lock, so two
        controllers' overlapping starts are checked one after the other."""
        with self._writing() as s:
            if s.get_bind().dialect.name == "postgresql":  # two controllers' starts one after the other, so the
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": START_LOCK})  # overlap check holds
            busy = s.exec(select(RolloutDeviceRow.device_id, RolloutRow.id).join(
                RolloutRow, col(RolloutRow.id) == col(RolloutDeviceRow.rollout_id)).where(
                col(RolloutRow.state).in_(ACTIVE), col(RolloutDeviceRow.device_id).in_(list(waves)))).first()
            if busy is not None:
                raise RolloutRefused(f"device {busy[0]} is in rollout {busy[1]}, which has not ended: abort it or "
                                     "wait for it", "rollout_overlap")
            row = RolloutRow(version=params.version, target=params.target, canary=params.canary,
                             rate_per_min=params.rate_per_min, max_failures=params.max_failures,
                             min_sample=params.min_sample, allow_downgrade=params.allow_downgrade,
                             created_by=by[:64], created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            rollout_id = stored_id(row.id)
            s.add_all(RolloutDeviceRow(rollout_id=rollout_id, device_id=d, wave=w, changed_at=now)
                      for d, w in sorted(waves.items()))
            return summary_of(row, {"pending": len(waves)})

    def active(self) -> list[int]:
        """The rollouts not yet ended (running, paused, halted), oldest first."""
        with self._reading() as s:
            return [stored_id(i) for i in s.exec(select(RolloutRow.id).where(col(RolloutRow.state).in_(ACTIVE))
                                                 .order_by(col(RolloutRow.id)))]

    def tick(self, rollout_id: int, decide: Decide, now: float) -> tuple[Plan, Decision] | None:
        """Run `decide` on the rollout under its row lock and write what it changed; None when the
        rollout has ended meanwhile."""
        with self._writing() as s:
            row = _locked(s, rollout_id)
            if row.state not in ACTIVE:
                return None
            rows = {r.device_id: r for r in _targets(s, rollout_id)}
            plan = plan_of(row)
            decision = decide(plan, [target_of(r) for r in rows.values()])
            for target in decision.changed:
                _write(rows[target.device_id], target)
            if (decision.state, decision.reason) != (row.state, row.reason):
                row.state, row.reason, row.updated_at = decision.state, decision.reason[:200], now
            s.flush()
            return plan, decision

    def record(self, device_id: str, version: str, state: str, *, percent: int | None, reason: str | None,
               now: float) -> list[tuple[int, Target]]:
        """A device's progress on `version` written to its row in every rollout not yet ended that
        installs that version (under each rollout's lock); the rows that changed, by rollout."""
        changed: list[tuple[int, Target]] = []
        with self._writing() as s:
            ids = s.exec(select(RolloutDeviceRow.rollout_id).join(
                RolloutRow, col(RolloutRow.id) == col(RolloutDeviceRow.rollout_id)).where(
                col(RolloutRow.state).in_(ACTIVE), RolloutDeviceRow.device_id == device_id)).all()
            for rollout_id in ids:
                rollout = _locked(s, rollout_id)
                row = s.get(RolloutDeviceRow, (rollout_id, device_id))
                if row is None:
                    continue
                moved = progress(target_of(row), rollout.version, state, of=version, percent=percent, reason=reason,
                                 now=now)
                if moved is not None:
                    _write(row, moved)
                    changed.append((rollout_id, moved))
            s.flush()
        return changed

    def set_state(self, rollout_id: int, to: str, allowed: Collection[str], now: float) -> tuple[RolloutSummary,
                                                                                                  list[Target]]:
        """Move a rollout from one of `allowed` to `to` (RolloutRefused `rollout_state` from another);
        the rollout and its devices."""
        with self._writing() as s:
            row = _locked(s, rollout_id)
            if row.state not in allowed:
                raise RolloutRefused(f"rollout {rollout_id} is {row.state}: it cannot be made {to}", "rollout_state")
            row.state, row.updated_at = to, now
            if to != "halted":
                row.reason = "" if to == "running" else row.reason
            s.flush()
            targets = [target_of(r) for r in _targets(s, rollout_id)]
            return summary_of(row, Counter(t.state for t in targets)), targets

    def status(self, rollout_id: int | None) -> tuple[RolloutSummary, Plan, list[Target]]:
        """One rollout (None: the latest) with its devices; UnknownRollout if there is none."""
        with self._reading() as s:
            if rollout_id is None:
                row = s.exec(select(RolloutRow).order_by(col(RolloutRow.id).desc())).first()
                if row is None:
                    raise UnknownRollout("no rollout has been started")
            else:
                row = s.get(RolloutRow, rollout_id)
                if row is None:
                    raise UnknownRollout(f"no rollout {rollout_id}")
            targets = [target_of(r) for r in _targets(s, stored_id(row.id))]
            return summary_of(row, Counter(t.state for t in targets)), plan_of(row), targets

    def summaries(self) -> list[RolloutSummary]:
        """Every rollout, the newest first, its devices counted by state."""
        with self._reading() as s:
            counts: dict[int, Counter[str]] = {}
            for rollout_id, state in s.exec(select(RolloutDeviceRow.rollout_id, RolloutDeviceRow.state)):
                counts.setdefault(rollout_id, Counter())[state] += 1
            return [summary_of(row, counts.get(stored_id(row.id), Counter()))
                    for row in s.exec(select(RolloutRow).order_by(col(RolloutRow.id).desc()))]

    def rollout_counts(self) -> dict[str, int]:
        """Rollouts by state (the metrics' `fleet_rollouts`)."""
        with self._reading() as s:
            return dict(Counter(s.exec(select(RolloutRow.state))))

    def device_counts(self) -> dict[str, int]:
        """The devices of rollouts not yet ended, by state (the metrics' `fleet_rollout_devices`)."""
        with self._reading() as s:
            rows = s.exec(select(RolloutDeviceRow.state).join(
                RolloutRow, col(RolloutRow.id) == col(RolloutDeviceRow.rollout_id)).where(
                col(RolloutRow.state).in_(ACTIVE)))
            return dict(Counter(rows))

    def serving(self) -> set[str]:
        """Devices serving a session, as the database says (a session another controller started just
        now too)."""
        with self._reading() as s:
            return set(s.exec(select(Device.id).where(col(Device.session_id).is_not(None))))

    def lectures(self, now: float) -> list[Lecture]:
        """The timetable's lectures under way or starting within `LECTURE_GUARD_S`."""
        with self._reading() as s:
            rows = s.exec(select(LectureRow.room, LectureRow.starts_at, LectureRow.ends_at).where(
                LectureRow.ends_at > now, LectureRow.starts_at < now + LECTURE_GUARD_S))
            return [Lecture(room, starts, ends) for room, starts, ends in rows]
