"""`fleet attendance list|export|report`: check-ins of a session and a course's semester, as tables or CSV."""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated

import typer

from controller.cli import ui
from controller.cli.common import (
    JsonOpt,
    WideOpt,
    client,
    err,
    friendly,
    globals_of,
    print_json,
    show,
    wide_output,
)
from controller.contract.requests import AttendanceReportParams
from controller.errors import FleetError

app = typer.Typer(help="Check-ins of a session.", no_args_is_help=True)
SessionIdArg = Annotated[int, typer.Argument(help="Session id.")]


def _csv(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _write(out_file: Path, text: str) -> None:
    try:
        out_file.write_text(text)
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
    text = _csv(["session_id", "student_id", "device", "seq", "station_mac", "received_at"],
                ([session_id, r.student_id, r.device, r.seq, r.station_mac or "",
                  time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.received_at))] for r in result.records))
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
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the per-student table as CSV.")]
    = None,
    wide: WideOpt = False,
) -> None:
    """A course's attendance over a semester: per student (attended / held / %) and per session."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.report(AttendanceReportParams(course, session, semester))
    if out_file is not None:
        _write(out_file, _csv(["student_id", "attended", "held", "percent", "flagged"],
                              ([s.student_id, s.attended, s.held, s.percent, s.flagged] for s in result.students)))
        err.print(f"{len(result.students)} students written to {out_file}")
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.report_view(result, wide=wide_output(wide)))
