"""A session's check-ins and a course's report as files a registrar or an LMS takes in. Pure: a result
(and the zone its times are written in) in, CSV text out.

Every file is written by `to_csv`, one line ending for all: LF. RFC 4180 asks for CRLF, but every
reader these files are for takes LF — Moodle's csv_import_reader turns `\r\n?` into `\n` before it
parses, Excel, LibreOffice and Python's csv read either — while a CR left on each line's last field
breaks the Unix tools `fleet attendance export` is piped into (cut, awk, `while read`).

- `checkins_csv`: one row per check-in of a session (CHECKIN_COLUMNS), its time with its offset.
- `summary_csv`: one row per student (SUMMARY_COLUMNS): attended, held, percent, shared-phone flags.
- `plain_csv`: one row per student (PLAIN_COLUMNS): counts, percentage, warnings.
- `moodle_csvs`: Moodle's Attendance activity (mod_attendance), "Import attendance" of one
  session (its marksessions import): a CSV per session with a user column the import maps by
  header name (`idnumber`, Moodle's user "ID number", which it picks first; `email` beside it for a
  site whose ID numbers are empty) and a `status` column holding the status set's acronyms — the
  default set's P (Present), L (Late), E (Excused), A (Absent). Moodle imports one session at a
  time, so there is a file per session.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import Final

from controller.cli import clock
from controller.contract.report import ABSENT, EXCUSED, LATE, PRESENT, AttendanceReport
from controller.contract.results import AttendanceList

LINE_END: Final = "\n"
CHECKIN_COLUMNS: Final = ("session_id", "student_id", "device", "seq", "station_mac", "received_at")
SUMMARY_COLUMNS: Final = ("student_id", "attended", "held", "percent", "flagged")
PLAIN_COLUMNS: Final = ("student_id", "name", "enrolled", "present", "late", "absent", "excused", "held", "percent",
                        "warnings", "flagged")
MOODLE_COLUMNS: Final = ("idnumber", "email", "status")
MOODLE_ACRONYMS: Final = {PRESENT: "P", LATE: "L", EXCUSED: "E", ABSENT: "A"}


def to_csv(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=LINE_END)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def checkins_csv(result: AttendanceList, zone: tzinfo) -> str:
    """A session's check-ins; `received_at` in `zone` with its offset (`2026-12-02T10:05:00+0000`)."""
    return to_csv(CHECKIN_COLUMNS, ([result.session_id, r.student_id, r.device, r.seq, r.station_mac or "",
                                     clock.local(r.received_at, zone).strftime("%Y-%m-%dT%H:%M:%S%z")]
                                    for r in result.records))


def summary_csv(report: AttendanceReport) -> str:
    return to_csv(SUMMARY_COLUMNS, ([s.student_id, s.attended, s.held, s.percent, s.flagged]
                                    for s in report.students))


def plain_csv(report: AttendanceReport) -> str:
    return to_csv(PLAIN_COLUMNS, ([s.student_id, s.name or "", "yes" if s.enrolled else "no", s.present, s.late,
                                   s.absent, s.excused, s.held, s.percent, " ".join(s.warnings), s.flagged]
                                  for s in report.students))


def moodle_csvs(report: AttendanceReport, emails: dict[str, str]) -> list[tuple[int, float, str]]:
    """(session id, its start, the CSV) for each session of the report; `emails` from the roster."""
    files = []
    for i, held in enumerate(report.sessions):
        rows = [(s.student_id, emails.get(s.student_id, ""), MOODLE_ACRONYMS[s.statuses[i]])
                for s in report.students if i < len(s.statuses) and s.statuses[i] in MOODLE_ACRONYMS]
        files.append((held.session_id, held.started_at, to_csv(MOODLE_COLUMNS, rows)))
    return files


def moodle_name(stem: str, suffix: str, session_id: int, started_at: float, zone: tzinfo) -> str:
    """A session's file name: the given stem, the session's date in `zone` (the CLI's) and its id."""
    return f"{stem}-{clock.local(started_at, zone):%Y-%m-%d}-s{session_id}{suffix or '.csv'}"
