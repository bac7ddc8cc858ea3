"""The lease row on SQLite and PostgreSQL: claimed, renewed, taken over once expired, released."""

from __future__ import annotations

import threading

import pytest

from controller.adapters.store import Store
from controller.core.lease import Lease
from controller.errors import LeaseLost


def test_one_controller_holds_the_lease_until_it_expires(store: Store) -> None:
    assert store.lease.current() is None
    assert store.lease.claim("a", 100.0, 8.0) == Lease("a", 108.0, 1, 100.0)
    assert store.lease.claim("b", 101.0, 8.0) == Lease("a", 108.0, 1, 100.0)  # a's, not taken
    assert store.lease.claim("a", 102.0, 8.0) == Lease("a", 110.0, 1, 100.0)  # renewed
    assert store.lease.claim("b", 110.0, 8.0) == Lease("b", 118.0, 2, 110.0)  # expired: taken
    assert store.lease.current() == Lease("b", 118.0, 2, 110.0)


def test_a_released_lease_is_taken_at_once(store: Store) -> None:
    store.lease.claim("a", 100.0, 8.0)
    assert not store.lease.release("b", 101.0)
    assert store.lease.release("a", 101.0)
    assert store.lease.claim("b", 101.0, 8.0) == Lease("b", 109.0, 2, 101.0)


def test_of_controllers_racing_for_a_free_lease_one_wins(store: Store) -> None:
    results: list[Lease | None] = []
    lock = threading.Lock()

    def race(me: str) -> None:
        try:
            got = store.lease.claim(me, 100.0, 8.0)
        except Exception:  # SQLite may refuse a writer that read before another's commit: it lost
            got = None
        with lock:
            results.append(got)

    threads = [threading.Thread(target=race, args=(f"c{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winner = store.lease.current()
    assert winner is not None and winner.term == 1
    assert winner in results
    assert all(r is None or r == winner for r in results)  # no one else believes it holds it


def test_a_deposed_leaders_writes_are_not_committed(store: Store) -> None:
    held = store.lease.claim("a", 100.0, 8.0)
    assert held is not None
    store.fence = store.lease.guard("a", lambda: held.term)
    store.set_device("esp32-00000000f001", name="kept", room=None)  # a leads: written
    assert store.lease.claim("b", 108.0, 8.0) == Lease("b", 116.0, 2, 108.0)  # a's lease ran out; b took it
    with pytest.raises(LeaseLost, match="b does"):
        store.set_device("esp32-00000000f001", name="lost", room=None)
    assert [d.name for d in store.load_devices()] == ["kept"]
