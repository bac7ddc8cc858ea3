"""Untrusted text in log lines: shown bounded and escaped.

A client chooses its client id, username and topics (up to 65,535 bytes each). Formatting such a
string unbounded cost the broker 38.7 s of CPU for one 65,535-byte topic (rich's highlighter
scanning it). So `shown` gives at most `TEXT_LIMIT` characters of client text, quoted and with
control, format and bidi characters escaped (a `\\n` cannot forge a second log line, a U+202E
cannot reorder one). Repeated denials are counted, not logged, by `controller.broker.logs`.
"""

from __future__ import annotations

from typing import Final

TEXT_LIMIT: Final = 80
"""Characters of one client-supplied string a log line shows."""


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
