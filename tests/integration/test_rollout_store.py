"""The store's rollouts on SQLite and PostgreSQL: created with their waves, refused when they overlap,
progress recorded once, states moved only from where they may be; and on PostgreSQL two controllers
(two stores) ticking one rollout at once never command a device twice: the row lock serialises them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlmodel import Session

from controller.adapters.rollouts import START_LOCK
from controller.adapters.store import Store
from controller.adapters.tables import Device
from controller.contract.rollouts import RolloutStartParams
from controller.core import rollout
from controller.errors import RolloutRefused, UnknownRollout

NOW = 1_000_000.0
FACTS = rollout.Facts(online=frozenset({"a", "b", "c", "d"}), running=dict.fromkeys("abcd", "1.2.0"))


def create(store: Store, devices: str = "abcd", **params: object) -> int:
    start = RolloutStartParams("1.3.0", all=True, canary=0, **params)  # type: ignore[arg-type]
    return store.rollouts.create(start, rollout.waves(list(devices), start.canary, start.rate_per_min), by="admin",
                                 now=NOW).id


def decide_at(now: float) -> Callable[[rollout.Plan, list[rollout.Target]], rollout.Decision]:
    return lambda plan, targets: rollout.decide(plan, targets, FACTS, now)


def test_a_tick_writes_its_commands_and_a_second_finds_the_budget_spent(store: Store) -> None:
    rollout_id = create(store, rate_per_min=2)
    ticked = store.rollouts.tick(rollout_id, decide_at(NOW), NOW)
    assert ticked is not None and ticked[1].commanded == ("a", "b")
    again = store.rollouts.tick(rollout_id, decide_at(NOW + 1), NOW + 1)
    assert again is not None and again[1].commanded == ()
    summary, _plan, targets = store.rollouts.status(rollout_id)
    assert summary.counts == {"commanded": 2, "pending": 2}
    assert [(t.device_id, t.attempts, t.commanded_at) for t in targets[:2]] == [("a", 1, NOW), ("b", 1, NOW)]


def test_progress_is_recorded_once_and_only_for_the_rollouts_version(store: Store) -> None:
    rollout_id = create(store)
    store.rollouts.tick(rollout_id, decide_at(NOW), NOW)
    assert store.rollouts.record("a", "1.1.0", "confirmed", percent=None, reason=None, now=NOW + 1) == []
    [(rid, moved)] = store.rollouts.record("a", "1.3.0", "failed", percent=None, reason="bad_signature", now=NOW + 2)
    assert (rid, moved.state, moved.reason, moved.changed_at) == (rollout_id, "failed", "bad_signature", NOW + 2)
    assert store.rollouts.record("a", "1.3.0", "failed", percent=None, reason="bad_signature", now=NOW + 3) == []


def test_an_overlapping_rollout_is_refused_until_the_first_ends(store: Store) -> None:
    first = create(store, devices="ab")
    with pytest.raises(RolloutRefused) as refused:
        create(store, devices="bc")
    assert refused.value.code == "rollout_overlap" and f"rollout {first}" in refused.value.message
    summary, targets = store.rollouts.set_state(first, "aborted", rollout.ACTIVE, NOW)
    assert summary.state == "aborted" and len(targets) == 2
    assert create(store, devices="bc") > first
    with pytest.raises(RolloutRefused) as wrong:
        store.rollouts.set_state(first, "running", ("paused",), NOW)
    assert wrong.value.code == "rollout_state"
    with pytest.raises(UnknownRollout):
        store.rollouts.status(999)
    assert [s.id for s in store.rollouts.summaries()] == [first + 1, first]
    assert store.rollouts.rollout_counts() == {"aborted": 1, "running": 1}


def test_the_devices_serving_a_session_are_read_from_the_database(store: Store) -> None:
    with Session(store.engine) as s, s.begin():  # as another controller's claim leaves them
        s.add_all([Device(id="dev-busy", session_id=7), Device(id="dev-free")])
    assert store.rollouts.serving() == {"dev-busy"}


def test_two_controllers_ticking_at_once_command_each_device_once(pg_url: str) -> None:
    first, second = Store(pg_url), Store(pg_url)
    try:
        rollout_id = create(first, rate_per_min=2)
        inside = threading.Event()
        decisions: list[rollout.Decision] = []

        def slow(plan: rollout.Plan, targets: list[rollout.Target]) -> rollout.Decision:
            decision = rollout.decide(plan, targets, FACTS, NOW)
            inside.set()
            time.sleep(0.5)  # hold the row lock while the other controller tries its tick
            return decision

        def tick_second() -> None:
            inside.wait(10)
            ticked = second.rollouts.tick(rollout_id, decide_at(NOW), NOW)
            assert ticked is not None
            decisions.append(ticked[1])

        other = threading.Thread(target=tick_second)
        other.start()
        ticked = first.rollouts.tick(rollout_id, slow, NOW)
        other.join(15)
        assert ticked is not None and ticked[1].commanded == ("a", "b")
        assert [d.commanded for d in decisions] == [()]  # it waited for the lock, then found the budget spent
        assert first.rollouts.status(rollout_id)[0].counts == {"commanded": 2, "pending": 2}
    finally:
        first.close()
        second.close()


def test_a_start_waits_for_another_controllers_start_to_commit(pg_url: str) -> None:
    """Starts hold one advisory lock until they commit, so a second controller's overlap check sees
    the first's devices: here a start waits while another connection holds the lock."""
    first, second = Store(pg_url), Store(pg_url)
    try:
        created: list[int] = []
        other = threading.Thread(target=lambda: created.append(create(second, devices="bc")))
        with first.engine.connect() as held:  # another controller's start, between its check and its commit
            held.execute(text("SELECT pg_advisory_lock(:key)"), {"key": START_LOCK})
            other.start()
            other.join(0.5)
            assert other.is_alive() and created == []  # waiting for the lock, not checking a stale picture
            held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": START_LOCK})
            other.join(15)
        assert len(created) == 1
        with pytest.raises(RolloutRefused):
            create(first, devices="ab")
    finally:
        first.close()
        second.close()
