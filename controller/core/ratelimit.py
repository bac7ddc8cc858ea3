"""Rate limits: a token bucket (`TokenBucket`), and token buckets per key, bounded in number
(`Buckets`).

Pure: `now` is a parameter. The controller keeps one `Buckets` for requests (keyed by reply topic,
which names the user under the secure profile) so one flooding client cannot starve the others;
the simulator paces its connects with one `TokenBucket`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

MAX_KEYS: Final = 10_000
"""Buckets kept at once; the least recently used is forgotten first (a forgotten key starts full)."""


class TokenBucket:
    """`rate` tokens a second, at most `burst` kept; it starts full."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._at = now

    def refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._at) * self._rate)
        self._at = now

    def ready(self) -> bool:
        """A whole token is there (as of the last `refill`)."""
        return self._tokens >= 1.0

    def take(self) -> None:
        self._tokens -= 1.0

    def wait_s(self) -> float:
        """Seconds from the last `refill` until a whole token is there."""
        return max(0.0, (1.0 - self._tokens) / self._rate)


@dataclass(slots=True)
class _Keyed:
    bucket: TokenBucket
    refused_at: float = float("-inf")  # when a refusal was last answered


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    answer: bool
    """For a refusal: whether to tell the client (at most once per `quiet_s`), so that a flood of
    refusals does not become a flood of replies."""


class Buckets:
    """`rate` tokens a second per key, up to `burst`; each admitted event takes one."""

    def __init__(self, rate: float, burst: float, *, quiet_s: float = 1.0, max_keys: int = MAX_KEYS) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst at least 1, max_keys at least 1")
        self.rate, self.burst, self.quiet_s, self.max_keys = rate, burst, quiet_s, max_keys
        self._buckets: OrderedDict[str, _Keyed] = OrderedDict()

    def take(self, key: str, now: float) -> Verdict:
        keyed = self._buckets.get(key)
        if keyed is None:
            keyed = self._buckets[key] = _Keyed(TokenBucket(self.rate, self.burst, now))
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            keyed.bucket.refill(now)
        if keyed.bucket.ready():
            keyed.bucket.take()
            return Verdict(True, True)
        answer = now - keyed.refused_at >= self.quiet_s
        if answer:
            keyed.refused_at = now
        return Verdict(False, answer)

    def __len__(self) -> int:
        return len(self._buckets)
