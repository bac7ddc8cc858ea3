"""`fleet roster import|list` and `fleet course set`: a lecturer's roster (from the CSV an LMS
exports, `roster_csv`) and a course's late rule, kept by the running controller."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from controller.cli import clock, roster_csv, ui
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
from controller.contract.readers import check_course
from controller.contract.rosters import MAX_LATE_AFTER_S, CourseSetParams
from controller.errors import ApiError, FleetError

roster_app = typer.Typer(help="A course's roster: who is enrolled (imported from Moodle, Canvas or a plain CSV).",
                         no_args_is_help=True)
course_app = typer.Typer(help="A course's settings.", no_args_is_help=True)
CourseArg = Annotated[str, typer.Argument(help="Course code, e.g. CS101.")]


def late_after_s(text: str) -> float:
    """--late-after's value as seconds: a duration as `clock.seconds` reads it everywhere in the CLI
    (`10m`, `90s`, `1h`; a bare number is minutes), from 0 up to MAX_LATE_AFTER_S (FleetError otherwise)."""
    seconds = clock.seconds(text)
    if not 0 <= seconds <= MAX_LATE_AFTER_S:
        raise FleetError(f"--late-after is from 0 to {MAX_LATE_AFTER_S / 3600:g}h after the start, not {text!r}")
    return seconds


@roster_app.command("import")
@friendly
def roster_import(
    ctx: typer.Context,
    course: CourseArg,
    csv_file: Annotated[Path, typer.Argument(help="The roster: a Moodle participants or gradebook export, a Canvas "
                                                  "gradebook export, or student_id,name[,email].")],
    replace: Annotated[bool, typer.Option("--replace", help="Replace the roster (else students are added to it "
                                                           "and updated).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a course's roster from a CSV file (sent in requests under 8 KB, each an upsert)."""
    try:
        check_course(course)
        text = csv_file.read_text(encoding="utf-8")
    except ApiError as exc:
        raise FleetError(exc.message) from exc
    except UnicodeDecodeError as exc:
        raise FleetError(f"{csv_file} is not UTF-8 text (save it as CSV UTF-8)") from exc
    except OSError as exc:
        raise FleetError(f"cannot read {csv_file}: {exc.strerror}") from exc
    parsed = roster_csv.parse(text)
    if not parsed.students:
        raise FleetError(f"{csv_file} has no student with an id")
    with client(globals_of(ctx)) as fleet:
        results = fleet.import_roster(course, parsed.students, replace=replace)
    added, updated = sum(r.added for r in results), sum(r.updated for r in results)
    if as_json:
        print_json({"course": course, "added": added, "updated": updated, "total": results[-1].total,
                    "skipped": parsed.skipped, "requests": len(results), "columns": list(parsed.columns)})
        return
    out.print(f"roster of {course}: {added} added, {updated} updated, {results[-1].total} enrolled "
              f"(columns {', '.join(parsed.columns)}; {len(results)} request{'s' * (len(results) > 1)})")
    if parsed.skipped:
        err.print(f"{parsed.skipped} row(s) without a student id skipped")


@roster_app.command("list")
@friendly
def roster_list(ctx: typer.Context, course: CourseArg, as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """A course's roster and its late rule."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.roster(course)
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.roster_table(result, wide=wide_output(wide)))


@course_app.command("set")
@friendly
def course_set(
    ctx: typer.Context,
    course: CourseArg,
    late_after: Annotated[str | None, typer.Option("--late-after", help="A check-in this long after a session's "
                                                                         "start is late, e.g. 10m, 90s or 1h; a bare "
                                                                         "number is minutes (default 10m).")]
    = None,
    title: Annotated[str | None, typer.Option(help="The course's title.")] = None,
    owner: Annotated[str | None, typer.Option(
        help="The user who teaches it (an admin's to set; \"\" clears): they manage its roster, late rule and "
             "report, and its timetabled sessions are theirs.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a course's late rule, title or owner."""
    late_s = None if late_after is None else late_after_s(late_after)
    with client(globals_of(ctx)) as fleet:
        result = fleet.set_course(CourseSetParams(course, late_s, title, owner))
    if as_json:
        print_json(result.to_obj())
    else:
        taught = f"; taught by {result.owner}" if result.owner else "; no owner (admins only)"
        out.print(f"{result.course}: a check-in more than {ui.minutes(result.late_after_s)} after the start is late"
                  f"{taught}", highlight=False)
