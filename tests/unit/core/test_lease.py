"""The controller lease: claims, renewals, takeovers, fencing and the choice of mode (pure)."""

from __future__ import annotations

import pytest

from controller.core.lease import HaMode, Lease, LeaseTimes, claim, ha_mode, leads, released

TTL = 8.0
MARGIN = 3.0


def test_a_free_lease_is_taken_in_a_first_term() -> None:
    assert claim(None, "a", 100.0, TTL) == Lease("a", 108.0, 1, 100.0)


def test_the_holder_renews_its_lease_in_the_same_term() -> None:
    held = Lease("a", 108.0, 3, 90.0)
    assert claim(held, "a", 102.0, TTL) == Lease("a", 110.0, 3, 90.0)


def test_another_holders_live_lease_is_not_taken() -> None:
    held = Lease("a", 108.0, 3, 90.0)
    assert claim(held, "b", 107.9, TTL) is None


def test_an_expired_lease_is_taken_in_a_new_term() -> None:
    held = Lease("a", 108.0, 3, 90.0)
    assert claim(held, "b", 108.0, TTL) == Lease("b", 116.0, 4, 108.0)


def test_a_holder_that_let_its_lease_expire_starts_a_new_term() -> None:
    """It stopped acting when the lease ran out: coming back is a takeover (it reloads), not a renewal."""
    held = Lease("a", 108.0, 3, 90.0)
    assert claim(held, "a", 109.0, TTL) == Lease("a", 117.0, 4, 109.0)


def test_the_holder_leads_until_the_margin_before_expiry() -> None:
    held = Lease("a", 108.0, 1, 100.0)
    assert leads(held, "a", 104.9, MARGIN)
    assert not leads(held, "a", 105.0, MARGIN)  # stopped before anyone else may take it (at 108)
    assert not leads(held, "b", 101.0, MARGIN)
    assert not leads(None, "a", 101.0, MARGIN)


def test_at_most_one_controller_leads_at_any_time() -> None:
    """Two controllers claiming in turn, one of them stopping its renewals at 20 s: at every instant
    at most one of them leads, and the other takes over once the lease expires."""
    row: Lease | None = None
    held: dict[str, Lease | None] = {"a": None, "b": None}
    leaders: list[set[str]] = []
    for tick in range(0, 400):
        now = tick / 10
        for me in ("a", "b"):
            if me == "a" and now >= 20.0:
                continue  # a is paused: it neither renews nor learns it lost
            new = claim(row, me, now, TTL)
            if new is not None:
                row = held[me] = new
            elif held[me] is not None and row is not None and row.holder != me:
                held[me] = None
        leaders.append({me for me in ("a", "b") if leads(held[me], me, now, MARGIN)})
    assert all(len(now_leading) <= 1 for now_leading in leaders)
    assert leaders[100] == {"a"} and leaders[-1] == {"b"}


def test_a_clean_stop_releases_the_lease_to_be_taken_at_once() -> None:
    held = Lease("a", 108.0, 2, 90.0)
    freed = released(held, "a", 101.0)
    assert freed == Lease("a", 101.0, 2, 90.0)
    assert claim(freed, "b", 101.0, TTL) == Lease("b", 109.0, 3, 101.0)
    assert released(held, "b", 101.0) is None  # not b's to release
    assert released(held, "a", 108.0) is None  # already expired


def test_lease_times_derive_from_the_ttl_and_refuse_nonsense() -> None:
    times = LeaseTimes.from_ttl(8.0)
    assert (times.renew_s, times.margin_s) == (2.0, 3.0)
    with pytest.raises(ValueError):
        LeaseTimes(ttl_s=4.0, renew_s=2.0, margin_s=2.0)


@pytest.mark.parametrize(("chosen", "group", "mode"), [
    (None, None, HaMode.NONE),
    (None, "controllers", HaMode.SHARED),
    (HaMode.SHARED, "controllers", HaMode.SHARED),
    (HaMode.LEASE, None, HaMode.LEASE),
    (HaMode.NONE, None, HaMode.NONE),
])
def test_the_mode_follows_the_options(chosen: HaMode | None, group: str | None, mode: HaMode) -> None:
    assert ha_mode(chosen, group) is mode


@pytest.mark.parametrize(("chosen", "group"), [(HaMode.SHARED, None), (HaMode.LEASE, "controllers"),
                                               (HaMode.NONE, "controllers")])
def test_options_that_disagree_are_refused(chosen: HaMode, group: str | None) -> None:
    with pytest.raises(ValueError):
        ha_mode(chosen, group)
