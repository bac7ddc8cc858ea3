"""When a session ends: from what the lecturer asked (`until`, `duration_s`), else the course's usual
length, within the controller's maximum; and where an extension moves it. Pure: `now` is a parameter.

Every session has an end, and the controller ends it then even if nobody asks, so a forgotten
session never holds its devices for good.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Final

from controller.errors import BadRequest

DEFAULT_SESSION_S: Final = 2 * 3600.0
"""A session's length when its course has no usual length yet (the controller's --default-session)."""
MAX_SESSION_S: Final = 4 * 3600.0
"""The longest a session may last (the controller's --max-session)."""
USUAL_OF: Final = 5
"""The course's usual length is the median of its last this many sessions that ended."""
MIN_USUAL_S: Final = 15 * 60
"""Sessions shorter than this (a test, a restart) say nothing about a course's usual length."""


def hours(seconds: float) -> str:
    """`4 h`, `90 min`: a length as a lecturer reads it."""
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


def usual_length(lengths: Sequence[float], default_s: float) -> float:
    """The median of the course's recent session lengths (those of at least MIN_USUAL_S), or the
    default when it has none."""
    kept = [length for length in lengths if length >= MIN_USUAL_S]
    return statistics.median(kept) if kept else default_s


def end_of(now: float, *, until: float | None, duration_s: float | None, usual_s: float, max_s: float) -> float:
    """A new session's end: `until` or `duration_s` from now when given (BadRequest when it is past
    or beyond `max_s` from now), else its course's usual length capped at `max_s`."""
    if until is not None:
        if until <= now:
            raise BadRequest("the session's end ('until') is in the past")
        duration_s = until - now
    if duration_s is not None:
        if duration_s > max_s:
            raise BadRequest(f"a session lasts at most {hours(max_s)} (the controller's --max-session)")
        return now + duration_s
    return now + min(usual_s, max_s)


def extended(ends_at: float | None, now: float, *, by_s: float | None, until: float | None, max_s: float) -> float:
    """Where an extension moves a running session's end: by `by_s` (negative: sooner) or to `until`.
    An end at or before `now` ends the session at the controller's next tick; one beyond `max_s`
    from now is BadRequest."""
    if until is None:
        until = (ends_at if ends_at is not None else now) + (by_s or 0.0)
    if until - now > max_s:
        raise BadRequest(f"a session ends at most {hours(max_s)} from now (the controller's --max-session)")
    return max(until, now)
