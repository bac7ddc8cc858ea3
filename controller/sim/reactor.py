"""The parts of a single-threaded event loop, free of MQTT and of devices: a selector with a
wake-up socket and a queue of commands from other threads (`Reactor`), keyed one-shot timers
(`Timers`); the token bucket that paces work is `controller.core.ratelimit.TokenBucket`. `now`
(monotonic seconds) is passed in wherever time counts, so timers are tested with plain numbers.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Final, Generic, Protocol, TypeVar

K = TypeVar("K", bound=Hashable)
H = TypeVar("H")

READ: Final = selectors.EVENT_READ
WRITE: Final = selectors.EVENT_WRITE


class Selectable(Protocol):
    """What a selector watches: anything with a file descriptor."""

    def fileno(self) -> int: ...


class Timers(Generic[K]):
    """One-shot timers, at most one pending per key: scheduling a key again replaces its timer."""

    __slots__ = ("_heap", "_live", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, int] = {}  # the heap entry that counts for each key, by sequence number
        self._seq = itertools.count()

    def schedule(self, key: K, due: float) -> None:
        seq = next(self._seq)
        self._live[key] = seq
        heapq.heappush(self._heap, (due, seq, key))

    def cancel(self, *keys: K) -> None:
        for key in keys:
            self._live.pop(key, None)

    def next_due(self) -> float | None:
        """When the earliest entry is due; a cancelled one still counts (an early, idle wake-up)."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[K]:
        """The keys due by `now`, earliest first (ties in scheduling order). Each is no longer
        pending when it is yielded; one scheduled meanwhile comes too if it is due by `now`."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, key = heapq.heappop(heap)
            if self._live.get(key) != seq:
                continue  # cancelled or replaced
            del self._live[key]
            yield key


class Reactor(Generic[H]):
    """A selector whose sockets each carry a handler value, woken early by other threads.

    Other threads `post` commands (or `call` and wait for one); the loop's thread runs them with
    `run_commands` after `select`. Everything else belongs to the loop's thread.
    """

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, READ, None)
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    # --- the loop's thread ---

    def register(self, sock: Selectable, handler: H) -> None:
        self._sel.register(sock, READ, handler)

    def watch_writes(self, sock: Selectable, handler: H, on: bool) -> None:
        """Also wake for `sock` becoming writable (`on`), or for reads only again."""
        self._sel.modify(sock, READ | WRITE if on else READ, handler)

    def unregister(self, sock: Selectable) -> None:
        """Forget `sock`; one never registered, or already closed, is ignored."""
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)

    def sockets(self) -> int:
        """How many sockets are registered (the wake-up socket not counted)."""
        return len(self._sel.get_map()) - 1

    def select(self, timeout: float) -> list[tuple[H, int]]:
        """Wait up to `timeout` s; the ready sockets' handlers, each with its `READ`/`WRITE` mask."""
        ready: list[tuple[H, int]] = []
        for key, mask in self._sel.select(timeout):
            if key.fileobj is self._wake_r:
                self._drain_wake()
            else:
                ready.append((key.data, mask))
        return ready

    def run_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command()

    def close(self) -> None:
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(4096):
                pass

    # --- any thread ---

    def post(self, command: Callable[[], None]) -> None:
        """Have the loop's thread run `command` soon."""
        self._commands.put(command)
        self.wake()

    def wake(self) -> None:
        """End the loop's current `select` early."""
        with contextlib.suppress(OSError):  # a wake-up is pending already, or the reactor has closed
            self._wake_w.send(b"\0")

    def call(self, command: Callable[[], None], timeout_s: float, gone: Callable[[], bool]) -> bool:
        """Run `command` on the loop's thread and wait for it; its exception is raised here. False
        when it did not finish in `timeout_s` or the loop is `gone`."""
        done = threading.Event()
        errors: list[Exception] = []

        def run() -> None:
            try:
                command()
            except Exception as exc:  # handed back to the caller's thread
                errors.append(exc)
            finally:
                done.set()

        self.post(run)
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            if gone() or time.monotonic() > deadline:
                return False
        if errors:
            raise errors[0]
        return True
