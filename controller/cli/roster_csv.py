"""Roster files as the LMSs export them, read into roster entries. Pure: text in, values out.

Recognised by their header (case, spaces and a UTF-8 BOM aside; comma, semicolon or tab separated):
- plain: `student_id,name,email` (email optional);
- Moodle, the participants page's "Download table data as CSV" and the gradebook's plain-text
  export: `First name`, `Last name` (older: `Surname`), `ID number`, `Email address`
  (the gradebook adds `Institution`, `Department` and one column per grade item: ignored);
- Canvas, the gradebook's "Export entire gradebook" CSV: `Student` ("Last, First"), `ID` (Canvas'
  own), `SIS User ID` (the university's id: the one used), `SIS Login ID`, `Section`, then one
  column per assignment; its second row ("Points Possible") and the Test Student have no SIS User
  ID and are skipped. Canvas' SIS `users.csv` (`user_id`, `full_name` or `first_name`/`last_name`,
  `email`) reads too.
A row without a student id is skipped (and counted); a bad id, a missing name or an id given twice
is an error naming the row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from controller.contract.messages import STUDENT_ID_RE
from controller.contract.rosters import RosterEntry
from controller.errors import FleetError

ID_COLUMNS: Final = ("student_id", "student id", "id number", "idnumber", "sis user id", "user_id",
                     "student number")
NAME_COLUMNS: Final = ("name", "full name", "full_name", "student")
FIRST_COLUMNS: Final = ("first name", "firstname", "first_name")
LAST_COLUMNS: Final = ("last name", "surname", "lastname", "last_name")
EMAIL_COLUMNS: Final = ("email", "email address", "e-mail", "email_address")
MAX_NAME: Final = 100
MAX_EMAIL: Final = 254


@dataclass(frozen=True, slots=True)
class Roster:
    """A roster file read: its students, the rows skipped for having no id, the columns used."""

    students: tuple[RosterEntry, ...]
    skipped: int
    columns: tuple[str, ...]


def _find(header: Mapping[str, int], names: Sequence[str]) -> int | None:
    return next((header[n] for n in names if n in header), None)


def _cell(row: Sequence[str], index: int | None) -> str:
    return row[index].strip() if index is not None and index < len(row) else ""


def _rows(text: str) -> list[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in row)]


def parse(text: str) -> Roster:
    """The students of a roster file's text (FleetError naming the row or the missing column)."""
    rows = _rows(text.removeprefix("\ufeff"))
    if not rows:
        raise FleetError("the roster file is empty")
    header = {name.strip().lower(): i for i, name in reversed(list(enumerate(rows[0])))}
    id_col = _find(header, ID_COLUMNS)
    name_col = _find(header, NAME_COLUMNS)
    first_col, last_col = _find(header, FIRST_COLUMNS), _find(header, LAST_COLUMNS)
    email_col = _find(header, EMAIL_COLUMNS)
    if id_col is None:
        raise FleetError(f"no student id column: the header needs one of {', '.join(ID_COLUMNS)}")
    if name_col is None and first_col is None and last_col is None:
        raise FleetError(f"no name column: the header needs one of {', '.join(NAME_COLUMNS)}, or first and last "
                         "name columns")
    students: list[RosterEntry] = []
    seen: dict[str, int] = {}
    skipped = 0
    for number, row in enumerate(rows[1:], start=2):
        student_id = _cell(row, id_col)
        if not student_id:
            skipped += 1
            continue
        if STUDENT_ID_RE.fullmatch(student_id) is None:
            raise FleetError(f"row {number}: {student_id[:40]!r} is not a student id (1-32 letters, digits, '/', "
                             "'.', '_' or '-')")
        if student_id in seen:
            raise FleetError(f"row {number}: student {student_id} is already on row {seen[student_id]}")
        seen[student_id] = number
        name = _cell(row, name_col) or " ".join(p for p in (_cell(row, first_col), _cell(row, last_col)) if p)
        if not name:
            raise FleetError(f"row {number}: student {student_id} has no name")
        email = _cell(row, email_col) or None
        if email is not None and ("@" not in email or " " in email or len(email) > MAX_EMAIL):
            raise FleetError(f"row {number}: {email[:60]!r} is not an email address")
        students.append(RosterEntry(student_id, name[:MAX_NAME], email))
    used = tuple(rows[0][i].strip() for i in (id_col, name_col, first_col, last_col, email_col) if i is not None)
    return Roster(tuple(students), skipped, used)
