"""A course's report as files a registrar or an LMS takes in. Pure: a report in, CSV text out.

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
import time
from collections.abc import Iterable, Sequence
from typing import Final

from controller.contract.report import ABSENT, EXCUSED, LATE, PRESENT, AttendanceReport

PLAIN_COLUMNS: Final = ("student_id", "name", "enrolled", "present", "late", "absent", "excused", "held", "percent",
                        "warnings", "flagged")
MOODLE_COLUMNS: Final = ("idnumber", "email", "status")
MOODLE_ACRONYMS: Final = {PRESENT: "P", LATE: "L", EXCUSED: "E", ABSENT: "A"}


def to_csv(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


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


def moodle_name(stem: str, suffix: str, session_id: int, started_at: float) -> str:
    """A session's file name: the given stem, the session's date (the controller's zone) and id."""
    return f"{stem}-{time.strftime('%Y-%m-%d', time.localtime(started_at))}-s{session_id}{suffix or '.csv'}"
