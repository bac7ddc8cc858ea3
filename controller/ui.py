"""Rendering for people: the fleet table, session lists and attendance, as rich renderables.

Every function is a pure function of a data snapshot (a request API result), so the live view
and the one-shot commands draw the same thing and tests render them to a string.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


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


def stamp(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def totals(snapshot: Mapping[str, Any]) -> Text:
    """`total 12 · online 10 · offline 2 · available 7`, as the seed's status display had it."""
    text = Text()
    for label, key, style in (("total", "total", "bold"), ("online", "online", "green"),
                              ("offline", "offline", "red"), ("available", "available", "cyan")):
        if len(text):
            text.append("  ·  ", style="dim")
        text.append(f"{label} ")
        text.append(str(snapshot.get(key, 0)), style=style)
    return text


def health(row: Mapping[str, Any]) -> tuple[Text, str, str, str, str]:
    """RSSI, free heap, uptime, firmware and connected stations, with weak signal or low heap in red."""
    rssi, heap = row.get("rssi"), row.get("heap")
    rssi_text = Text("-" if rssi is None else str(rssi), style="red" if rssi is not None and rssi < -80 else "")
    heap_text = "-" if heap is None else f"{heap // 1024}k"
    if heap is not None and heap < 30_000:
        heap_text = f"[red]{heap_text}[/]"
    uptime = row.get("uptime_s")
    up = "-" if uptime is None else ago(0, uptime).removesuffix(" ago")
    return rssi_text, heap_text, up, _dash(row.get("fw")), _dash(row.get("stations"))


def fleet_table(snapshot: Mapping[str, Any], now: float, *, title: str = "Fleet") -> RenderableType:
    """Totals, then one row per device in the snapshot (already sorted/filtered by the controller)."""
    table = Table(title=title, expand=False, header_style="bold")
    for name, justify in (("device", "left"), ("state", "left"), ("last seen", "right"), ("room", "left"),
                          ("name", "left"), ("SSID", "left"), ("session", "right"), ("config", "right"),
                          ("RSSI", "right"), ("heap", "right"), ("up", "right"), ("fw", "left"), ("sta", "right")):
        table.add_column(name, justify=justify, no_wrap=name in ("device", "SSID"))  # type: ignore[arg-type]
    for row in snapshot.get("devices", []):
        desired, applied = row.get("config_version"), row.get("applied_version")
        version: str | Text
        if desired is None:
            version = "-" if applied is None else f"v{applied}"
        elif applied == desired:
            version = Text(f"v{desired} ✓", style="green")
        else:
            version = Text(f"v{_dash(applied)}→v{desired}", style="yellow")
        state = Text("online", style="green") if row.get("online") else Text("offline", style="red")
        for flag in row.get("flags") or ():
            state.append(f" {flag.replace('_', ' ')}", style="bold yellow")
        table.add_row(row["id"], state, ago(row.get("last_seen"), now), _dash(row.get("room")),
                      _dash(row.get("name")), _dash(row.get("ssid")), _dash(row.get("session_id")), version,
                      *health(row))
    shown, matched = len(snapshot.get("devices", [])), snapshot.get("matched", len(snapshot.get("devices", [])))
    parts: list[RenderableType] = [totals(snapshot), table]
    if matched > shown:
        parts.append(Text(f"showing {shown} of {matched} devices", style="dim"))
    return Group(*parts)


def sessions_table(sessions: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="Sessions", header_style="bold")
    for name in ("id", "course", "session", "semester", "lecturer", "device", "SSID", "status", "check-ins",
                 "started"):
        table.add_column(name, no_wrap=name in ("SSID", "device"))
    for s in sessions:
        if not s["active"]:
            status = Text("ended", style="dim")
        elif s.get("degraded"):
            status = Text("degraded", style="bold red")
        elif s.get("error"):
            status = Text("rejected", style="red")
        elif s.get("applied"):
            status = Text("applied", style="green")
        else:
            status = Text("pending", style="yellow")
        device = _dash(s.get("device"))
        if s.get("moves"):
            device += f" (moved from {s['moved_from']})"
        table.add_row(str(s["session_id"]), s["course"], s["session"], s["semester"], s["lecturer"] or "-",
                      device, s["ssid"], status, str(s.get("checkins", 0)), stamp(s["started_at"]))
    return table


def attendance_table(result: Mapping[str, Any]) -> RenderableType:
    table = Table(title=f"Attendance of session {result['session_id']}", header_style="bold")
    for name in ("#", "student", "device", "received"):
        table.add_column(name)
    for i, r in enumerate(result.get("records", []), 1):
        table.add_row(str(i), r["student_id"], r["device"], stamp(r["received_at"]))
    rejected = result.get("rejected", [])
    if not rejected:
        return table
    bad = Table(title="Rejected check-ins", header_style="bold red")
    for name in ("student", "device", "reason", "received"):
        bad.add_column(name)
    for r in rejected:
        bad.add_row(r["student_id"], r["device"], r["reason"], stamp(r["received_at"]))
    return Group(table, bad)


def config_panel(result: Mapping[str, Any]) -> Table:
    """The config a session start published, as a two-column table."""
    config = result["config"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("session", str(result["session_id"]))
    table.add_row("device", str(result["device"]))
    for key in ("ssid", "password", "device_id", "device_name", "location", "version"):
        value = config.get(key)
        if key == "password":
            value = value or "(open network)"
        table.add_row(key.replace("_", " "), str(value))
    return table


def inventory_table(devices: Sequence[Mapping[str, Any]], now: float) -> Table:
    table = Table(title="Device inventory", header_style="bold")
    for name in ("device", "name", "room", "status", "first seen", "last seen", "RSSI", "heap", "up", "fw", "sta"):
        table.add_column(name, no_wrap=name == "device")
    for d in devices:
        if d["retired"]:
            status = Text("retired", style="dim")
        elif not d["approved"]:
            status = Text("pending approval", style="yellow")
        elif d.get("first_seen") is None:
            status = Text("never seen", style="dim")
        else:
            status = Text("online", style="green") if d["online"] else Text("offline", style="red")
        table.add_row(d["id"], _dash(d.get("operator_name")), _dash(d.get("room")), status, stamp(d.get("first_seen")),
                      ago(d.get("last_seen"), now), *health(d))
    return table


def _bar(percent: float, width: int = 20) -> Text:
    filled = round(width * percent / 100)
    style = "green" if percent >= 75 else "yellow" if percent >= 50 else "red"
    return Text("█" * filled + "░" * (width - filled), style=style)


def report_view(report: Mapping[str, Any]) -> RenderableType:
    """Per student: attended / held, percentage with a bar, suspicious check-ins marked; then per session."""
    title = f"{report['course']} {report['session']} {report['semester']}: {report['held']} sessions held"
    students = Table(title=title, header_style="bold")
    for name, justify in (("student", "left"), ("attended", "right"), ("%", "right"), ("", "left"),
                          ("flags", "left")):
        students.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in report["students"]:
        flag = Text(f"⚠ {s['flagged']} shared-phone check-in(s)", style="yellow") if s["flagged"] else Text("")
        students.add_row(s["student_id"], f"{s['attended']}/{s['held']}", f"{s['percent']:.1f}",
                         _bar(s["percent"]), flag)
    sessions = Table(title="Head count per session", header_style="bold")
    for name in ("session", "date", "device", "present", "flagged"):
        sessions.add_column(name)
    for h in report["sessions"]:
        sessions.add_row(str(h["session_id"]), stamp(h["started_at"]), _dash(h.get("device")), str(h["present"]),
                         str(h["flagged"]) if h["flagged"] else "-")
    return Group(students, sessions)
