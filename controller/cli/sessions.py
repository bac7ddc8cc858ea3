"""`fleet session start|end|extend|scale|show|list`: a lecturer's attendance sessions, through the running
controller."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live

from controller.cli import clock, ui
from controller.cli.common import (
    JsonOpt,
    WideOpt,
    client,
    err,
    friendly,
    globals_of,
    out,
    print_json,
    show,
    wide_output,
)
from controller.contract.requests import (
    SessionExtendParams,
    SessionScaleParams,
    SessionStartParams,
    SessionWaitParams,
)
from controller.contract.results import SessionStarted, SessionWaited
from controller.contract.timetable import TimetableListParams
from controller.errors import FleetError

if TYPE_CHECKING:
    from controller.adapters.client import FleetClient

app = typer.Typer(help="Start, end and list attendance sessions.", no_args_is_help=True)


@app.command("start")
@friendly
def session_start(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="Course code, e.g. CS101.")],
    session: Annotated[str, typer.Option(help="Academic session, e.g. 2024/2025.")],
    semester: Annotated[str, typer.Option(help='Semester, e.g. "1st Semester".')],
    title: Annotated[str | None, typer.Option(help="Course title (remembered: needed the first time only).")]
    = None,
    lecturer: Annotated[str, typer.Option(help="Lecturer's name.")] = "",
    room: Annotated[str | None, typer.Option(help="Pick a device whose home room is this room, e.g. LT2.")] = None,
    any_room: Annotated[bool, typer.Option("--any-room", help="With --room: fall back to any room.")] = False,
    failover_grace: Annotated[float, typer.Option(
        min=0, help="Seconds the device may stay offline before the session moves to another device.")] = 60.0,
    device: Annotated[str | None, typer.Option(help="Use this device instead of the freshest free one.")] = None,
    students: Annotated[int | None, typer.Option(
        min=1, max=1000, help="Claim as many devices as this many students need (at most 10).")] = None,
    devices: Annotated[int | None, typer.Option(min=1, max=10, help="Claim this many devices (default 1).")] = None,
    anyway: Annotated[bool, typer.Option(
        "--anyway", help="With --students/--devices: start on the free devices when there are fewer.")] = False,
    until: Annotated[str | None, typer.Option(
        help="End the session then: 11:30 (the next 11:30) or 2026-12-02 11:30, in FLEET_ZONE or local time.")]
    = None,
    duration: Annotated[str | None, typer.Option(
        help="End the session after this long: 90m, 1h30m. Neither: the course's usual length (at most the "
        "controller's --max-session).")] = None,
    password: Annotated[str, typer.Option(help="Wi-Fi password (8-63 characters); empty = open network.")] = "",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the device applied the config.")]
    = True,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the device.")] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Start an attendance session: pick a device (or several), publish its course config, wait until
    it is applied. The controller ends it at its end (--until, --duration, or the course's usual length)."""
    if until is not None and duration is not None:
        raise FleetError("give --until or --duration, not both")
    params = SessionStartParams(course=course, title=title or None, session=session, semester=semester,
                                lecturer=lecturer, password=password, device=device or None, room=room or None,
                                any_room=any_room, failover_grace_s=failover_grace, students=students,
                                devices=devices, anyway=anyway, until=clock.until(until),
                                duration_s=clock.seconds(duration) if duration is not None else None)
    with client(globals_of(ctx)) as fleet:
        result = fleet.start_session(params)
        if not as_json:
            ssid = result.config.session.ssid if result.config.session else "-"
            out.print(f"[green]session {result.session_id} started[/] on [bold]{', '.join(result.devices)}[/] — "
                      f"students join Wi-Fi [bold]{ssid}[/]; it ends at {clock.shown(result.ends_at)}")
            out.print(ui.config_panel(result))
        waited = SessionWaited(result.session_id, "pending")
        if wait:
            with err.status(f"waiting for {result.device} to apply config v{result.config.version}…"):
                waited = _wait_applied(fleet, result.session_id, timeout)
    _report_start(result, waited, wait=wait, timeout=timeout, as_json=as_json)


def _report_start(result: SessionStarted, waited: SessionWaited, *, wait: bool, timeout: float,
                  as_json: bool) -> None:
    """The outcome of a start: JSON, or a line; exit 1 when waiting ended without the config applied."""
    applied = waited.status == "applied"
    if as_json:
        print_json(result.to_obj() | {"applied": applied})
    elif applied:
        out.print(f"[green]✓ {result.device} applied the config[/]")
    if not wait or applied:
        return
    if waited.status == "rejected":
        err.print(f"[red]error:[/] device {result.device} rejected the config: {waited.error}", soft_wrap=True)
    else:
        err.print(f"[red]error:[/] device {result.device} has not applied the config within {timeout:g} s; the "
                  f"session stays active and the controller keeps reconciling it", soft_wrap=True)
    raise typer.Exit(1)


def _wait_applied(fleet: FleetClient, session_id: int, timeout: float) -> SessionWaited:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        chunk = max(0.0, min(left, 20.0))
        waited = fleet.wait_session(SessionWaitParams(session_id, chunk), timeout=chunk + 10)
        if waited.status != "pending" or left <= chunk:
            return waited


@app.command("end")
@friendly
def session_end(ctx: typer.Context, session_id: Annotated[int, typer.Argument(help="Session id.")],
                as_json: JsonOpt = False) -> None:
    """End a session; its device gets a newer idle config."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.end_session(session_id)
    if as_json:
        print_json(result.to_obj())
    else:
        out.print(f"session {session_id} ended; device {result.device or '-'} returns to idle")


@app.command("extend")
@friendly
def session_extend(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="Session id.")],
    by: Annotated[str | None, typer.Argument(help="Move its end by this much: 15m, 1h, -10m (sooner).")] = None,
    until: Annotated[str | None, typer.Option(help="Move its end to this time instead: 11:45.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a running session's end (the controller ends it then); an end already past ends it now."""
    if (by is None) == (until is None):
        raise FleetError("give how much to extend by (e.g. 15m) or --until, one of them")
    params = SessionExtendParams(session_id, by_s=clock.seconds(by) if by is not None else None,
                                 until=clock.until(until))
    with client(globals_of(ctx)) as fleet:
        result = fleet.extend_session(params)
    if as_json:
        print_json(result.to_obj())
    else:
        out.print(f"session {session_id} now ends at {clock.shown(result.ends_at)}", highlight=False)


@app.command("scale")
@friendly
def session_scale(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="Session id.")],
    devices: Annotated[int, typer.Option(min=1, max=10, help="The number of devices the session should have.")],
    anyway: Annotated[bool, typer.Option(
        "--anyway", help="With fewer free devices than wanted: add those that are free.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add devices to a running session (free ones in its room, same Wi-Fi) or release some (offline
    ones and those with the fewest phones first; never its first device)."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.scale_session(SessionScaleParams(session_id, devices, anyway))
    if as_json:
        print_json(result.to_obj())
        return
    changes = [f"added {', '.join(result.added)}" if result.added else "",
               f"released {', '.join(result.released)}" if result.released else ""]
    said = "; ".join(c for c in changes if c) or "no change"
    out.print(f"session {session_id}: {said} — now on {', '.join(result.devices)}", highlight=False)


@app.command("show")
@friendly
def session_show(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="Session id.")],
    watch: Annotated[bool, typer.Option("--watch", help="Redraw every --interval seconds; Ctrl-C to leave.")]
    = False,
    interval: Annotated[float, typer.Option(min=0.5, help="Refresh period of --watch in seconds.")] = 2.0,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """One session: its devices (slots in use, refused phones, check-ins each), its check-ins per
    minute, and a warning when its access points turn phones away."""
    with client(globals_of(ctx)) as fleet:
        if not watch:
            shown = fleet.show_session(session_id)
            if as_json:
                print_json(shown.to_obj())
            else:
                show(ui.session_view(shown, time.time(), wide=wide_output(wide)))
            return
        try:
            with Live(console=out, auto_refresh=False, screen=False, redirect_stderr=True) as live:
                while True:
                    live.update(ui.session_view(fleet.show_session(session_id, timeout=5), time.time(), wide=wide),
                                refresh=True)
                    time.sleep(interval)
        except KeyboardInterrupt:
            pass


@app.command("list")
@friendly
def session_list(ctx: typer.Context,
                 active: Annotated[bool, typer.Option("--active", help="Only active sessions.")] = False,
                 as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Sessions, newest last; then the timetable's lectures due now that have no session for want of a
    device (their state in `fleet timetable list` is no_device)."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.sessions(active=active)
        if as_json:
            print_json(result.to_obj())
            return
        now = int(time.time())
        waiting = [x for x in fleet.timetable(TimetableListParams(from_=now, to=now + 1)).lectures
                   if x.state == "no_device"]
    show(ui.sessions_table(result.sessions, wide=wide_output(wide)))
    if waiting:
        show(ui.waiting_lectures(waiting))
