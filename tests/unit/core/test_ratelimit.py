"""Token buckets for client rate limits."""

from __future__ import annotations

import pytest

from controller.core.ratelimit import Buckets


def test_a_burst_is_admitted_then_the_rate() -> None:
    buckets = Buckets(rate=2, burst=5)
    assert [buckets.take("a", 0.0).allowed for _ in range(6)] == [True] * 5 + [False]
    assert buckets.take("a", 0.5).allowed  # 0.5 s at 2/s: one token back
    assert not buckets.take("a", 0.5).allowed
    assert buckets.take("a", 10.0).allowed  # refilled, but never past the burst
    assert sum(buckets.take("a", 10.0).allowed for _ in range(10)) == 4


def test_keys_are_independent() -> None:
    buckets = Buckets(rate=1, burst=1)
    assert buckets.take("flood", 0.0).allowed
    assert not buckets.take("flood", 0.0).allowed
    assert buckets.take("other", 0.0).allowed


def test_refusals_are_answered_at_most_once_per_quiet_period() -> None:
    buckets = Buckets(rate=0.001, burst=1, quiet_s=1.0)
    buckets.take("a", 0.0)
    answers = [buckets.take("a", t / 10).answer for t in range(25)]
    assert answers.count(True) == 3  # at 0.0, 1.0 and 2.0 s
    assert answers[0] and answers[10] and answers[20]


def test_the_number_of_keys_is_bounded() -> None:
    buckets = Buckets(rate=1, burst=1, max_keys=3)
    for key in "abcde":
        buckets.take(key, 0.0)
    assert len(buckets) == 3
    assert buckets.take("a", 0.0).allowed  # forgotten, so it starts full again


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Buckets(rate=0, burst=1)
