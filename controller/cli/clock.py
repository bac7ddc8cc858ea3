"""Times as a lecturer types them and as the CLI shows them: durations (`90m`, `1h30m`, `-15m`; a bare
number is minutes), wall-clock ends (`11:30`, `2026-12-02 11:30`), and every instant shown or written
(`local`, `stamp`, `shown`), all in one zone (`FLEET_ZONE`, else $TZ, else the machine's own).

A bad value is a FleetError: one line from `friendly`, never a traceback.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.errors import FleetError

ENV_ZONE: Final = "FLEET_ZONE"
_DURATION_RE: Final = re.compile(r"(?P<sign>[-+]?)(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?")


def zone(name: str | None = None) -> tzinfo:
    """The named zone, else FLEET_ZONE's, else $TZ's, else this machine's (/etc/localtime), else UTC:
    a zone with its rules (a 10:00 lecture stays 10:00 across a daylight-saving change), not an offset."""
    name = name or os.environ.get(ENV_ZONE) or os.environ.get("TZ", "").lstrip(":") or None
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise FleetError(f"unknown time zone {name!r}: give an IANA name such as Europe/London") from None
    return _machine_zone()


@cache
def _machine_zone() -> tzinfo:
    """/etc/localtime as a zone, else UTC: read once, as every time shown (a table cell) asks for it."""
    try:
        with open("/etc/localtime", "rb") as local:
            return ZoneInfo.from_file(local, key="localtime")
    except (OSError, ValueError):
        return UTC


def local(ts: float, tz: tzinfo | None = None) -> datetime:
    """An instant (epoch seconds) as a wall-clock time in `tz`, else in the CLI's zone: every time the
    CLI shows or writes is formatted from this."""
    return datetime.fromtimestamp(ts, zone() if tz is None else tz)


def stamp(ts: float | None) -> str:
    """An instant as `2026-12-02 11:30:05` in the CLI's zone; `-` for none."""
    return "-" if ts is None else local(ts).strftime("%Y-%m-%d %H:%M:%S")


def seconds(text: str) -> float:
    """`90m`, `1h30m`, `2h`, `45s`, `-15m` (a bare number is minutes) as seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"[-+]?\d+", text):
        return float(int(text) * 60)
    match = _DURATION_RE.fullmatch(text)
    if match is None or not any(match.group(k) for k in ("h", "m", "s")):
        raise FleetError(f"{text!r} is not a duration (e.g. 90m, 1h30m, -15m)")
    total = int(match.group("h") or 0) * 3600 + int(match.group("m") or 0) * 60 + int(match.group("s") or 0)
    return float(-total if match.group("sign") == "-" else total)


def wall_clock(text: str, now: datetime) -> float:
    """`11:30` (today, or tomorrow when that has passed) or `2026-12-02 11:30`, in `now`'s zone, as
    epoch seconds: the zone's rules give the instant, across a daylight-saving change too."""
    text = text.strip()
    try:
        if " " in text or "T" in text:
            day, _, clock = text.replace("T", " ").partition(" ")
            when = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), now.tzinfo)
        else:
            when = datetime.combine(now.date(), time.fromisoformat(text), now.tzinfo)
            if when <= now:
                when = datetime.combine(now.date() + timedelta(days=1), when.time(), now.tzinfo)
    except ValueError as exc:
        raise FleetError(f"{text!r} is not a time (e.g. 11:30 or 2026-12-02 11:30)") from exc
    return when.timestamp()


def until(text: str | None) -> float | None:
    """A --until option's value as epoch seconds (None stays None)."""
    return None if text is None else wall_clock(text, datetime.now(zone()))


def shown(ts: float | None) -> str:
    """An instant as `11:30` when today, else `2026-12-02 11:30`, in the CLI's zone."""
    if ts is None:
        return "-"
    when = local(ts)
    today = datetime.now(when.tzinfo).date()
    return when.strftime("%H:%M") if when.date() == today else when.strftime("%Y-%m-%d %H:%M")


def week(now: float, tz: tzinfo) -> tuple[int, int]:
    """This week in `tz`, Monday 00:00 to the next Monday 00:00, as epoch seconds (a week across a
    daylight-saving change is an hour longer or shorter)."""
    monday = local(now, tz).date()
    monday -= timedelta(days=monday.weekday())
    start = datetime.combine(monday, time(), tz)
    return int(start.timestamp()), int(datetime.combine(monday + timedelta(days=7), time(), tz).timestamp())
