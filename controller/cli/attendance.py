"""`fleet attendance list|export|report|mark`: check-ins of a session, a course's semester as tables or
CSV (plain, and Moodle's attendance import: `exports`), and a lecturer's manual marks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from controller.cli import clock, exports, ui
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
from controller.contract.report import MARKS
from controller.contract.requests import AttendanceReportParams
from controller.contract.rosters import AttendanceMarkParams
from controller.errors import FleetError

app = typer.Typer(help="Check-ins of a session.", no_args_is_help=True)
SessionIdArg = Annotated[int, typer.Argument(help="Session id.")]


def _write(out_file: Path, text: str) -> None:
    """The text as it is: UTF-8, its line endings untranslated (exports' LF on every platform)."""
    try:
        out_file.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise FleetError(f"cannot write {out_file}: {exc.strerror}") from exc


@app.command("list")
@friendly
def attendance_list(ctx: typer.Context, session_id: SessionIdArg, as_json: JsonOpt = False,
                    wide: WideOpt = False) -> None:
    """Who checked in to a session (and which check-ins were rejected, with why)."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.attendance(session_id)
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.attendance_table(result, wide=wide_output(wide)))


@app.command("export")
@friendly
def attendance_export(
    ctx: typer.Context,
    session_id: SessionIdArg,
    out_file: Annotated[Path | None, typer.Option("--out", help="CSV file to write (default: stdout).")] = None,
) -> None:
    """The check-ins of a session as CSV."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.attendance(session_id)
    text = exports.checkins_csv(result, clock.zone())
    if out_file is None:
        sys.stdout.write(text)
        return
    _write(out_file, text)
    err.print(f"{len(result.records)} check-ins written to {out_file}")


@app.command("report")
@friendly
def attendance_report(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="Course code.")],
    session: Annotated[str, typer.Option(help="Academic session, e.g. 2024/2025.")],
    semester: Annotated[str, typer.Option(help='Semester, e.g. "1st Semester".')],
    as_json: JsonOpt = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write student_id,attended,held,percent,flagged "
                                                                "as CSV.")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Also write the registrar's CSV: one row per student "
                                                                "with present/late/absent/excused, percent, warnings.")]
    = None,
    moodle: Annotated[Path | None, typer.Option("--moodle", help="Also write, per session, the CSV Moodle's "
                                                                "Attendance activity imports (FILE-<date>-s<id>.csv).")]
    = None,
    threshold: Annotated[float, typer.Option(min=0, max=100, help="Warn under this attendance percentage.")] = 75.0,
    consecutive: Annotated[int, typer.Option(min=1, max=1000, help="Warn after this many absences in a row.")] = 3,
    wide: WideOpt = False,
) -> None:
    """A course's attendance over a semester: every enrolled student (attended / held / %, present,
    late, absent, excused, warnings) and the head count per session."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.report(AttendanceReportParams(course, session, semester, threshold, consecutive))
        emails = {r.student_id: r.email or "" for r in fleet.roster(course).students} if moodle else {}
    if out_file is not None:
        _write(out_file, exports.summary_csv(result))
        err.print(f"{len(result.students)} students written to {out_file}")
    if csv_file is not None:
        _write(csv_file, exports.plain_csv(result))
        err.print(f"{len(result.students)} students written to {csv_file}")
    if moodle is not None:
        zone = clock.zone()
        for session_id, started_at, text in exports.moodle_csvs(result, emails):
            path = moodle.with_name(exports.moodle_name(moodle.stem, moodle.suffix, session_id, started_at, zone))
            _write(path, text)
            err.print(f"session {session_id}: Moodle attendance import written to {path}")
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.report_view(result, wide=wide_output(wide)))


@app.command("mark")
@friendly
def attendance_mark(
    ctx: typer.Context,
    session_id: SessionIdArg,
    student: Annotated[str, typer.Argument(help="Student id.")],
    status: Annotated[str, typer.Argument(help=f"One of {', '.join(MARKS)}.")],
    note: Annotated[str, typer.Option(help="Why (kept with who marked it and when).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Mark a student's status in a session by hand (excused, or any override); every mark is kept."""
    if status not in MARKS:
        raise FleetError(f"status must be one of {', '.join(MARKS)}, not {status!r}")
    with client(globals_of(ctx)) as fleet:
        result = fleet.mark(AttendanceMarkParams(session_id, student, status, note))
    if as_json:
        print_json(result.to_obj())
    else:
        mark = result.mark
        out.print(f"session {mark.session_id}: {mark.student_id} marked {mark.status} by {mark.by}"
                  + (f" ({mark.note})" if mark.note else ""))
