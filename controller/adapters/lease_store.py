"""The store's controller lease: the lease row read, and claimed or released by compare-and-set, so
of two controllers writing at once exactly one wins. What to write is `core.lease`'s decision;
`LeaseStore` (the store's `lease`) runs each step in a transaction of the store's."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from controller.adapters.tables import ControllerLease
from controller.core.lease import LEASE_NAME, Lease, claim, released
from controller.errors import LeaseLost

Transaction = Callable[[], AbstractContextManager[Session]]


def _value(row: ControllerLease | None) -> Lease | None:
    return None if row is None else Lease(row.holder, row.expires_at, row.term, row.since)


def _swap(s: Session, insert: Any, current: Lease | None, new: Lease) -> bool:
    """Write `new` where the row still is `current` (absent: where there is none); whether it did."""
    values = {"holder": new.holder, "expires_at": new.expires_at, "term": new.term, "since": new.since}
    if current is None:
        stmt = insert(ControllerLease).values(name=LEASE_NAME, **values).on_conflict_do_nothing()
        return bool(s.execute(stmt.returning(col(ControllerLease.name))).first())
    stmt = update(ControllerLease).where(
        col(ControllerLease.name) == LEASE_NAME, col(ControllerLease.holder) == current.holder,
        col(ControllerLease.term) == current.term, col(ControllerLease.expires_at) == current.expires_at,
    ).values(**values)
    return bool(s.execute(stmt).rowcount)  # type: ignore[attr-defined]


class LeaseStore:
    """The lease row of the controllers sharing this database."""

    def __init__(self, reading: Transaction, writing: Transaction, insert: Any) -> None:
        self._reading = reading
        self._writing = writing
        self._insert = insert

    def current(self) -> Lease | None:
        with self._reading() as s:
            return _value(s.get(ControllerLease, LEASE_NAME))

    def claim(self, me: str, now: float, ttl_s: float) -> Lease | None:
        """Renew `me`'s lease or take a free or expired one; the lease as it now stands (`me`'s when
        it won), None when another controller wrote it in the same instant (ask again)."""
        with self._writing() as s:
            current = _value(s.get(ControllerLease, LEASE_NAME))
            new = claim(current, me, now, ttl_s)
            if new is None:
                return current
            return new if _swap(s, self._insert, current, new) else None

    def guard(self, me: str, term: Callable[[], int | None]) -> Callable[[Session], None]:
        """The fence of controller `me` (the store's `fence`): in each writing transaction, LeaseLost
        unless the lease row still names `me` in the term it holds (`term()`). On PostgreSQL the row
        is read FOR SHARE, so a takeover commits only after the transaction ends and every later one
        of `me`'s fails. On SQLite (whose driver begins the transaction at its first write) it is a
        check just before the write: a takeover in between is not excluded."""

        def check(s: Session) -> None:
            row = s.exec(select(ControllerLease).where(col(ControllerLease.name) == LEASE_NAME)
                         .with_for_update(read=True)).first()
            held = term()
            if row is None or row.holder != me or held is None or row.term != held:
                raise LeaseLost(f"controller {me} does not hold the controller lease: not writing "
                                f"({row.holder if row else 'nobody'} does)")

        return check

    def release(self, me: str, now: float) -> bool:
        """End `me`'s lease now (a clean stop), so a standby takes it without waiting for it to
        expire; whether there was one to end."""
        with self._writing() as s:
            current = _value(s.get(ControllerLease, LEASE_NAME))
            new = released(current, me, now)
            return new is not None and _swap(s, self._insert, current, new)
