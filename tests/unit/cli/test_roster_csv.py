"""Roster files as Moodle, Canvas and a plain spreadsheet export them (cli/roster_csv.py), and the
report's files (cli/exports.py): the registrar's CSV and Moodle's attendance import, column by column."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

import pytest

from controller.cli import exports, roster_csv
from controller.cli.rosters import late_after_s
from controller.contract.report import AttendanceReport, HeldRow, StudentRow
from controller.contract.results import AttendanceList
from controller.contract.rosters import RosterEntry
from controller.errors import FleetError

MOODLE_PARTICIPANTS = """\ufeffFirst name,Last name,ID number,Email address,Roles,Groups,Last access to course
Ada,Lovelace,U2021/0042,ada@example.edu,Student,No groups,Never
Alan,Turing,U2021/0043,alan@example.edu,Student,Group A,2 days
"""
MOODLE_GRADEBOOK = """First name,Surname,ID number,Institution,Department,Email address,Quiz 1 (Real),Last downloaded
Grace,Hopper,U2021/0044,Uni,CS,grace@example.edu,7.00,1700000000
"""
CANVAS_GRADEBOOK = """Student,ID,SIS User ID,SIS Login ID,Section,Assignment 1 (123),Current Score
    Points Possible,,,,,10,
"Lovelace, Ada",1001,U2021/0042,ada,CS101-01,9,90
"Student, Test",1002,,,CS101-01,,
"""
PLAIN = "student_id;name;email\nU1;Ada Lovelace;\nU2;Alan Turing;alan@example.edu\n"


def test_a_moodle_participants_download_reads() -> None:
    roster = roster_csv.parse(MOODLE_PARTICIPANTS)
    assert roster.students == (RosterEntry("U2021/0042", "Ada Lovelace", "ada@example.edu"),
                               RosterEntry("U2021/0043", "Alan Turing", "alan@example.edu"))
    assert roster.columns == ("ID number", "First name", "Last name", "Email address") and roster.skipped == 0


def test_a_moodle_gradebook_export_reads() -> None:
    assert roster_csv.parse(MOODLE_GRADEBOOK).students == (RosterEntry("U2021/0044", "Grace Hopper",
                                                                       "grace@example.edu"),)


def test_a_canvas_gradebook_export_reads_and_skips_rows_without_a_sis_id() -> None:
    roster = roster_csv.parse(CANVAS_GRADEBOOK)
    assert roster.students == (RosterEntry("U2021/0042", "Lovelace, Ada"),)
    assert roster.skipped == 2  # "Points Possible" and the Test Student
    assert roster.columns == ("SIS User ID", "Student")


def test_a_plain_file_with_semicolons_reads() -> None:
    assert roster_csv.parse(PLAIN).students == (RosterEntry("U1", "Ada Lovelace"),
                                                RosterEntry("U2", "Alan Turing", "alan@example.edu"))


@pytest.mark.parametrize(("text", "message"), [
    ("", "the roster file is empty"),
    ("name,email\nAda,a@b\n", "no student id column"),
    ("student_id,email\nU1,a@b\n", "no name column"),
    ("student_id,name\nU1,Ada\n/bad,Alan\n", "row 3: '/bad' is not a student id"),
    ("student_id,name\nU1,Ada\nU1,Alan\n", "row 3: student U1 is already on row 2"),
    ("student_id,name\nU1,\n", "row 2: student U1 has no name"),
    ("student_id,name,email\nU1,Ada,not-an-email\n", "row 2: 'not-an-email' is not an email address"),
])
def test_a_bad_roster_says_which_row(text: str, message: str) -> None:
    with pytest.raises(FleetError, match=message):
        roster_csv.parse(text)


@pytest.mark.parametrize(("text", "seconds"), [("10m", 600), ("90s", 90), ("1h", 3600), ("10", 600), ("0", 0)])
def test_late_after_reads_durations_as_session_start_does(text: str, seconds: float) -> None:
    """A bare number is minutes, as for `session start --duration` (clock.seconds)."""
    assert late_after_s(text) == seconds


@pytest.mark.parametrize(("text", "message"), [("ten minutes", "'ten minutes' is not a duration"),
                                               ("-5m", "--late-after is from 0 to 4h after the start, not '-5m'"),
                                               ("5h", "--late-after is from 0 to 4h")])
def test_a_bad_late_after_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(FleetError, match=message):
        late_after_s(text)


REPORT = AttendanceReport("CS101", "2024/2025", "1st", 3, (
    StudentRow("U1", 2, 3, 100.0, 0, "Ada Lovelace", True, 1, 1, 0, 1, ("present", "late", "excused")),
    StudentRow("U2", 0, 3, 0.0, 0, "Alan Turing", True, 0, 0, 3, 0, ("absent", "absent", "absent"),
               ("low_attendance", "consecutive_absences")),
    StudentRow("X9", 1, 3, 33.3, 0, None, False, 1, 0, 2, 0, ("absent", "present", "absent"),
               ("low_attendance", "not_on_roster"))),
    (HeldRow(4, 1_000_000.0, "dev-a", 1, 0), HeldRow(5, 1_600_000.0, "dev-a", 2, 0),
     HeldRow(6, 2_200_000.0, None, 0, 0)), 2)


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_registrars_csv_has_a_row_per_student() -> None:
    rows = _rows(exports.plain_csv(REPORT))
    assert rows[0] == ["student_id", "name", "enrolled", "present", "late", "absent", "excused", "held", "percent",
                       "warnings", "flagged"]
    assert rows[1:] == [["U1", "Ada Lovelace", "yes", "1", "1", "0", "1", "3", "100.0", "", "0"],
                        ["U2", "Alan Turing", "yes", "0", "0", "3", "0", "3", "0.0",
                         "low_attendance consecutive_absences", "0"],
                        ["X9", "", "no", "1", "0", "2", "0", "3", "33.3", "low_attendance not_on_roster", "0"]]


def test_moodle_attendance_import_files_are_one_per_session_with_its_columns_and_acronyms() -> None:
    """mod_attendance's "Import attendance" (classes/import/marksessions.php) maps a user column by
    header — userid, username, idnumber or email, the first present — and a `status` column of the
    status set's acronyms (the default set: P, L, E, A) into one session."""
    files = exports.moodle_csvs(REPORT, {"U1": "ada@example.edu"})
    assert [(session_id, started_at) for session_id, started_at, _ in files] == [
        (4, 1_000_000.0), (5, 1_600_000.0), (6, 2_200_000.0)]
    first = _rows(files[0][2])
    assert first[0] == ["idnumber", "email", "status"] == list(exports.MOODLE_COLUMNS)
    assert first[1:] == [["U1", "ada@example.edu", "P"], ["U2", "", "A"], ["X9", "", "A"]]
    assert [row[2] for row in _rows(files[1][2])[1:]] == ["L", "A", "P"]
    assert [row[2] for row in _rows(files[2][2])[1:]] == ["E", "A", "A"]
    assert set(exports.MOODLE_ACRONYMS.values()) == {"P", "A", "L", "E"}
    assert exports.moodle_name("cs101", ".csv", 4, 1_000_000.0, LONDON).endswith("-s4.csv")


LONDON = ZoneInfo("Europe/London")
CHECKINS = AttendanceList.from_obj({"session_id": 7, "rejected": [], "records": [
    {"student_id": "U1", "device": "dev-a", "seq": 1, "station_mac": "aa:bb:cc:dd:ee:01",
     "received_at": 1_792_400_700.0, "on_roster": True},  # Mon 19 Oct 2026 09:05 UTC: 10:05 BST
    {"student_id": "U2", "device": "dev-a", "seq": 2, "station_mac": None, "received_at": 1_792_400_760.0,
     "on_roster": True}]})


def test_every_export_ends_its_lines_with_lf() -> None:
    """One line ending for every file the CLI writes (exports.to_csv): LF, no CR anywhere."""
    files = [exports.checkins_csv(CHECKINS, LONDON), exports.summary_csv(REPORT), exports.plain_csv(REPORT),
             *(text for _, _, text in exports.moodle_csvs(REPORT, {}))]
    for text in files:
        assert "\r" not in text and text.endswith("\n")
    assert exports.checkins_csv(CHECKINS, LONDON).split("\n")[:2] == [
        "session_id,student_id,device,seq,station_mac,received_at",
        "7,U1,dev-a,1,aa:bb:cc:dd:ee:01,2026-10-19T10:05:00+0100"]


def test_export_times_and_moodle_file_dates_are_in_the_given_zone() -> None:
    assert _rows(exports.checkins_csv(CHECKINS, ZoneInfo("UTC")))[2][5] == "2026-10-19T09:06:00+0000"
    late_evening = 1_792_450_800.0  # Mon 19 Oct 2026 23:00 UTC: already Tuesday in London (BST)
    assert exports.moodle_name("cs101", "", 4, late_evening, LONDON) == "cs101-2026-10-20-s4.csv"
    assert exports.moodle_name("cs101", ".txt", 4, late_evening, ZoneInfo("UTC")) == "cs101-2026-10-19-s4.txt"
