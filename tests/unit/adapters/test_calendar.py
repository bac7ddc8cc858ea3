"""Timetable files read into series (controller/adapters/calendar.py): the iCalendar sample's weekly
RRULE with an EXDATE in a TZID zone across the end of British Summer Time, floating times, CSV rows,
and one clear line for every way a file can be wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.adapters.calendar import TimetableFileError, Window, read_csv, read_ics, read_timetable
from controller.contract.timetable import Series

DATA = Path(__file__).parents[2] / "data"
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\nDTSTAMP:20260901T090000Z\n{e.strip()}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{body}END:VCALENDAR\n"


EVENT = """UID:e1
SUMMARY:CS101 - Intro
LOCATION:LT2
DTSTART:20261012T100000Z
DTEND:20261012T110000Z"""


def test_a_weekly_rrule_with_an_exdate_in_a_zone_keeps_its_wall_clock_time_across_dst() -> None:
    timetable = read_ics((DATA / "timetable.ics").read_text(), LONDON, source="timetable.ics")
    cs101, ma201 = timetable.series
    assert cs101 == Series("cs101-lecture@timetable.example.ac.uk", "CS101", "Introduction to Computing", "LT2",
                           "Dr Ada Lovelace", 3600, (
                               utc(2026, 10, 12, 9),  # 10:00 BST
                               # 19 October: EXDATE
                               utc(2026, 10, 26, 10),  # 10:00 GMT, the day after the clocks went back
                               utc(2026, 11, 2, 10)))
    assert (ma201.course, ma201.title, ma201.room, ma201.lecturer, ma201.duration_s, ma201.starts) == (
        "MA201", "Calculus tutorial", "Room 1.05", "", 7200, (utc(2026, 10, 14, 14),))
    assert timetable.window == Window(date(2026, 10, 12), date(2026, 11, 2)) and timetable.lectures == 4


def test_floating_times_are_the_controllers_zone_and_the_window_cuts() -> None:
    text = ics("""UID:f1
SUMMARY:PH100: Physics
LOCATION:Lab 3
DTSTART:20260316T090000
DTEND:20260316T103000
RRULE:FREQ=WEEKLY;UNTIL=20260406T090000""")
    (series,) = read_ics(text, NEW_YORK).series  # New York's clocks go forward on 8 March, London's on 29 March
    assert series.starts == (utc(2026, 3, 16, 13), utc(2026, 3, 23, 13), utc(2026, 3, 30, 13), utc(2026, 4, 6, 13))
    (london,) = read_ics(text, LONDON, Window(date(2026, 3, 20), date(2026, 3, 30))).series
    assert (london.title, london.duration_s, london.starts) == ("Physics", 5400, (utc(2026, 3, 23, 9),
                                                                                   utc(2026, 3, 30, 8)))


def test_x_course_names_the_course_and_all_day_and_cancelled_events_are_skipped() -> None:
    timetable = read_ics(ics("UID:x\nX-COURSE:BIO-2\nSUMMARY:Genetics\nLOCATION:B1\nDTSTART:20261012T100000Z\n"
                             "DURATION:PT50M",
                             "UID:h\nSUMMARY:Reading week\nDTSTART;VALUE=DATE:20261019",
                             EVENT.replace("e1", "c") + "\nSTATUS:CANCELLED"), LONDON, source="t.ics")
    (series,) = timetable.series
    assert (series.course, series.title, series.duration_s) == ("BIO-2", "Genetics", 3000)
    assert timetable.skipped == ("t.ics line 13 (event 'Reading week'): an all-day event holds no lecture",
                                 "t.ics line 19 (event 'CS101 - Intro'): cancelled")


def test_a_moved_occurrence_is_a_series_of_its_own_and_an_event_without_uid_gets_a_stable_one() -> None:
    moved = ("UID:m\nSUMMARY:CS101 Intro\nLOCATION:LT2\nDTSTART:20261012T100000Z\nDTEND:20261012T110000Z\n"
             "RRULE:FREQ=WEEKLY;COUNT=3",
             "UID:m\nRECURRENCE-ID:20261019T100000Z\nSUMMARY:CS101 Intro\nLOCATION:LT9\n"
             "DTSTART:20261019T120000Z\nDTEND:20261019T130000Z")
    main, other = read_ics(ics(*moved), LONDON).series
    assert (main.uid, main.room, main.starts) == ("m", "LT2", (utc(2026, 10, 12, 10), utc(2026, 10, 26, 10)))
    assert other.uid.startswith("m-") and (other.room, other.starts) == ("LT9", (utc(2026, 10, 19, 12),))
    no_uid = ics(EVENT.replace("UID:e1\n", ""))
    derived = read_ics(no_uid, LONDON).series[0].uid
    assert derived.startswith("ics-") and read_ics(no_uid, LONDON).series[0].uid == derived  # a re-import finds it


@pytest.mark.parametrize(("text", "message"), [
    ("not a calendar", "t.ics: not an iCalendar file: "),
    ("BEGIN:VCALENDAR\nEND:VCALENDAR\n", "t.ics: no event with a start time"),
    (ics(EVENT.replace("SUMMARY:CS101 - Intro", "SUMMARY:Lecture on sets")),
     "t.ics line 4 (event 'Lecture on sets'): SUMMARY does not start with a course code (e.g. 'CS101 - Intro'); "
     "or give the event an X-COURSE"),
    (ics(EVENT + "\nX-COURSE:CS 101"), "t.ics line 4 (event 'CS101 - Intro'): X-COURSE 'CS 101' is not a course code"),
    (ics(EVENT.replace("LOCATION:LT2", "LOCATION:Building A, Room 2")),
     "t.ics line 4 (event 'CS101 - Intro'): LOCATION 'Building A, Room 2' is not a room: 1-32 letters, digits, "
     "spaces, '.', '_' or '-'"),
    (ics(EVENT.replace("LOCATION:LT2\n", "")), "t.ics line 4 (event 'CS101 - Intro'): no LOCATION (the room)"),
    (ics(EVENT.replace("DTEND:20261012T110000Z", "")),
     "t.ics line 4 (event 'CS101 - Intro'): no DTEND or DURATION: a lecture needs an end"),
    (ics(EVENT.replace("DTEND:20261012T110000Z", "DTEND:20261013T110000Z")),
     "t.ics line 4 (event 'CS101 - Intro'): a lecture of 1500 minutes (1 minute to 12 hours)"),
    (ics(EVENT.replace("DTSTART:20261012T100000Z", "DTSTART;TZID=Mars/Olympus:20261012T100000")),
     "t.ics line 4 (event 'CS101 - Intro'): unknown time zone 'Mars/Olympus' (no VTIMEZONE for it)"),
    (ics(EVENT.replace("DTSTART:20261012T100000Z", "DTSTART:2026xx")),
     "t.ics line 4 (event 'CS101 - Intro'): DTSTART cannot be read: Expected time, got: 2026xx"),
    (ics(EVENT + "\nRRULE:FREQ=SOMETIMES"),
     "t.ics line 4 (event 'CS101 - Intro'): RRULE cannot be read: "),
    (ics(EVENT.replace("DTSTART:20261012T100000Z", "")), "t.ics line 4 (event 'CS101 - Intro'): no DTSTART"),
    (ics(EVENT.replace("SUMMARY:CS101 - Intro", "SUMMARY:CS101 - Intro\u202e")),
     "t.ics line 4 (event 'CS101 - Intro\\u202e'): SUMMARY holds control or bidi-override characters"),
    (ics(EVENT + "\nRRULE:FREQ=HOURLY;COUNT=500"),
     "t.ics line 4 (event 'CS101 - Intro'): 500 lectures in the window, at most 400 per event; import a shorter "
     "window (--from/--to)"),
])
def test_an_ics_that_cannot_be_read_says_where_and_why_in_one_line(text: str, message: str) -> None:
    with pytest.raises(TimetableFileError) as caught:
        read_ics(text, LONDON, source="t.ics")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_an_ics_with_nothing_in_the_window_says_so() -> None:
    with pytest.raises(TimetableFileError, match=r"t\.ics: no lectures between 2027-01-01 and 2027-02-01"):
        read_ics(ics(EVENT), LONDON, Window(date(2027, 1, 1), date(2027, 2, 1)), source="t.ics")


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_rows_are_weekly_lectures_in_the_controllers_zone() -> None:
    timetable = read_timetable("timetable.csv", (DATA / "timetable.csv").read_text(), LONDON)
    cs101, ma201 = timetable.series
    assert (cs101.course, cs101.title, cs101.room, cs101.lecturer, cs101.duration_s) == (
        "CS101", "Introduction to Computing", "LT2", "Dr Ada Lovelace", 3600)
    assert cs101.starts == (utc(2026, 10, 12, 9), utc(2026, 10, 19, 9), utc(2026, 10, 26, 10), utc(2026, 11, 2, 10))
    assert ma201.starts == (utc(2026, 10, 14, 13), utc(2026, 10, 21, 13), utc(2026, 10, 28, 14))  # Wednesday = 3
    assert timetable.window == Window(date(2026, 10, 12), date(2026, 11, 2))
    assert cs101.uid.startswith("csv-") and cs101.uid != ma201.uid


def test_a_csv_rows_id_is_its_slot_so_a_changed_room_replaces_it() -> None:
    header = "course,title,room,lecturer,weekday,start,end,first_date,last_date\n"
    row = "CS101,Intro,LT2,,{day},10:00,11:00,2026-10-12,2026-10-19\n"
    before = read_csv(header + row.format(day="mon"), LONDON).series[0]
    after = read_csv(header + row.format(day="Monday").replace("LT2", "LT3"), LONDON).series[0]
    assert before.uid == after.uid and after.room == "LT3"
    assert read_csv("\ufeff" + header + row.format(day="1"), LONDON).series[0].uid == before.uid  # Excel's BOM


HEADER = "course,title,room,lecturer,weekday,start,end,first_date,last_date\n"
GOOD = "CS101,Intro,LT2,Dr A,Mon,10:00,11:00,2026-10-12,2026-11-02"


@pytest.mark.parametrize(("text", "message"), [
    ("course,title\nCS101,Intro\n", "t.csv line 1: the header must name course,title,room,lecturer,weekday,start,"
                                    "end,first_date,last_date; missing: room, lecturer"),
    (HEADER.replace("\n", ",notes\n") + GOOD + ",x\n", "t.csv line 1: unknown column 'notes'"),
    (HEADER, "t.csv: no rows under the header"),
    (HEADER + GOOD + ",extra\n", "t.csv line 2: more fields than the header names"),
    (HEADER + GOOD.replace("CS101", "CS 101"), "t.csv line 2: course 'CS 101' is not a course code"),
    (HEADER + GOOD.replace("Intro", ""), "t.csv line 2: no title"),
    (HEADER + GOOD.replace("LT2", "L/T"), "t.csv line 2: room 'L/T' is not a room"),
    (HEADER + GOOD.replace("LT2", ""), "t.csv line 2: no room (the room)"),
    (HEADER + GOOD.replace("Mon", "Mo"), "t.csv line 2: weekday 'mo' must be Mon..Sun or 1-7 (1 is Monday)"),
    (HEADER + GOOD.replace("Mon", "8"), "t.csv line 2: weekday '8' must be Mon..Sun or 1-7"),
    (HEADER + GOOD.replace("10:00", "10am"), "t.csv line 2: start '10am' must be a time HH:MM"),
    (HEADER + GOOD.replace("11:00", "24:00"), "t.csv line 2: end '24:00' must be a time HH:MM"),
    (HEADER + GOOD.replace("11:00", "09:00"), "t.csv line 2: end 09:00 is not after start 10:00"),
    (HEADER + GOOD.replace("2026-10-12", "12/10/2026"), "t.csv line 2: first_date '12/10/2026' must be a date"),
    (HEADER + GOOD.replace("2026-11-02", "2026-10-01"), "t.csv line 2: last_date 2026-10-01 is before first_date"),
    (HEADER + GOOD + "\n" + GOOD.replace("LT2", "LT3"), "t.csv line 3: CS101 on Mon at 10:00 is already on line 2"),
    (HEADER + GOOD.replace("Dr A", "Dr \x1bA"), "t.csv line 2: lecturer holds control or bidi-override characters"),
    (HEADER + 'CS101,"Intro\n', "t.csv line 2: unexpected end of data"),
])
def test_a_csv_that_cannot_be_read_says_which_line_and_why(text: str, message: str) -> None:
    with pytest.raises(TimetableFileError) as caught:
        read_csv(text, LONDON, source="t.csv")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_file_of_another_kind_is_refused() -> None:
    with pytest.raises(TimetableFileError, match=r"t.xlsx: a timetable is an iCalendar file \(.ics\) or a CSV"):
        read_timetable("t.xlsx", "", LONDON)
