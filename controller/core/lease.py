"""The controller lease (active/standby): who may act, decided from the lease row and the time.

Several controllers on a broker without shared subscriptions run one at a time: the one holding
the lease (a database row: holder, expiry, term) handles messages and ticks, the others wait. The
holder renews it every `renew_s`; another takes it once it has expired. A holder counts itself
leading only until `margin_s` before the expiry it wrote, so it stops acting before anyone else
may start, even when it cannot reach the database to learn it lost (paused, partitioned), as long
as the controllers' clocks differ by less than the margin.

Pure: `now` is a parameter; the store does the compare-and-set, the daemon the transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Final

LEASE_NAME: Final = "controller"
"""The one lease row every controller of a database competes for."""
DEFAULT_LEASE_TTL_S: Final = 8.0


class HaMode(Enum):
    """How several controllers share one fleet (`fleet controller --ha`)."""

    NONE = "none"
    """One controller: it acts alone, nothing checks that it is alone."""
    SHARED = "shared"
    """Active/active: every controller acts, the broker splits the traffic ($share subscriptions)."""
    LEASE = "lease"
    """Active/standby: the lease holder acts, the others wait to take over."""


def ha_mode(chosen: HaMode | None, shared_group: str | None) -> HaMode:
    """The mode a controller runs in: `chosen` (--ha), else shared when a shared group is given,
    else none; ValueError when the two disagree."""
    if chosen is None:
        return HaMode.SHARED if shared_group else HaMode.NONE
    if chosen is HaMode.SHARED and not shared_group:
        raise ValueError("--ha shared needs --shared-group NAME (the $share group the controllers split work in)")
    if chosen is not HaMode.SHARED and shared_group:
        raise ValueError(f"--shared-group is for --ha shared, not --ha {chosen.value}")
    return chosen


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    """How long a lease lasts (`ttl_s`), how often its holder renews it, and how long before its
    expiry the holder stops acting (`margin_s`). The standby takes over within ttl + renew of the
    leader's death."""

    ttl_s: float = DEFAULT_LEASE_TTL_S
    renew_s: float = DEFAULT_LEASE_TTL_S / 4
    margin_s: float = DEFAULT_LEASE_TTL_S * 3 / 8

    def __post_init__(self) -> None:
        if not (self.renew_s > 0 and self.margin_s > 0 and self.renew_s + self.margin_s < self.ttl_s):
            raise ValueError("a lease needs 0 < renew, 0 < margin and renew + margin < ttl")

    @classmethod
    def from_ttl(cls, ttl_s: float) -> LeaseTimes:
        """Renewed every quarter of the TTL; acted on until 3/8 of it before the expiry, so one
        renewal may fail without a change of leader."""
        return cls(ttl_s, ttl_s / 4, ttl_s * 3 / 8)


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease row: who holds it until when; `term` counts the changes of holder, `since` is when
    the holder took it."""

    holder: str
    expires_at: float
    term: int = 0
    since: float = 0.0

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def claim(current: Lease | None, me: str, now: float, ttl_s: float) -> Lease | None:
    """The lease `me` should write: its own renewed, or a free or expired one taken (a new term);
    None while another controller holds it."""
    if current is None:
        return Lease(me, now + ttl_s, 1, now)
    if current.holder == me and not current.expired(now):
        return replace(current, expires_at=now + ttl_s)
    if current.expired(now):
        return Lease(me, now + ttl_s, current.term + 1, now)
    return None


def released(current: Lease | None, me: str, now: float) -> Lease | None:
    """The lease `me` writes on a clean stop, so a standby takes it at once; None when it is not
    `me`'s to release."""
    if current is None or current.holder != me or current.expired(now):
        return None
    return replace(current, expires_at=now)


def leads(held: Lease | None, me: str, now: float, margin_s: float) -> bool:
    """Whether `me` may act: it holds `held` and its expiry is more than `margin_s` away."""
    return held is not None and held.holder == me and now < held.expires_at - margin_s
