"""Untrusted text in log lines: shown bounded and escaped, and repeated denials counted, not logged.

A client chooses its client id, username and topics (up to 65,535 bytes each) and how often it is
refused. Formatting such a string unbounded cost the broker 38.7 s of CPU for one 65,535-byte topic
(rich's highlighter scanning it), and one refusal per packet would flood any log. So:

- `shown` gives at most `TEXT_LIMIT` characters of client text, quoted and with control, format and
  bidi characters escaped (a `\\n` cannot forge a second log line, a U+202E cannot reorder one);
- `DenialLog` lets through the first line per (client, reason) in each window and counts the
  rest; `flush` then gives one count per key, so the operator sees every kind of trouble once,
  and how often, without a line per packet. Its memory is bounded by `max_keys`.

Pure: `now` is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TEXT_LIMIT: Final = 80
"""Characters of one client-supplied string a log line shows."""

DENIAL_WINDOW_S: Final = 60.0
DENIAL_MAX_KEYS: Final = 200
"""Clients whose denials are told apart in one window: at most this many full lines a minute."""


def shown(text: str | bytes | None, limit: int = TEXT_LIMIT) -> str:
    """`text` for a log line: quoted and escaped like repr(), cut after `limit` characters with a
    note of how long it was."""
    if text is None:
        return "None"
    if isinstance(text, bytes | bytearray):
        text = bytes(text[: limit * 4]).decode("utf-8", errors="backslashreplace")
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


@dataclass(frozen=True, slots=True)
class Suppressed:
    """Denials not logged one by one since the last flush: `count` more of `reason` from `who`."""

    who: str
    reason: str
    count: int


class DenialLog:
    """Which denial lines to log: the first per (who, reason) in each window; the rest are counted."""

    def __init__(self, window_s: float = DENIAL_WINDOW_S, max_keys: int = DENIAL_MAX_KEYS) -> None:
        self.window_s = window_s
        self._max_keys = max_keys
        self._counts: dict[tuple[str, str], int] = {}  # logged key -> denials since, not logged
        self._unlisted = 0  # denials of keys that did not fit
        self._started: float | None = None

    def admit(self, who: str, reason: str, now: float) -> bool:
        """Record one denial; True if it is the first of its key in this window (log it in full)."""
        if self._started is None:
            self._started = now
        key = (who, reason)
        count = self._counts.get(key)
        if count is not None:
            self._counts[key] = count + 1
            return False
        if len(self._counts) >= self._max_keys:
            self._unlisted += 1
            return False
        self._counts[key] = 0
        return True

    def due(self, now: float) -> bool:
        """Whether the window has passed (call `flush`)."""
        return self._started is not None and now - self._started >= self.window_s

    def flush(self) -> tuple[list[Suppressed], int]:
        """The counts not logged since the window began, and the denials of clients that did not
        fit in the table; starts a new window (the next denial of any key is logged again)."""
        suppressed = [Suppressed(who, reason, count) for (who, reason), count in self._counts.items() if count]
        unlisted = self._unlisted
        self._counts.clear()
        self._unlisted = 0
        self._started = None
        return suppressed, unlisted
