"""`fleet timetable import|list|remove`: the semester's lectures, read from an iCalendar file or a CSV
and kept by the running controller, which starts and ends their sessions."""

from __future__ import annotations

import time
from datetime import date, tzinfo
from pathlib import Path
from typing import Annotated

import typer

from controller.adapters.calendar import Timetable, Window, read_timetable
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
from controller.contract.timetable import (
    TimetableImported,
    TimetableListParams,
    TimetableRemoveParams,
    split_import,
)
from controller.errors import FleetError

app = typer.Typer(help="The timetable: lectures whose sessions the controller starts and ends by itself.",
                  no_args_is_help=True)

ZoneOpt = Annotated[str | None, typer.Option(
    "--zone", envvar=clock.ENV_ZONE, show_default=False,
    help="The controller's time zone (IANA name, e.g. Europe/London): CSV and floating times are in it, and "
         "lists show it. Default: this machine's.")]


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FleetError(f"{flag} {value!r} must be a date YYYY-MM-DD") from None


def _read(path: Path, zone: tzinfo, first: date | None, last: date | None) -> Timetable:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FleetError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    timetable = read_timetable(path.name, text, zone)
    if first is None and last is None:
        return timetable
    window = Window(first or timetable.window.first, last or timetable.window.last)
    if window.last < window.first:
        raise FleetError(f"--to {window.last} is before --from {window.first}")
    return read_timetable(path.name, text, zone, window)


@app.command("import")
@friendly
def timetable_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An iCalendar file (.ics) or a CSV (.csv).")],
    session: Annotated[str, typer.Option(help="Academic session, e.g. 2024/2025.")],
    semester: Annotated[str, typer.Option(help='Semester, e.g. "1st Semester".')],
    zone: ZoneOpt = None,
    from_: Annotated[str | None, typer.Option(
        "--from", help="First date to import (YYYY-MM-DD). Default: the file's first.")] = None,
    to: Annotated[str | None, typer.Option(
        help="Last date to import (YYYY-MM-DD). Default: the file's last, at most a year on.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a timetable: each event (or CSV row) replaces its lectures not yet started; those started or
    over are kept, so importing the file again after a change is safe."""
    timetable = _read(file, clock.zone(zone), _date(from_, "--from"), _date(to, "--to"))
    for skipped in timetable.skipped:
        err.print(f"[yellow]skipped:[/] {skipped}", highlight=False, soft_wrap=True)
    batches = split_import(session, semester, timetable.series)
    total = TimetableImported(0, 0, 0)
    with client(globals_of(ctx)) as fleet:
        for batch in batches:
            total += fleet.import_timetable(batch)
    if as_json:
        print_json(total.to_obj())
        return
    out.print(f"{file.name}: {len(timetable.series)} series, {timetable.lectures} lectures from "
              f"{timetable.window.first} to {timetable.window.last} ({len(batches)} request"
              f"{'s' * (len(batches) > 1)}): [green]{total.added} added[/], {total.removed} removed, "
              f"{total.kept} kept", highlight=False)


@app.command("list")
@friendly
def timetable_list(
    ctx: typer.Context,
    week: Annotated[bool, typer.Option("--week", help="This week's lectures, Monday to Sunday.")] = False,
    every: Annotated[bool, typer.Option("--all", help="Past lectures too.")] = False,
    course: Annotated[str | None, typer.Option(help="Only this course's lectures.")] = None,
    zone: ZoneOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """Lectures, earliest first, in the controller's time zone: those not over yet (--week: this week's,
    --all: every one)."""
    local = clock.zone(zone)
    now = time.time()
    if week:
        params = TimetableListParams(*clock.week(now, local), course=course)
    else:
        params = TimetableListParams(None if every else int(now), None, course)
    with client(globals_of(ctx)) as fleet:
        result = fleet.timetable(params)
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.timetable_table(result.lectures, local, wide=wide_output(wide)))


@app.command("remove")
@friendly
def timetable_remove(
    ctx: typer.Context,
    uid: Annotated[str | None, typer.Argument(help="The series' uid (`fleet timetable list --json`).")] = None,
    course: Annotated[str | None, typer.Option(help="Every series of this course.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove the lectures not yet started of one series or of a course (started and past ones stay)."""
    if (uid is None) == (course is None):
        raise FleetError("give a series' UID or --course, not both")
    with client(globals_of(ctx)) as fleet:
        result = fleet.remove_lectures(TimetableRemoveParams(uid, course))
    if as_json:
        print_json(result.to_obj())
    else:
        out.print(f"removed {result.removed} lecture{'s' * (result.removed != 1)} not yet started of "
                  f"{uid or course}", highlight=False)
