"""Rendering for people: the fleet table, session lists and attendance, as rich renderables.

Every function is a pure function of a data snapshot (a typed request API result,
`controller.contract.results`), so the live view and the one-shot commands draw the same thing and
tests render them to a string. Times are drawn by `clock`, in the CLI's one zone (`clock.zone()`:
FLEET_ZONE, else $TZ, else the machine's); a test sets FLEET_ZONE to choose it.

Tables degrade as kubectl's do: each column has a priority; identifiers, SSIDs and states (priority
0) are always shown and never cut, the others drop (least important first) when the rows would not
fit the width the table is drawn at, and no row wraps. `pick_columns` decides, from the widths of
the data; the table is built at render time, so a live view follows the terminal's size. `wide`
keeps every column whatever the width (the rows may then run past it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final, Protocol

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from controller.cli import clock
from controller.contract.messages import AP_SLOTS
from controller.contract.report import (
    CONSECUTIVE_ABSENCES,
    LOW_ATTENDANCE,
    NOT_ON_ROSTER,
    AttendanceReport,
    StudentRow,
)
from controller.contract.results import (
    AttendanceList,
    DeviceRow,
    DevicesList,
    InventoryRow,
    SessionRow,
    SessionStarted,
)
from controller.contract.rosters import RosterList
from controller.contract.session_detail import ServedRow, SessionShown
from controller.contract.timetable import Lecture

GAP: Final = 3
"""Characters between two columns: one of padding, the (blank) rule, one of padding."""

Cell = str | Text


@dataclass(frozen=True)
class Column:
    header: str
    priority: int = 0
    """0: always shown (identifiers, SSIDs, states); otherwise the greater, the sooner it drops."""
    justify: JustifyMethod = "left"


def row_width(widths: Sequence[int]) -> int:
    """The width of a row whose columns are this wide."""
    return sum(widths) + GAP * max(0, len(widths) - 1)


def pick_columns(priorities: Sequence[int], widths: Sequence[int], available: int | None) -> tuple[int, ...]:
    """Indices (in display order) of the columns to show at `available` characters (None: all).

    Every priority-0 column, then the others in priority order (ties: leftmost first) for as long
    as the row still fits; a column is shown only if every more important one is. Priority-0
    columns are kept even if they alone do not fit: they are never cut.
    """
    if available is None:
        return tuple(range(len(priorities)))
    keep = {i for i, p in enumerate(priorities) if p == 0}
    for i in sorted((i for i, p in enumerate(priorities) if p > 0), key=lambda i: (priorities[i], i)):
        if row_width([widths[j] for j in keep | {i}]) > available:
            break
        keep.add(i)
    return tuple(sorted(keep))


@dataclass(frozen=True)
class Grid:
    """A table that picks its columns when drawn, from the width it is drawn at."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[Text, ...], ...]
    title: str | None = None
    wide: bool = False
    title_style: str = "table.title"

    def widths(self) -> list[int]:
        return [max([cell_len(c.header), *(row[i].cell_len for row in self.rows)]) for i, c in enumerate(self.columns)]

    def table(self, available: int | None) -> Table:
        widths = self.widths()
        shown = pick_columns([c.priority for c in self.columns], widths, available)
        width = row_width([widths[i] for i in shown])
        if self.title and available is not None:  # room for the title on one line, if there is room at all
            width = max(width, min(cell_len(self.title), available))
        hidden = len(self.columns) - len(shown)
        table = Table(title=self.title, title_style=self.title_style, box=box.SIMPLE_HEAD, show_edge=False,
                      pad_edge=False, header_style="bold", width=width,
                      caption=f"{hidden} more column{'s' * (hidden > 1)} with --wide" if hidden else None)
        for i in shown:
            column = self.columns[i]
            table.add_column(column.header, justify=column.justify, no_wrap=True)
        for row in self.rows:
            table.add_row(*(row[i] for i in shown))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(None if self.wide else options.max_width)


def grid(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], *, title: str | None = None,
         wide: bool = False, title_style: str = "table.title") -> Grid:
    texts = tuple(tuple(c if isinstance(c, Text) else Text(c) for c in row) for row in rows)
    return Grid(tuple(columns), texts, title, wide, title_style)


def ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    seconds = max(0, int(now - ts))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def totals(snapshot: DevicesList) -> Text:
    """`total 12 · online 10 · offline 2 · available 7`, as the seed's status display had it."""
    text = Text()
    for label, count, style in (("total", snapshot.total, "bold"), ("online", snapshot.online, "green"),
                                ("offline", snapshot.offline, "red"), ("available", snapshot.available, "cyan")):
        if len(text):
            text.append("  ·  ", style="dim")
        text.append(f"{label} ")
        text.append(str(count), style=style)
    return text


HEALTH: Final = (Column("RSSI", 5, "right"), Column("heap", 5, "right"), Column("up", 6, "right"), Column("fw", 7))


def health(row: DeviceRow) -> tuple[Text, Text, str, str]:
    """RSSI, free heap, uptime and firmware, with weak signal or low heap in red."""
    rssi, heap = row.rssi, row.heap
    rssi_text = Text("-" if rssi is None else str(rssi), style="red" if rssi is not None and rssi < -80 else "")
    heap_text = Text("-" if heap is None else f"{heap // 1024}k", style="red" if heap is not None and heap < 30_000
                     else "")
    uptime = row.uptime_s
    up = "-" if uptime is None else ago(0, uptime).removesuffix(" ago")
    return rssi_text, heap_text, up, _dash(row.fw)


class SlotUse(Protocol):
    """A device's slot use as its heartbeat reported it (a fleet table row, a session's device)."""

    @property
    def stations(self) -> int | None: ...
    @property
    def stations_peak(self) -> int | None: ...
    @property
    def stations_refused(self) -> int | None: ...


def slots(row: SlotUse) -> Text:
    """`3/10 ↑10 ✗23`: phones on the access point now of its AP_SLOTS (yellow when full), the session's
    peak when above now, associations refused for want of a slot (red) when there were any."""
    stations, peak, refused = row.stations, row.stations_peak, row.stations_refused
    if stations is None:
        return Text("-")
    text = Text(f"{stations}/{AP_SLOTS}", style="yellow" if stations >= AP_SLOTS else "")
    if peak is not None and peak > stations:
        text.append(f" ↑{peak}")
    if refused:
        text.append(f" ✗{refused}", style="bold red")
    return text


def _version(row: DeviceRow) -> Cell:
    desired, applied = row.config_version, row.applied_version
    if desired is None:
        return "-" if applied is None else f"v{applied}"
    if applied == desired:
        return Text(f"v{desired} ✓", style="green")
    return Text(f"v{_dash(applied)}→v{desired}", style="yellow")


FLEET_COLUMNS: Final = (
    Column("device"), Column("state"), Column("last seen", 2, "right"), Column("room", 3), Column("name", 4),
    Column("SSID"), Column("session", 0, "right"), Column("check-ins", 1, "right"), Column("config", 1, "right"),
    Column("slots", 1, "right"), *HEALTH, Column("served", 8, "right"),
)


def fleet_table(snapshot: DevicesList, now: float, *, title: str = "Fleet",
                checkins: Mapping[int, int] | None = None, wide: bool = False) -> RenderableType:
    """Totals, then one row per device in the snapshot (already sorted/filtered by the controller).
    `checkins`: stored check-ins per session id (from session.list), shown beside each device's session;
    `slots` and `served` are each device's own slot use and check-ins served, from its heartbeat."""
    counts = checkins or {}
    rows = []
    for row in snapshot.devices:
        state = Text("online", style="green") if row.online else Text("offline", style="red")
        for flag in row.flags:
            state.append(f" {flag.replace('_', ' ')}", style="bold yellow")
        stored = None if row.session_id is None else counts.get(row.session_id)
        rows.append((row.id, state, ago(row.last_seen, now), _dash(row.room), _dash(row.name), _dash(row.ssid),
                     _dash(row.session_id), _dash(stored), _version(row), slots(row), *health(row),
                     _dash(row.checkins_served)))
    shown, matched = len(rows), snapshot.matched
    parts: list[RenderableType] = [totals(snapshot), grid(FLEET_COLUMNS, rows, title=title, wide=wide)]
    if matched > shown:
        parts.append(Text(f"showing {shown} of {matched} devices", style="dim"))
    return Group(*parts)


def _status(s: SessionRow) -> Text:
    if not s.active:
        return Text("ended", style="dim")
    if s.degraded:
        return Text("degraded", style="bold red")
    if s.error:
        return Text("rejected", style="red")
    if s.applied:
        return Text("applied", style="green")
    return Text("pending", style="yellow")


SESSION_COLUMNS: Final = (
    Column("id", 0, "right"), Column("course", 2), Column("session", 3), Column("semester", 3), Column("lecturer", 4),
    Column("device"), Column("moved from", 2), Column("SSID"), Column("status"), Column("check-ins", 1, "right"),
    Column("started", 2), Column("ends", 1),
)


def _devices(session: SessionRow) -> str:
    """The session's device, or all of them when it has several."""
    return ", ".join(session.devices) if len(session.devices) > 1 else _dash(session.device)


def sessions_table(sessions: Sequence[SessionRow], *, wide: bool = False) -> Grid:
    rows = [(str(s.session_id), s.course, s.session, s.semester, s.lecturer or "-", _devices(s),
             _dash(s.moved_from if s.moves else None), s.ssid, _status(s), str(s.checkins), clock.stamp(s.started_at),
             clock.stamp(s.ends_at) if s.active else "-")
            for s in sessions]
    return grid(SESSION_COLUMNS, rows, title="Sessions", wide=wide)


SPARKS: Final = "▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> Text:
    """One character per count, its height relative to the largest; a zero is a dim baseline."""
    top = max(counts, default=0)
    text = Text()
    for n in counts:
        if n == 0:
            text.append("▁", style="dim")
        else:
            text.append(SPARKS[min(len(SPARKS) - 1, (n * len(SPARKS) - 1) // top)], style="cyan")
    return text


SERVED_COLUMNS: Final = (Column("device"), Column("state"), Column("config"), Column("slots", 0, "right"),
                         Column("check-ins", 0, "right"), Column("joined", 1), Column("left", 2))


def _served_state(row: ServedRow) -> Text:
    if row.left_why is not None:
        return Text({"moved": "failed over", "released": "released"}.get(row.left_why, row.left_why), style="dim")
    return Text("online", style="green") if row.online else Text("offline", style="bold red")


def saturation(shown: SessionShown) -> Text | None:
    """What a lecturer should do when the room's access points turn phones away, or None."""
    serving = [d for d in shown.devices if d.left_why is None]
    refused = sum(d.stations_refused or 0 for d in serving)
    full = [d.device for d in serving if d.stations is not None and d.stations >= AP_SLOTS]
    if not refused and not full:
        return None
    said = f"{refused} phone(s) refused for want of a slot" if refused else f"{', '.join(full)} full"
    more = len(serving) + 1
    return Text(f"⚠ saturated: {said} — add a device: fleet session scale {shown.session.session_id} "
                f"--devices {more}", style="bold yellow")


def session_view(shown: SessionShown, now: float, *, wide: bool = False) -> RenderableType:
    """`fleet session show`: the session in two lines, its check-ins over time, its devices, and a
    warning when its access points are saturated."""
    s = shown.session
    head = Text.assemble((f"Session {s.session_id}", "bold"), f" · {s.course} {s.title} · {s.session} {s.semester}",
                         f" · room {_dash(s.room)} · ", _status(s))
    end = (f"ended {clock.stamp(s.ended_at)}" if s.ended_at is not None
           else f"running {ago(s.started_at, now)[:-4]}, ends {clock.stamp(s.ends_at)}")
    facts = Text(f"Wi-Fi {s.ssid} · started {clock.stamp(s.started_at)} · {end}")
    minutes = shown.bucket_s // 60
    rejected = f", {shown.rejected} rejected" if shown.rejected else ""
    counts = Text.assemble((f"{s.checkins} check-ins", "bold"), rejected,
                           f" · per {'minute' if minutes == 1 else f'{minutes} minutes'} ", sparkline(shown.timeline),
                           f" (peak {max(shown.timeline, default=0)})")
    rows = [(d.device, _served_state(d),
             Text("applied ✓", style="green") if d.applied else Text("-" if d.left_why else "pending",
                                                                    style="" if d.left_why else "yellow"),
             slots(d), str(d.checkins), clock.stamp(d.joined_at), clock.stamp(d.left_at)) for d in shown.devices]
    parts: list[RenderableType] = [head, facts, counts, grid(SERVED_COLUMNS, rows, title="Devices", wide=wide)]
    warning = saturation(shown)
    if warning is not None and s.active:
        parts.append(warning)
    return Group(*parts)


ATTENDANCE_COLUMNS: Final = (Column("#", 1, "right"), Column("student"), Column("device"), Column("received", 2))
REJECTED_COLUMNS: Final = (Column("student"), Column("device"), Column("reason"), Column("received", 1))


def attendance_table(result: AttendanceList, *, wide: bool = False) -> RenderableType:
    rows = [(str(i), Text(f"{r.student_id} ⚠ not on the roster", style="yellow") if r.on_roster is False
             else r.student_id, r.device, clock.stamp(r.received_at)) for i, r in enumerate(result.records, 1)]
    table = grid(ATTENDANCE_COLUMNS, rows, title=f"Attendance of session {result.session_id}", wide=wide)
    if not result.rejected:
        return table
    bad = grid(REJECTED_COLUMNS,
               [(r.student_id, r.device, r.reason, clock.stamp(r.received_at)) for r in result.rejected],
               title="Rejected check-ins", wide=wide, title_style="bold red")
    return Group(table, bad)


def config_panel(result: SessionStarted) -> Table:
    """The config a session start published, as a two-column table."""
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row("session", str(result.session_id))
    table.add_row("devices" if len(result.devices) > 1 else "device", ", ".join(result.devices))
    config = result.config.session
    if config is not None:
        for label, value in (("ssid", config.ssid), ("password", config.password or "(open network)"),
                             ("device id", config.device_id), ("device name", config.device_name),
                             ("location", config.location)):
            table.add_row(label, value)
    table.add_row("version", str(result.config.version))
    return table


INVENTORY_COLUMNS: Final = (
    Column("device"), Column("name", 2), Column("room", 1), Column("status"), Column("first seen", 8),
    Column("last seen", 1, "right"), *HEALTH, Column("slots", 6, "right"),
)


def _inventory_status(d: InventoryRow) -> Text:
    if d.device.retired:
        return Text("retired", style="dim")
    if not d.device.approved:
        return Text("pending approval", style="yellow")
    if d.first_seen is None:
        return Text("never seen", style="dim")
    return Text("online", style="green") if d.device.online else Text("offline", style="red")


def inventory_table(devices: Sequence[InventoryRow], now: float, *, wide: bool = False) -> Grid:
    rows = [(d.device.id, _dash(d.operator_name), _dash(d.device.room), _inventory_status(d), clock.stamp(d.first_seen),
             ago(d.device.last_seen, now), *health(d.device), slots(d.device)) for d in devices]
    return grid(INVENTORY_COLUMNS, rows, title="Device inventory", wide=wide)


def _bar(percent: float, width: int = 20) -> Text:
    filled = round(width * percent / 100)
    style = "green" if percent >= 75 else "yellow" if percent >= 50 else "red"
    return Text("█" * filled + "░" * (width - filled), style=style)


STUDENT_COLUMNS: Final = (
    Column("student"), Column("name", 5), Column("attended", 0, "right"), Column("%", 1, "right"), Column("", 6),
    Column("P", 4, "right"), Column("L", 4, "right"), Column("A", 3, "right"), Column("E", 4, "right"),
    Column("warnings", 2),
)
HEAD_COUNT_COLUMNS: Final = (Column("session", 0, "right"), Column("date", 2), Column("device"),
                             Column("present", 0, "right"), Column("flagged", 1, "right"))
WARNING_TEXT: Final = {LOW_ATTENDANCE: "<{threshold:g} %", CONSECUTIVE_ABSENCES: "{consecutive}+ absent in a row",
                       NOT_ON_ROSTER: "not enrolled"}


def minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


def _warnings(report: AttendanceReport, student: StudentRow) -> Text:
    parts = [WARNING_TEXT[w].format(threshold=report.threshold, consecutive=report.consecutive)
             for w in student.warnings]
    if student.flagged:
        parts.append(f"{student.flagged} shared-phone check-in(s)")
    return Text(("⚠ " + ", ".join(parts)) if parts else "", style="yellow")


def report_view(report: AttendanceReport, *, wide: bool = False) -> RenderableType:
    """Per student (every enrolled one): attended / held, percentage with a bar, present / late /
    absent / excused, warnings (low attendance, absences in a row, not on the roster, shared
    phones); then the head count per session."""
    roster = f", {report.enrolled} enrolled" if report.enrolled else ", no roster"
    title = (f"{report.course} {report.session} {report.semester}: {report.held} sessions held{roster}; "
             f"late after {minutes(report.late_after_s)}")
    students = [(s.student_id, _dash(s.name), f"{s.attended}/{s.held}", f"{s.percent:.1f}", _bar(s.percent),
                 str(s.present), str(s.late), str(s.absent), str(s.excused), _warnings(report, s))
                for s in report.students]
    sessions = [(str(h.session_id), clock.stamp(h.started_at), _dash(h.device), str(h.present),
                 str(h.flagged) if h.flagged else "-") for h in report.sessions]
    parts: list[RenderableType] = [grid(STUDENT_COLUMNS, students, title=title, wide=wide),
                                   grid(HEAD_COUNT_COLUMNS, sessions, title="Head count per session", wide=wide)]
    if report.marks:
        parts.append(Text(f"{len(report.marks)} manual mark(s); --json lists them with who and when", style="dim"))
    return Group(*parts)


ROSTER_COLUMNS: Final = (Column("student"), Column("name"), Column("email", 1))


def roster_table(result: RosterList, *, wide: bool = False) -> RenderableType:
    title = (f"Roster of {result.course}: {len(result.students)} students; late after "
             f"{minutes(result.late_after_s)}")
    return grid(ROSTER_COLUMNS, [(r.student_id, r.name, _dash(r.email)) for r in result.students], title=title,
                wide=wide)


def waiting_lectures(lectures: Sequence[Lecture]) -> Text:
    """Lectures due now without a session: one warning line each, with why."""
    text = Text()
    for x in lectures:
        text.append(f"⚠ lecture {x.id} ({x.course} in {x.room}, {clock.stamp(x.starts_at)}) has no session yet: "
                    f"{x.error or 'no free device'}; retried until it ends\n", style="bold yellow")
    return text


LECTURE_COLUMNS: Final = (
    Column("id", 0, "right"), Column("day"), Column("time"), Column("course"), Column("title", 3), Column("room"),
    Column("lecturer", 4), Column("state"), Column("session", 1, "right"), Column("error", 2),
)
LECTURE_STYLES: Final = {"scheduled": "", "started": "green", "no_device": "bold red", "ended": "dim", "missed": "red"}


def timetable_table(lectures: Sequence[Lecture], zone: tzinfo, *, wide: bool = False) -> Grid:
    """Lectures in `zone`'s local time (its name in the title)."""
    rows = []
    for x in lectures:
        start, end = clock.local(x.starts_at, zone), clock.local(x.ends_at, zone)
        rows.append((str(x.id), start.strftime("%a %Y-%m-%d"), f"{start:%H:%M}-{end:%H:%M}", x.course, x.title,
                     x.room, x.lecturer or "-", Text(x.state, style=LECTURE_STYLES.get(x.state, "")),
                     _dash(x.session_id), x.error or "-"))
    return grid(LECTURE_COLUMNS, rows, title=f"Timetable ({zone})", wide=wide)
