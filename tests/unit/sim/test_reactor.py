"""The reactor's parts: timers and the token bucket with plain numbers, the reactor itself with a
local socket pair and a second thread."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from controller.core.ratelimit import TokenBucket
from controller.sim.reactor import READ, WRITE, Reactor, Timers

# --- timers --------------------------------------------------------------------------------------


def test_timers_come_due_in_time_order_ties_in_scheduling_order() -> None:
    timers: Timers[str] = Timers()
    for key, due in (("c", 3.0), ("a", 1.0), ("b2", 2.0), ("b1", 2.0)):
        timers.schedule(key, due)
    assert timers.next_due() == 1.0
    assert list(timers.pop_due(0.5)) == []
    assert list(timers.pop_due(2.0)) == ["a", "b2", "b1"]
    assert list(timers.pop_due(10.0)) == ["c"]
    assert list(timers.pop_due(10.0)) == [] and timers.next_due() is None


def test_scheduling_a_key_again_replaces_its_timer() -> None:
    timers: Timers[tuple[int, str]] = Timers()
    timers.schedule((1, "heartbeat"), 1.0)
    timers.schedule((1, "heartbeat"), 5.0)
    timers.schedule((2, "heartbeat"), 2.0)
    assert list(timers.pop_due(4.0)) == [(2, "heartbeat")]
    assert list(timers.pop_due(5.0)) == [(1, "heartbeat")]


def test_cancelled_timers_never_come() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("a", 1.0)
    timers.schedule("b", 1.0)
    timers.cancel("a", "not-scheduled")
    assert timers.next_due() == 1.0  # still in the heap: an early wake-up, nothing more
    assert list(timers.pop_due(1.0)) == ["b"]


def test_a_timer_scheduled_while_popping_comes_if_already_due() -> None:
    timers: Timers[str] = Timers()
    timers.schedule("first", 1.0)
    seen = []
    for key in timers.pop_due(2.0):
        seen.append(key)
        if key == "first":
            timers.schedule("now", 2.0)
            timers.schedule("later", 3.0)
            timers.cancel("first")  # already popped: nothing to cancel
    assert seen == ["first", "now"]
    assert list(timers.pop_due(3.0)) == ["later"]


# --- token bucket --------------------------------------------------------------------------------


def drain(bucket: TokenBucket) -> int:
    taken = 0
    while bucket.ready():
        bucket.take()
        taken += 1
    return taken


def test_the_bucket_starts_full_and_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=3.0, now=0.0)
    assert drain(bucket) == 3 and bucket.wait_s() == pytest.approx(0.1)
    bucket.refill(0.05)
    assert not bucket.ready() and bucket.wait_s() == pytest.approx(0.05)
    bucket.refill(0.1)
    assert bucket.ready() and bucket.wait_s() == 0.0
    bucket.refill(100.0)
    assert drain(bucket) == 3  # never more than the burst


def test_the_bucket_rejects_a_bad_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, burst=1.0, now=0.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=1.0, burst=0.5, now=0.0)


# --- the reactor ---------------------------------------------------------------------------------


def test_select_hands_back_the_handler_of_a_ready_socket() -> None:
    reactor: Reactor[str] = Reactor()
    left, right = socket.socketpair()
    try:
        reactor.register(left, "left")
        assert reactor.sockets() == 1
        assert reactor.select(0.0) == []
        right.send(b"x")
        assert reactor.select(1.0) == [("left", READ)]
        reactor.watch_writes(left, "left", True)
        assert ("left", READ | WRITE) in reactor.select(1.0)
        reactor.unregister(left)
        reactor.unregister(left)  # twice: ignored
        assert reactor.sockets() == 0
    finally:
        reactor.close()
        left.close()
        right.close()


def test_a_posted_command_wakes_select_and_runs_on_the_loop() -> None:
    reactor: Reactor[str] = Reactor()
    ran: list[str] = []
    try:
        threading.Timer(0.05, lambda: reactor.post(lambda: ran.append(threading.current_thread().name))).start()
        started = time.monotonic()
        assert reactor.select(5.0) == []  # woken, with no socket ready
        assert time.monotonic() - started < 4.0 and ran == []
        reactor.run_commands()
        assert ran == [threading.current_thread().name]
    finally:
        reactor.close()


def test_call_waits_for_the_loop_and_raises_its_error() -> None:
    reactor: Reactor[str] = Reactor()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            reactor.select(0.1)
            reactor.run_commands()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        done: list[int] = []
        assert reactor.call(lambda: done.append(1), 5.0, gone=lambda: False) and done == [1]
        with pytest.raises(KeyError):
            reactor.call(lambda: {}["missing"], 5.0, gone=lambda: False)
    finally:
        stop.set()
        thread.join()
    assert not reactor.call(lambda: None, 5.0, gone=lambda: True)  # no loop to answer
    reactor.close()
