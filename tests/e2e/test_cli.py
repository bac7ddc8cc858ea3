"""End to end: the `fleet` CLI as a user runs it, against `fleet controller` and `fleet simulate` processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.contract.results import SessionScaled
from controller.contract.session_detail import SessionShown
from tests.brokers import RunningBroker

REPO = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
START = ["session", "start", "CS101", "--title", "Introduction to Computer Science", "--session", "2024/2025",
         "--semester", "1st Semester", "--lecturer", "alice"]


class Fleet:
    """Runs `fleet ...` with this test's broker and root."""

    def __init__(self, broker: RunningBroker, root: str) -> None:
        self.base = [sys.executable, "-m", "cli", "--broker", broker.url, "--root", root]
        self.env = os.environ | {"COLUMNS": "200", "NO_COLOR": "1"}

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env=self.env)

    def json(self, *args: str) -> dict[str, object]:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout)
        return result

    def spawn(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        return subprocess.Popen([*self.base, *args], cwd=REPO, env=self.env, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT)


def one_line_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def fleet(amqtt_broker: RunningBroker, root: str) -> Fleet:
    return Fleet(amqtt_broker, root)


@pytest.fixture
def running(fleet: Fleet, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`fleet controller` and `fleet simulate 3`, both as real processes."""
    controller = fleet.spawn("-v", "controller", "--db", f"sqlite:///{tmp_path / 'fleet.db'}",
                             log=tmp_path / "controller.log")
    simulator = fleet.spawn("simulate", "3", "--heartbeat-s", "2", "--seed", "7", log=tmp_path / "sim.log")
    try:
        deadline = time.monotonic() + 30
        while True:
            done = fleet("devices", "--json")
            if done.returncode == 0 and json.loads(done.stdout)["online"] == 3:
                break
            assert time.monotonic() < deadline, (tmp_path / "controller.log").read_text()
            time.sleep(0.3)
        yield controller
    finally:
        for proc in (simulator, controller):
            proc.send_signal(signal.SIGTERM)
        for proc in (simulator, controller):
            proc.wait(timeout=15)


def test_a_lecturers_session_from_start_to_export(fleet: Fleet, running: subprocess.Popen[bytes],
                                                  tmp_path: Path) -> None:
    started = fleet.json(*START)
    assert started["applied"] is True
    config = started["config"]
    assert isinstance(config, dict)
    assert config["ssid"] == "CS101_Attendance_2024_2025"
    assert config["device_id"] == "ESP32_CS101_2024_2025_1st_Semester"
    assert set(started) == {"session_id", "device", "config", "devices", "ends_at", "applied"}
    assert started["devices"] == [started["device"]]  # one device unless --students/--devices

    human = fleet(*START[:2], "EE201", *START[3:], "--duration", "90m")
    assert human.returncode == 0, human.stderr
    assert "EE201_Attendance_2024_2025" in human.stdout and "applied" in human.stdout and "ends at" in human.stdout
    ee201 = next(s for s in fleet.json("session", "list", "--active")["sessions"]  # type: ignore[union-attr]
                 if s["course"] == "EE201")
    assert 5300 < ee201["ends_at"] - ee201["started_at"] <= 5400  # type: ignore[index, operator]
    extended = fleet.json("session", "extend", str(ee201["session_id"]), "15m")  # type: ignore[index]
    assert extended["ends_at"] == ee201["ends_at"] + 900  # type: ignore[index, operator]
    one_line_error(fleet(*START[:2], "EE201", *START[3:], "--until", "25:00"), "'25:00' is not a time")
    one_line_error(fleet("session", "extend", str(ee201["session_id"]), "5h"), "at most 4 h from now")

    fleet_json = fleet.json("devices")
    assert (fleet_json["total"], fleet_json["online"], fleet_json["available"]) == (3, 3, 1)
    devices = fleet_json["devices"]
    assert isinstance(devices, list)
    row = next(d for d in devices if d["id"] == started["device"])
    assert row["session_id"] == started["session_id"]
    assert row["config_version"] == row["applied_version"] == config["version"]

    table = fleet("devices")
    assert table.returncode == 0 and "total 3" in table.stdout and "online 3" in table.stdout

    busy = fleet(*START, "--device", str(started["device"]))
    one_line_error(busy, "device_busy")

    sessions = fleet.json("session", "list", "--active")["sessions"]
    assert isinstance(sessions, list) and len(sessions) == 2

    ended = fleet.json("session", "end", str(started["session_id"]))
    assert ended["config"] == {"v": 1, "version": int(config["version"]) + 1, "active_session": False}
    one_line_error(fleet("session", "end", str(started["session_id"])), "already ended")

    out = tmp_path / "cs101.csv"
    export = fleet("attendance", "export", str(started["session_id"]), "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert out.read_text().splitlines()[0] == "session_id,student_id,device,seq,station_mac,received_at"

    stats = fleet.json("stats")
    assert stats["received"]["heartbeat"] >= 3  # type: ignore[index]


def test_a_big_lecture_on_several_devices_scales_while_it_runs(fleet: Fleet,
                                                               running: subprocess.Popen[bytes]) -> None:
    assert fleet.json(*START)["applied"] is True  # one of the three devices busy
    big = [*START[:2], "MA100", *START[3:], "--devices", "3"]  # two of the three are free
    one_line_error(fleet(*big), "not_enough_devices", "only 2 free", "--anyway")
    anyway = fleet.json(*big, "--anyway")
    assert isinstance(anyway["devices"], list) and len(anyway["devices"]) == 2 and anyway["applied"] is True

    big_id, (kept, other) = str(anyway["session_id"]), anyway["devices"]
    shrunk = fleet("session", "scale", big_id, "--devices", "1")
    assert shrunk.returncode == 0 and f"released {other}" in shrunk.stdout, shrunk.stderr
    one_line_error(fleet("session", "scale", big_id, "--devices", "3"), "not_enough_devices", "only 1 free",
                   "--anyway to add them")
    grown = SessionScaled.from_obj(fleet.json("session", "scale", big_id, "--devices", "3", "--anyway"))
    assert (grown.devices[0], grown.added) == (kept, (other,))
    shown = SessionShown.from_obj(fleet.json("session", "show", big_id))
    assert [(d.device, d.left_why) for d in shown.devices] == [(kept, None), (other, "released"), (other, None)]
    view = fleet("session", "show", big_id)
    assert view.returncode == 0 and f"Session {big_id}" in view.stdout and "per minute" in view.stdout, view.stderr



def test_clean_errors_and_clean_shutdown(fleet: Fleet, running: subprocess.Popen[bytes], root: str,
                                         amqtt_broker: RunningBroker) -> None:
    one_line_error(fleet("session", "end", "999"), "no session 999", "unknown_session")
    one_line_error(fleet(*START, "--password", "short"), "password", "bad_request")
    one_line_error(fleet(*START, "--device", "esp32-999999999999"), "unknown_device")
    one_line_error(fleet("--root", "nobody-here", "devices"), "no controller is online")
    unreachable = subprocess.run([sys.executable, "-m", "cli", "--broker", "mqtt://127.0.0.1:1", "devices"],
                                 capture_output=True, text=True, timeout=30, cwd=REPO)
    one_line_error(unreachable, "cannot reach the broker")
    bad_url = subprocess.run([sys.executable, "-m", "cli", "--broker", "http://x", "devices"],
                             capture_output=True, text=True, timeout=30, cwd=REPO)
    one_line_error(bad_url, "bad broker URL")
    bad_list = subprocess.run([sys.executable, "-m", "cli", "--broker", "mqtt://127.0.0.1:1,,127.0.0.1:2", "devices"],
                              capture_output=True, text=True, timeout=30, cwd=REPO)
    one_line_error(bad_list, "bad broker list", "no empty entries")
    none_up = subprocess.run([sys.executable, "-m", "cli", "--broker", "mqtt://127.0.0.1:1,127.0.0.1:2", "devices"],
                             capture_output=True, text=True, timeout=30, cwd=REPO)
    one_line_error(none_up, "cannot reach the broker at mqtt://127.0.0.1:1,127.0.0.1:2")

    running.send_signal(signal.SIGTERM)
    assert running.wait(timeout=15) == 0
    one_line_error(fleet("devices"), "no controller is online")


def test_rooms_inventory_and_a_semester_report(fleet: Fleet, running: subprocess.Popen[bytes], tmp_path: Path) -> None:
    devices = sorted(d["id"] for d in fleet.json("devices")["devices"])  # type: ignore[union-attr]
    placed = fleet("device", "set", devices[0], "--room", "LT2", "--name", "front")
    assert placed.returncode == 0 and "room LT2" in placed.stdout, placed.stderr
    assert fleet("device", "retire", devices[1]).returncode == 0
    inventory = {d["id"]: d for d in fleet.json("device", "list")["devices"]}  # type: ignore[union-attr]
    assert inventory[devices[0]]["room"] == "LT2" and inventory[devices[1]]["retired"] is True
    assert "retired" in fleet("device", "list").stdout

    started = fleet.json(*START, "--room", "LT2")
    assert started["device"] == devices[0] and "LT2" in str(started["config"])
    one_line_error(fleet(*START[:2], "EE201", *START[3:], "--room", "LT2"), "room LT2", "busy")
    one_line_error(fleet("device", "set", devices[0]), "nothing to set")
    fleet.json("session", "end", str(started["session_id"]))
    again = fleet("session", "start", "CS101", "--session", "2024/2025", "--semester", "1st Semester")
    assert again.returncode == 0, again.stderr  # the title is remembered

    out = tmp_path / "report.csv"
    report = fleet("attendance", "report", "CS101", "--session", "2024/2025", "--semester", "1st Semester",
                   "--out", str(out))
    assert report.returncode == 0 and "sessions held" in report.stdout, report.stderr
    assert out.read_text().splitlines()[0] == "student_id,attended,held,percent,flagged"
    assert fleet.json("attendance", "report", "CS101", "--session", "2024/2025", "--semester",
                      "1st Semester")["held"] == 2
    assert fleet.json("devices")["total"] == 2  # the retired one left the totals


def _semester_ics(first: date) -> str:
    """A weekly lecture on four Mondays from `first`, at 10:00 London time, the second week off."""
    day = f"{first:%Y%m%d}"
    return (f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//e2e//EN\nBEGIN:VEVENT\nUID:cs101-e2e\nDTSTAMP:{day}T000000Z\n"
            f"SUMMARY:CS101 - Introduction to Computing\nLOCATION:LT2\nORGANIZER;CN=Dr Ada:mailto:ada@example.org\n"
            f"DTSTART;TZID=Europe/London:{day}T100000\nDTEND;TZID=Europe/London:{day}T110000\n"
            f"RRULE:FREQ=WEEKLY;COUNT=4\nEXDATE;TZID=Europe/London:{first + timedelta(days=7):%Y%m%d}T100000\n"
            "END:VEVENT\nEND:VCALENDAR\n")


def test_a_timetable_imported_listed_and_removed(fleet: Fleet, running: subprocess.Popen[bytes],
                                                 tmp_path: Path) -> None:
    today = datetime.now(LONDON).date()
    first = today + timedelta(days=7 - today.weekday() + 7)  # a Monday one to two weeks ahead
    semester = tmp_path / "semester.ics"
    semester.write_text(_semester_ics(first))
    flags = ("--session", "2024/2025", "--semester", "1st Semester", "--zone", "Europe/London")
    assert fleet.json("timetable", "import", str(semester), *flags) == {"added": 3, "removed": 0, "kept": 0}
    assert fleet.json("timetable", "import", str(semester), *flags) == {"added": 0, "removed": 0, "kept": 3}

    lectures = fleet.json("timetable", "list", "--course", "CS101")["lectures"]
    days = [first, first + timedelta(days=14), first + timedelta(days=21)]
    assert [(x["starts_at"], x["ends_at"] - x["starts_at"], x["state"], x["room"], x["lecturer"])  # type: ignore[index]
            for x in lectures] == [(int(datetime.combine(d, time_of_day(10), LONDON).timestamp()), 3600, "scheduled",
                                    "LT2", "Dr Ada") for d in days]  # type: ignore[union-attr]
    table = fleet("timetable", "list", "--zone", "Europe/London")
    assert table.returncode == 0 and "10:00-11:00" in table.stdout and "Europe/London" in table.stdout, table.stderr

    bad = tmp_path / "bad.ics"
    bad.write_text(_semester_ics(first).replace("LOCATION:LT2", "LOCATION:Main Building, Room 2"))
    one_line_error(fleet("timetable", "import", str(bad), *flags), "bad.ics line 4", "LOCATION", "is not a room")
    one_line_error(fleet("timetable", "import", str(tmp_path / "missing.csv"), *flags), "cannot read")
    one_line_error(fleet("timetable", "remove"), "give a series' UID or --course")
    assert fleet.json("timetable", "remove", "--course", "CS101") == {"removed": 3}
    assert fleet.json("timetable", "list")["lectures"] == []

    typed = tmp_path / "typed.csv"
    typed.write_text("course,title,room,lecturer,weekday,start,end,first_date,last_date\n"
                     f"MA201,Calculus,Room 1.05,Prof Gauss,Wed,14:00,16:00,{first},{first + timedelta(days=20)}\n")
    assert fleet.json("timetable", "import", str(typed), *flags) == {"added": 3, "removed": 0, "kept": 0}
    wednesdays = [x["starts_at"] for x in fleet.json("timetable", "list")["lectures"]]  # type: ignore[index]
    assert wednesdays == [int(datetime.combine(first + timedelta(days=2 + 7 * i), time_of_day(14), LONDON).timestamp())
                          for i in range(3)]


def test_a_lecture_a_minute_ahead_starts_applies_and_ends_on_its_own(fleet: Fleet, running: subprocess.Popen[bytes],
                                                                   tmp_path: Path) -> None:
    """Real minutes: a one-minute lecture imported from an .ics, its session started by the
    controller (the lecture is within its 5-minute lead), applied by a simulated device in its room,
    and ended by the controller at the lecture's end; nobody types a session command."""
    device = sorted(d["id"] for d in fleet.json("devices")["devices"])[0]  # type: ignore[union-attr]
    assert fleet("device", "set", device, "--room", "LT9").returncode == 0
    begins = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=10)
    stamp = "%Y%m%dT%H%M%SZ"
    lecture = tmp_path / "now.ics"
    lecture.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
                       f"UID:now@test\r\nDTSTAMP:{begins:{stamp}}\r\nSUMMARY:PH100 Physics\r\nLOCATION:LT9\r\n"
                       f"DTSTART:{begins:{stamp}}\r\nDURATION:PT1M\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    imported = fleet.json("timetable", "import", str(lecture), "--session", "2024/2025", "--semester", "1st")
    assert imported == {"added": 1, "removed": 0, "kept": 0}

    def session() -> dict[str, object] | None:
        rows = fleet.json("session", "list")["sessions"]
        return next((r for r in rows if r["course"] == "PH100"), None)  # type: ignore[union-attr, index]

    deadline = time.monotonic() + 30
    while (row := session()) is None or not row["applied"]:
        assert time.monotonic() < deadline, f"the lecture's session did not start and apply: {row}"
        time.sleep(0.5)
    assert row["devices"] == [device] and row["ends_at"] == int(begins.timestamp()) + 60
    deadline = time.monotonic() + 90
    while (row := session()) is not None and row["active"]:
        assert time.monotonic() < deadline, "the lecture's session did not end at the lecture's end"
        time.sleep(1.0)
    assert row is not None and float(row["ended_at"]) >= begins.timestamp() + 60  # type: ignore[arg-type]
    [lecture_row] = fleet.json("timetable", "list", "--all")["lectures"]  # type: ignore[misc]
    assert lecture_row["state"] == "ended"  # type: ignore[index]


def test_a_bad_topic_root_is_one_line() -> None:
    for bad in ("a" * 65, "a/#"):
        done = subprocess.run([sys.executable, "-m", "cli", "--broker", "mqtt://127.0.0.1:1", "--root", bad, "stats"],
                              capture_output=True, text=True, timeout=30, cwd=REPO)
        one_line_error(done, "root")


# --- fleet up, found from a second terminal ---------------------------------------------------------


def cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`fleet ...` with neither --broker nor --root: what a second terminal types."""
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


@dataclass
class Up:
    """A `fleet up --simulate 3` process whose configured port was taken, and a second terminal's env."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    state_file: Path
    log: Path
    taken_port: int


@pytest.fixture
def fleet_up(tmp_path: Path, root: str) -> Iterator[Up]:
    taken = socket.socket()  # the configured port is in use, as 1883 often is
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    conf = tmp_path / "broker.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FLEET_BROKER_URL", "FLEET_TOPIC_ROOT", "COLUMNS")}
    env |= {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "NO_COLOR": "1"}
    log = tmp_path / "up.log"
    proc = subprocess.Popen([sys.executable, "-m", "cli", "--root", root, "up", "--simulate", "3", "--config",
                             str(conf), "--db", f"sqlite:///{tmp_path / 'fleet.db'}", "--heartbeat-s", "2"],
                            cwd=REPO, env=env | {"COLUMNS": "100"}, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        yield Up(proc, env, tmp_path / "run" / "fleet" / "up.json", log, port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=15)
        taken.close()


def test_fleet_up_is_found_without_flags_and_its_simulated_students_check_in(fleet_up: Up, root: str) -> None:
    """`fleet up` took a random port; a second terminal reaches it without --broker or --root, and
    simulated students check in at the default rate once a session is applied."""
    env = fleet_up.env
    deadline = time.monotonic() + 30
    while True:
        done = cli("devices", "--json", env=env)
        if done.returncode == 0 and json.loads(done.stdout)["online"] == 3:
            break
        assert time.monotonic() < deadline and fleet_up.proc.poll() is None, fleet_up.log.read_text() + done.stderr
        time.sleep(0.3)
    recorded = json.loads(fleet_up.state_file.read_text())
    assert recorded["root"] == root and recorded["pid"] == fleet_up.proc.pid
    assert recorded["broker_url"].startswith("mqtt://127.0.0.1:")
    assert not recorded["broker_url"].endswith(f":{fleet_up.taken_port}")

    started = cli(*START, "--json", env=env)
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 20  # the default rate is 3 a second, from a class of 120
    while True:
        [session] = json.loads(cli("session", "list", "--json", env=env).stdout)["sessions"]
        if session["checkins"] >= 10:
            break
        assert time.monotonic() < deadline, session
        time.sleep(0.5)
    assert session["session_id"] == json.loads(started.stdout)["session_id"]

    narrow = cli("session", "list", env=env | {"COLUMNS": "80"})
    assert narrow.returncode == 0, narrow.stderr
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80, narrow.stdout
    assert "CS101_Attendance_2024_2025" in narrow.stdout and "applied" in narrow.stdout
    assert "lecturer" not in narrow.stdout and "--wide" in narrow.stdout
    assert "lecturer" in cli("session", "list", "--wide", env=env | {"COLUMNS": "80"}).stdout
    piped = cli("session", "list", env=env)  # no terminal, no COLUMNS: whole rows, as kubectl prints them
    assert "lecturer" in piped.stdout and "alice" in piped.stdout and "…" not in piped.stdout

    fleet_up.proc.send_signal(signal.SIGTERM)  # stops as Ctrl-C does
    assert fleet_up.proc.wait(timeout=30) == 0, fleet_up.log.read_text()
    assert not fleet_up.state_file.exists()
    table = fleet_up.log.read_text()  # the live table's last frame (printed once when not on a terminal)
    assert "check-ins" in table and "CS101_Attendance_2024_2025" in table and "Traceback" not in table
    assert "went offline" not in table  # the controller stops before the devices it would warn about


MOODLE_PARTICIPANTS = ("First name,Last name,ID number,Email address,Roles\n"
                       "Ada,Lovelace,U2021/0042,ada@example.edu,Student\n"
                       "Alan,Turing,U2021/0043,,Student\n")


def test_a_roster_from_moodle_and_the_registrars_report_with_the_moodle_import(
        fleet: Fleet, running: subprocess.Popen[bytes], tmp_path: Path) -> None:
    roster = tmp_path / "participants.csv"
    roster.write_text(MOODLE_PARTICIPANTS, encoding="utf-8")
    imported = fleet("roster", "import", "CS101", str(roster), "--replace")
    assert imported.returncode == 0 and "2 added" in imported.stdout and "ID number" in imported.stdout, \
        imported.stderr
    listed = fleet.json("roster", "list", "CS101")
    assert [(s["student_id"], s["name"]) for s in listed["students"]] == [  # type: ignore[union-attr, index]
        ("U2021/0042", "Ada Lovelace"), ("U2021/0043", "Alan Turing")]
    assert fleet.json("course", "set", "CS101", "--late-after", "5m")["late_after_s"] == 300.0
    one_line_error(fleet("course", "set", "CS101", "--late-after", "soon"), "not a duration")
    bad = tmp_path / "bad.csv"
    bad.write_text("student_id,name\nU1,Ada\n/x,Alan\n", encoding="utf-8")
    one_line_error(fleet("roster", "import", "CS101", str(bad)), "row 3")
    one_line_error(fleet("roster", "import", "CS101", str(tmp_path / "missing.csv")), "cannot read")

    started = fleet.json(*START)
    marked = fleet("attendance", "mark", str(started["session_id"]), "U2021/0043", "excused", "--note", "ill")
    assert marked.returncode == 0 and "U2021/0043 marked excused" in marked.stdout, marked.stderr
    one_line_error(fleet("attendance", "mark", str(started["session_id"]), "U2021/0043", "sick"), "status")
    fleet.json("session", "end", str(started["session_id"]))

    moodle, plain = tmp_path / "cs101-moodle.csv", tmp_path / "cs101.csv"
    report = fleet("attendance", "report", "CS101", "--session", "2024/2025", "--semester", "1st Semester",
                   "--moodle", str(moodle), "--csv", str(plain))
    assert report.returncode == 0 and "2 enrolled" in report.stdout, report.stderr
    [imported_file] = list(tmp_path.glob(f"cs101-moodle-*-s{started['session_id']}.csv"))
    lines = imported_file.read_text().splitlines()
    assert lines[0] == "idnumber,email,status"
    assert "U2021/0042,ada@example.edu,A" in lines and "U2021/0043,,E" in lines
    rows = plain.read_text().splitlines()
    assert rows[0] == "student_id,name,enrolled,present,late,absent,excused,held,percent,warnings,flagged"
    assert any(r.startswith("U2021/0042,Ada Lovelace,yes,0,0,1,0,1,0.0,") for r in rows)
    as_json = fleet.json("attendance", "report", "CS101", "--session", "2024/2025", "--semester", "1st Semester")
    assert as_json["enrolled"] == 2 and [m["status"] for m in as_json["marks"]] == ["excused"]  # type: ignore[index]
