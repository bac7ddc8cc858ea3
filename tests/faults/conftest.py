"""Hypothesis profiles of the fault suite, chosen with HYPOTHESIS_PROFILE (default `ci`).

* `ci` — bounded examples, no deadline (a 2-core CI machine has noisy timings), derandomized so
  a run is reproducible and a strict xfail never flips by luck; the whole fault fuzz stays near a
  minute.
* `soak` — 75 times the examples, fresh randomness each run: `HYPOTHESIS_PROFILE=soak pytest
  tests/faults -k fuzz` (for `make soak`, which runs the fleet soak of tests/faults/soak.py today).
  The broker flood scales with it (`scaled()`).
* `dev` — a quick local loop.

No example database is written (`database=None`): CI starts from a fresh clone anyway, and the
work tree stays clean; a failure prints the example and its reproduction blob.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=40, derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
settings.register_profile("dev", max_examples=20, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
settings.register_profile("soak", max_examples=3000, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_HEALTH)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def scaled(n: int) -> int:
    """`n` under the `ci` profile, proportionally more under a longer one."""
    return max(1, n * settings().max_examples // 40)
