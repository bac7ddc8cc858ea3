"""Timetable files: an iCalendar file or a CSV, read into the `Series` of lectures they hold in a
window of dates. The one adapter of `icalendar` and `recurring-ical-events` (recurrence is theirs:
RRULE, RDATE, EXDATE, moved occurrences); their types end here.

Functions of text, no I/O. Times without a zone (an iCalendar "floating" time, every CSV time) are
wall-clock times of the controller's `zone`; a time of a named zone is turned into UTC by that zone's
rules, so a 10:00 lecture stays at 10:00 across a daylight-saving change. An all-day event holds no
lecture: it is skipped and named in `Timetable.skipped`. A file that cannot be read raises
TimetableFileError with one line naming the file, its line or event, and what is wrong.

The course of an iCalendar event is its X-COURSE property when it has one, else the first word of
its SUMMARY ("CS101 - Introduction to Computing", "CS101: Intro", "CS101 Intro"), which must be a
course code with a digit in it; the rest of the SUMMARY is the title. LOCATION is the room and
ORGANIZER's CN the lecturer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

import icalendar
import recurring_ical_events

from controller.contract.messages import COURSE_RE
from controller.contract.readers import ROOM_RE, clean_text
from controller.contract.timetable import MAX_DURATION_S, MAX_STARTS, Series
from controller.errors import FleetError

MAX_WINDOW: Final = timedelta(days=366)
"""The default window: from the file's first date, at most a year."""
CSV_COLUMNS: Final = ("course", "title", "room", "lecturer", "weekday", "start", "end", "first_date", "last_date")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TIME_RE: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_SEPARATORS: Final = " \t-–—:|"


class TimetableFileError(FleetError):
    """A timetable file that cannot be read: one line saying where and what."""


@dataclass(frozen=True, slots=True)
class Window:
    """Dates, both included, in the controller's zone."""

    first: date
    last: date

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        return (datetime.combine(self.first, time(), zone),
                datetime.combine(self.last + timedelta(days=1), time(), zone))


@dataclass(frozen=True, slots=True)
class Timetable:
    series: tuple[Series, ...]
    window: Window
    skipped: tuple[str, ...] = ()
    """Events that hold no lecture (all-day, cancelled), each named with why."""

    @property
    def lectures(self) -> int:
        return sum(len(s.starts) for s in self.series)


def read_timetable(name: str, text: str, zone: tzinfo, window: Window | None = None) -> Timetable:
    """The file's format by its extension: .ics or .csv."""
    lowered = name.lower()
    if lowered.endswith((".ics", ".ical", ".ifb")):
        return read_ics(text, zone, window, source=name)
    if lowered.endswith(".csv"):
        return read_csv(text, zone, window, source=name)
    raise TimetableFileError(f"{name}: a timetable is an iCalendar file (.ics) or a CSV (.csv)")


def _stable_id(prefix: str, *parts: str) -> str:
    return f"{prefix}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}"


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


def _check_text(value: str, what: str, where: str, hi: int) -> str:
    if not clean_text(value):
        raise TimetableFileError(f"{where}: {what} holds control or bidi-override characters")
    return value[:hi]


def _check_room(room: str, where: str, what: str) -> str:
    if not room:
        raise TimetableFileError(f"{where}: no {what} (the room)")
    if ROOM_RE.fullmatch(room) is None:
        raise TimetableFileError(f"{where}: {what} {room[:40]!r} is not a room: 1-32 letters, digits, spaces, "
                                 "'.', '_' or '-'")
    return room


def _series(uid: str, fields: tuple[str, str, str, str, int], starts: Iterable[int], where: str) -> Series:
    course, title, room, lecturer, duration = fields
    ordered = tuple(sorted(set(starts)))
    if len(ordered) > MAX_STARTS:
        raise TimetableFileError(f"{where}: {len(ordered)} lectures in the window, at most {MAX_STARTS} per event; "
                                 "import a shorter window (--from/--to)")
    return Series(uid, course, title, room, lecturer, duration, ordered)


def _epoch(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())


# --- iCalendar -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Event:
    uid: str
    where: str
    components: tuple[Any, ...]
    """Its VEVENTs: the master, and the occurrences moved or changed (RECURRENCE-ID)."""


def _calendar(text: str, source: str) -> Any:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise TimetableFileError(f"{source}: not an iCalendar file: {_one_line(exc)[:120]}") from exc
    if not isinstance(calendar, icalendar.Calendar):
        raise TimetableFileError(f"{source}: not an iCalendar file: no VCALENDAR")
    return calendar


def _where(source: str, line: int | None, component: Any) -> str:
    summary = _one_line(component.get("SUMMARY", ""))[:60]
    at = f"{source} line {line}" if line else source
    return f"{at} (event {summary!r})" if summary else f"{at} (event {str(component.get('UID', '?'))[:60]})"


def _start(component: Any, where: str) -> datetime | date:
    """The event's DTSTART, refused when broken or in a zone nobody knows."""
    errors = list(getattr(component, "errors", ()))
    if errors:
        name, problem = errors[0]
        raise TimetableFileError(f"{where}: {name} cannot be read: {_one_line(problem)[:100]}")
    prop = component.get("DTSTART")
    if prop is None:
        raise TimetableFileError(f"{where}: no DTSTART")
    start: datetime | date = prop.dt
    tzid = prop.params.get("TZID")
    if isinstance(start, datetime) and start.tzinfo is None and tzid:
        raise TimetableFileError(f"{where}: unknown time zone {str(tzid)[:40]!r} (no VTIMEZONE for it)")
    if isinstance(start, datetime) and "DTEND" not in component and "DURATION" not in component:
        raise TimetableFileError(f"{where}: no DTEND or DURATION: a lecture needs an end")
    return start


def _events(calendar: Any, text: str, source: str) -> tuple[list[_Event], list[str], date | None]:
    """The calendar's events by uid (each with its line), those skipped, and the first date."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.strip().upper() == "BEGIN:VEVENT"]
    by_uid: dict[str, list[tuple[str, Any]]] = {}
    skipped: list[str] = []
    first: date | None = None
    for index, component in enumerate(calendar.walk("VEVENT")):
        where = _where(source, lines[index] if index < len(lines) else None, component)
        start = _start(component, where)
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            skipped.append(f"{where}: cancelled")
            continue
        if not isinstance(start, datetime):
            skipped.append(f"{where}: an all-day event holds no lecture")
            continue
        if "UID" not in component:  # RFC 5545 wants one; a hand-made file may not have it
            component["UID"] = _stable_id("ics", _one_line(component.get("SUMMARY", "")), start.isoformat(),
                                          _one_line(component.get("LOCATION", "")))
        by_uid.setdefault(str(component["UID"]), []).append((where, component))
        day = start.date()
        first = day if first is None or day < first else first
    events = [_Event(uid, found[0][0], tuple(c for _, c in found)) for uid, found in by_uid.items()]
    return events, skipped, first


def _course_and_title(component: Any, where: str) -> tuple[str, str]:
    summary = _one_line(component.get("SUMMARY", ""))
    explicit = _one_line(component.get("X-COURSE", ""))
    if explicit:
        if COURSE_RE.fullmatch(explicit) is None:
            raise TimetableFileError(f"{where}: X-COURSE {explicit[:40]!r} is not a course code (1-16 letters, "
                                     "digits, '_' or '-')")
        return explicit, _check_text(summary or explicit, "SUMMARY", where, 100)
    word, _, rest = summary.partition(" ")
    code = word.rstrip(":")
    if COURSE_RE.fullmatch(code) is None or not any(c.isdigit() for c in code):
        raise TimetableFileError(f"{where}: SUMMARY does not start with a course code (e.g. 'CS101 - Intro'); "
                                 "or give the event an X-COURSE")
    return code, _check_text(rest.strip(_SEPARATORS) or code, "SUMMARY", where, 100)


def _lecturer(component: Any, where: str) -> str:
    organizer = component.get("ORGANIZER")
    if organizer is None:
        return ""
    name = _one_line(getattr(organizer, "params", {}).get("CN", ""))
    return _check_text(name.strip('"'), "ORGANIZER's CN", where, 64)


def _occurrence(component: Any, zone: tzinfo, where: str) -> tuple[tuple[str, str, str, str, int], int] | None:
    """An occurrence's lecture fields and its start (None: an occurrence moved to a whole day)."""
    start = component["DTSTART"].dt
    if "DTEND" in component:
        end = component["DTEND"].dt
    else:
        end = start + component["DURATION"].dt if "DURATION" in component else start
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return None
    start, end = (t if t.tzinfo is not None else t.replace(tzinfo=zone) for t in (start, end))
    duration = _epoch(end) - _epoch(start)
    if not 60 <= duration <= MAX_DURATION_S:
        raise TimetableFileError(f"{where}: a lecture of {duration // 60} minutes (1 minute to "
                                 f"{MAX_DURATION_S // 3600} hours)")
    course, title = _course_and_title(component, where)
    room = _check_room(_one_line(component.get("LOCATION", "")), where, "LOCATION")
    return (course, title, room, _lecturer(component, where), duration), _epoch(start)


def _expand(calendar: Any, event: _Event, zone: tzinfo, window: Window) -> list[Series]:
    """The event's lectures in the window: one series, or one more for each set of occurrences moved
    to another room or changed otherwise (its uid suffixed by a digest of what differs)."""
    single = icalendar.Calendar()
    for tz in calendar.walk("VTIMEZONE"):
        single.add_component(tz)
    for component in event.components:
        single.add_component(component)
    try:
        found = list(recurring_ical_events.of(single).between(*window.bounds(zone)))
    except (ValueError, KeyError, TypeError) as exc:
        raise TimetableFileError(f"{event.where}: its recurrence cannot be read: {_one_line(exc)[:100]}") from exc
    variants: dict[tuple[str, str, str, str, int], list[int]] = {}
    for component in found:
        occurrence = _occurrence(component, zone, event.where)
        if occurrence is not None:
            variants.setdefault(occurrence[0], []).append(occurrence[1])
    master = next((c for c in event.components if "RECURRENCE-ID" not in c), event.components[0])
    first = _occurrence(master, zone, event.where)
    main = None if first is None else first[0]  # the fields of the series as a whole
    return [_series(event.uid if fields == main else _stable_id(event.uid, *map(str, fields)), fields, starts,
                    event.where) for fields, starts in variants.items()]


def read_ics(text: str, zone: tzinfo, window: Window | None = None, *, source: str = "timetable.ics") -> Timetable:
    """The lectures of an iCalendar file's VEVENTs in `window` (default: from its first event to its
    last lecture, at most a year)."""
    calendar = _calendar(text, source)
    events, skipped, first = _events(calendar, text, source)
    if first is None:
        raise TimetableFileError(f"{source}: no event with a start time")
    given = window
    window = window or Window(first, first + MAX_WINDOW - timedelta(days=1))
    timetable = _result([s for event in events for s in _expand(calendar, event, zone, window)], window, skipped,
                        source)
    if given is not None:
        return timetable
    last = max(datetime.fromtimestamp(s.starts[-1], zone).date() for s in timetable.series)
    return replace(timetable, window=Window(first, last))  # the file's own range (at most the year read)


def _result(series: Sequence[Series], window: Window, skipped: Sequence[str], source: str) -> Timetable:
    kept = tuple(s for s in series if s.starts)
    if not kept:
        raise TimetableFileError(f"{source}: no lectures between {window.first} and {window.last}")
    return Timetable(kept, window, tuple(skipped))


# --- CSV -----------------------------------------------------------------------------------------


def _weekday(value: str, where: str) -> int:
    """0 (Monday) .. 6 (Sunday), from Mon..Sun (any case, or the full name) or 1..7."""
    value = value.strip().lower()
    if value.isdigit() and 1 <= int(value) <= 7:
        return int(value) - 1
    for index, name in enumerate(_DAY_NAMES):
        if len(value) >= 3 and name.startswith(value):
            return index
    raise TimetableFileError(f"{where}: weekday {value[:20]!r} must be Mon..Sun or 1-7 (1 is Monday)")


def _clock(value: str, column: str, where: str) -> time:
    matched = _TIME_RE.fullmatch(value.strip())
    if matched is None:
        raise TimetableFileError(f"{where}: {column} {value[:20]!r} must be a time HH:MM")
    return time(int(matched[1]), int(matched[2]))


def _day(value: str, column: str, where: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise TimetableFileError(f"{where}: {column} {value[:20]!r} must be a date YYYY-MM-DD") from None


@dataclass(frozen=True, slots=True)
class _Row:
    """One CSV row: a course's weekly lecture from `first` to `last`."""

    fields: tuple[str, str, str, str, int]
    weekday: int
    start: time
    first: date
    last: date
    line: int


def _row(row: Mapping[str, str | None], source: str, line: int) -> _Row:
    where = f"{source} line {line}"
    value = {k: (row.get(k) or "").strip() for k in CSV_COLUMNS}
    course = value["course"]
    if COURSE_RE.fullmatch(course) is None:
        raise TimetableFileError(f"{where}: course {course[:40]!r} is not a course code (1-16 letters, digits, "
                                 "'_' or '-')")
    if not value["title"]:
        raise TimetableFileError(f"{where}: no title")
    title = _check_text(_one_line(value["title"]), "title", where, 100)
    room = _check_room(value["room"], where, "room")
    lecturer = _check_text(_one_line(value["lecturer"]), "lecturer", where, 64)
    start, end = _clock(value["start"], "start", where), _clock(value["end"], "end", where)
    duration = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) * 60
    if duration <= 0:
        raise TimetableFileError(f"{where}: end {value['end']} is not after start {value['start']}")
    first, last = _day(value["first_date"], "first_date", where), _day(value["last_date"], "last_date", where)
    if last < first:
        raise TimetableFileError(f"{where}: last_date {last} is before first_date {first}")
    return _Row((course, title, room, lecturer, duration), _weekday(value["weekday"], where), start, first, last,
                line)


def _rows(text: str, source: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise TimetableFileError(f"{source} line 1: the header must name {','.join(CSV_COLUMNS)}; "
                                 f"missing: {', '.join(missing)}")
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if unknown:
        raise TimetableFileError(f"{source} line 1: unknown column {unknown[0][:30]!r}")
    reader.fieldnames = header
    rows: list[_Row] = []
    try:
        for row in reader:
            if None in row:
                raise TimetableFileError(f"{source} line {reader.line_num}: more fields than the header names")
            rows.append(_row(row, source, reader.line_num))
    except csv.Error as exc:
        raise TimetableFileError(f"{source} line {reader.line_num + 1}: {exc}") from exc  # the row it began
    return rows


def _weekly(row: _Row, window: Window, zone: tzinfo) -> list[int]:
    """The row's lectures in the window: every `weekday` from `first` to `last`."""
    first, last = max(row.first, window.first), min(row.last, window.last)
    day = first + timedelta(days=(row.weekday - first.weekday()) % 7)
    starts: list[int] = []
    while day <= last:
        starts.append(_epoch(datetime.combine(day, row.start, zone)))
        day += timedelta(days=7)
    return starts


def read_csv(text: str, zone: tzinfo, window: Window | None = None, *, source: str = "timetable.csv") -> Timetable:
    """The lectures of a CSV's rows in `window` (default: its first first_date to its last last_date,
    at most a year). A row's id is derived from its course, weekday and start: editing its room,
    title, end or dates and importing again replaces its lectures not yet started."""
    rows = _rows(text, source)
    if not rows:
        raise TimetableFileError(f"{source}: no rows under the header")
    if window is None:
        first = min(r.first for r in rows)
        window = Window(first, min(max(r.last for r in rows), first + MAX_WINDOW - timedelta(days=1)))
    seen: dict[str, int] = {}
    series: list[Series] = []
    for row in rows:
        where = f"{source} line {row.line}"
        slot = (row.fields[0], WEEKDAYS[row.weekday], row.start.strftime("%H:%M"))
        uid = _stable_id("csv", *slot)
        if uid in seen:
            raise TimetableFileError(f"{where}: {slot[0]} on {slot[1].title()} at {slot[2]} is already on line "
                                     f"{seen[uid]}")
        seen[uid] = row.line
        series.append(_series(uid, row.fields, _weekly(row, window, zone), where))
    return _result(series, window, (), source)
