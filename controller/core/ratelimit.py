"""Rate limits on what clients send: token buckets per key, bounded in number.

Pure: `now` is a parameter. The controller keeps one `Buckets` for requests (keyed by reply topic,
which names the user under the secure profile) so one flooding client cannot starve the others.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

MAX_KEYS: Final = 10_000
"""Buckets kept at once; the least recently used is forgotten first (a forgotten key starts full)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
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
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> Verdict:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict(True, True)
        answer = now - bucket.refused_at >= self.quiet_s
        if answer:
            bucket.refused_at = now
        return Verdict(False, answer)

    def __len__(self) -> int:
        return len(self._buckets)
