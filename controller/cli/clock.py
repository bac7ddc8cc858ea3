"""Times as a lecturer types them: durations (`90m`, `1h30m`, `-15m`) and wall-clock ends (`11:30`,
`2026-12-02 11:30`) in the zone the CLI shows times in (`FLEET_TIMEZONE`, else the machine's own).

A bad value is a FleetError: one line from `friendly`, never a traceback.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from controller.errors import FleetError

ENV_ZONE: Final = "FLEET_TIMEZONE"
_DURATION_RE: Final = re.compile(r"(?P<sign>[-+]?)(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?")


def zone() -> tzinfo:
    """The zone times are typed and shown in: FLEET_TIMEZONE (an IANA name), else the machine's."""
    name = os.environ.get(ENV_ZONE)
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FleetError(f"{ENV_ZONE}={name!r} is not a time zone (e.g. Europe/London)") from exc


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
    tz = zone()
    when = datetime.fromtimestamp(ts, tz)
    return when.strftime("%H:%M") if when.date() == datetime.now(tz).date() else when.strftime("%Y-%m-%d %H:%M")
