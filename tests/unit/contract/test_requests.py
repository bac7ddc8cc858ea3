"""The request API's types (controller/contract/requests.py, results.py) against schemas/methods/:
every method's params round-trip and are checked as the schema says; every result writes exactly
its schema's keys and reads back to itself."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from controller.contract import requests as api
from controller.contract.firmware import FirmwareAdded, FirmwareImage, FirmwareList
from controller.contract.messages import Config, SessionConfig
from controller.contract.report import AttendanceReport, HeldRow, MarkRow, StudentRow
from controller.contract.results import (
    AttendanceList,
    CheckinRow,
    CourseRow,
    CoursesList,
    DeviceForgotten,
    DeviceInventory,
    DeviceRow,
    DevicesList,
    DeviceUpdated,
    InventoryRow,
    RejectedRow,
    SessionEnded,
    SessionExtended,
    SessionList,
    SessionRow,
    SessionScaled,
    SessionStarted,
    SessionWaited,
    StatsResult,
)
from controller.contract.rollouts import (
    DeviceNote,
    RolloutChanged,
    RolloutList,
    RolloutStatus,
    RolloutSummary,
    WaveCounts,
)
from controller.contract.rosters import (
    AttendanceMarked,
    AttendanceMarkParams,
    CourseSetParams,
    CourseUpdated,
    RosterEntry,
    RosterImported,
    RosterImportParams,
    RosterList,
)
from controller.contract.session_detail import ServedRow, SessionShown
from controller.contract.timetable import (
    Lecture,
    Series,
    TimetableImported,
    TimetableImportParams,
    TimetableList,
    TimetableRemoved,
    split_import,
)
from controller.errors import ApiError, BadRequest, Rejected, UnknownSession
from tests import contract

EXAMPLES = contract.EXAMPLES_DIR / "request"
ACTIVE = Config(7, SessionConfig(4, "CS101", "Intro", "2024/2025", "1st Semester", "alice",
                                 "ESP32_CS101_2024_2025_1st_Semester", "CS101 - Intro", "CS101_Attendance_2024_2025",
                                 "", "CS101 LT2 - 2024/2025 1st Semester"))
ROW = DeviceRow("esp32-a1b2c3d4e5f6", True, 1_000_000.5, "CS101 - Intro", "CS101_Attendance_2024_2025",
                "CS101 LT2 - 2024/2025 1st Semester", "LT2", 4, 7, 7, 3, "1.0.0", -61, 143000, 3600, 18, 18, 23, 187,
                False, True, ("flapping",))
IDLE_ROW = DeviceRow("sim-00002", False, None, None, None, None, None, None, None, None, None, None, None, None, None,
                     None, None, None, None, True, False, ())
SESSION = SessionRow(4, "CS101", "Intro", "2024/2025", "1st Semester", "", "esp32-a1b2c3d4e5f6",
                     "CS101_Attendance_2024_2025", True, False, None, 7, 1_000_000.0, None, "LT2", 1, "sim-00001",
                     False, 60.0, 12, ("esp32-a1b2c3d4e5f6", "sim-00003"), 1_005_400.0)
SERIES = {"uid": "ev-1", "course": "CS101", "title": "Intro", "room": "LT2", "lecturer": "", "duration_s": 3600,
          "starts": [1, 2]}
ROLLOUT = RolloutSummary(1, "1.3.0", "room LT1", "running", "", 0.05, 20.0, 0.1, 5, False, "admin", 1.7e9, 1.7e9 + 5,
                         {"confirmed": 3, "downloading": 1, "pending": 16})
ROLLOUT_STATUS = RolloutStatus(
    ROLLOUT, (WaveCounts(0, {"confirmed": 1}), WaveCounts(1, {"confirmed": 2, "downloading": 1, "pending": 16}, 2)),
    (DeviceNote("sim-00004", "waiting", "session"), DeviceNote("sim-00005", "failed", "bad_signature")))
IMAGE = FirmwareImage("1.3.0", "2519e783e507fca907a503ddb613e88f12b74980cbc1e23b2bdc674a63ea3afd", 1_048_576,
                      "MEUCIQDnmWc1lBz2VXbH4rYk6n0PqN3m3y5YQ0o3m6Gq3hQ0WQIgB2t7fP0Vg1kqQ4r8o8s7bq8Jm0y0o0z8Zk6X1u7q5vE=",
                      "Fixes the captive portal", 1_790_000_000.5, "admin")
RESULTS: dict[str, list[Any]] = {
    "session.start": [SessionStarted(4, "esp32-a1b2c3d4e5f6", ACTIVE, ("esp32-a1b2c3d4e5f6",), 1_005_400.0),
                      SessionStarted(4, "esp32-a1b2c3d4e5f6", ACTIVE, ("esp32-a1b2c3d4e5f6", "sim-00002"), 1_007_200)],
    "session.extend": [SessionExtended(4, 1_006_300.0)],
    "session.wait": [SessionWaited(4, "applied"), SessionWaited(4, "rejected", "bad ssid")],
    "session.end": [SessionEnded(4, "esp32-a1b2c3d4e5f6", Config(8)), SessionEnded(4, None, None)],
    "session.scale": [SessionScaled(4, ("esp32-a1b2c3d4e5f6", "sim-00003"), ("sim-00003",), ()),
                      SessionScaled(4, ("esp32-a1b2c3d4e5f6",), (), ("sim-00003", "sim-00004"))],
    "session.show": [SessionShown(SESSION, (
        ServedRow("sim-00001", 1_000_000.0, 1_000_090.5, "moved", False, False, None, None, None, 0),
        ServedRow("esp32-a1b2c3d4e5f6", 1_000_090.5, None, None, True, True, 10, 10, 4, 12)), 60, (0, 5, 7), 1),
                     SessionShown(SESSION, (), 120, (0,), 0)],
    "session.list": [SessionList((SESSION,)), SessionList(())],
    "devices.list": [DevicesList(2, 1, 1, 0, 2, (ROW, IDLE_ROW))],
    "stats": [StatsResult({"heartbeat": 3}, {"schema": 1}, {"stored": 2}, {}, 1, {"dropped": 0})],
    "attendance.list": [AttendanceList(4, (CheckinRow("U1", "sim-00001", 1, "aa:bb:cc:dd:ee:ff", 5.5),
                                           CheckinRow("U2", "sim-00001", 2, None, 6, False),
                                           CheckinRow("U3", "sim-00001", 4, None, 6, True)),
                                       (RejectedRow("bad id!", "sim-00001", 3, "bad_student_id", 7.0),))],
    "attendance.report": [AttendanceReport("CS101", "2024/2025", "1st Semester", 2,
                                           (StudentRow("U1", 1, 2, 50.0, 0),),
                                           (HeldRow(4, 1.0, "sim-00001", 1, 0), HeldRow(5, 2.0, None, 0, 0))),
                          AttendanceReport("CS101", "2024/2025", "1st Semester", 3, (
                              StudentRow("U1", 2, 3, 100.0, 1, "Ada Lovelace", True, 1, 1, 0, 1,
                                         ("present", "late", "excused"), ()),
                              StudentRow("U2", 0, 3, 0.0, 0, "Alan Turing", True, 0, 0, 3, 0,
                                         ("absent", "absent", "absent"), ("low_attendance", "consecutive_absences")),
                              StudentRow("X9", 1, 3, 33.3, 0, None, False, 1, 0, 2, 0,
                                         ("absent", "present", "absent"), ("low_attendance", "not_on_roster"))),
                              (HeldRow(4, 1.0, "sim-00001", 1, 1), HeldRow(5, 2.0, None, 2, 0),
                               HeldRow(6, 3.0, "sim-00002", 0, 0)), 2, 300.0, 80.0, 2,
                              (MarkRow(6, "U1", "excused", "medical", "alice", 10.5),))],
    "roster.import": [RosterImported("CS101", 2, 1, 40)],
    "roster.list": [RosterList("CS101", 600.0, (RosterEntry("U1", "Ada Lovelace", "ada@example.edu"),
                                                RosterEntry("U2", "Alan Turing"))), RosterList("EE201", 300, ())],
    "course.set": [CourseUpdated("CS101", "Intro", 600.0), CourseUpdated("EE201", "", 0)],
    "attendance.mark": [AttendanceMarked(MarkRow(4, "U1", "excused", "", "alice", 100.25))],
    "courses.list": [CoursesList((CourseRow("CS101", "Intro"),))],
    "device.list": [DeviceInventory((InventoryRow(ROW, 900_000.0, "front"), InventoryRow(IDLE_ROW, None, None)))],
    "device.set": [DeviceUpdated("sim-00001", "front", "LT2", False, True)],
    "device.retire": [DeviceUpdated("sim-00001", None, None, True, True)],
    "device.restore": [DeviceUpdated("sim-00001", None, None, False, True)],
    "device.approve": [DeviceUpdated("sim-00001", None, None, False, True)],
    "device.forget": [DeviceForgotten("sim-00001")],
    "timetable.import": [TimetableImported(3, 1, 2)],
    "timetable.list": [TimetableList((
        Lecture(1, "ev-1@example", "CS101", "Intro", "LT2", "Dr Ada", "2024/2025", "1st Semester", 1_790_000_000,
                1_790_003_600, None, "scheduled", None),
        Lecture(2, "csv-0123456789abcdef", "CS101", "Intro", "LT2", "", "2024/2025", "1st Semester", 1_790_604_800,
                1_790_608_400, 12, "no_device", "no free device in LT2"))), TimetableList(())],
    "timetable.remove": [TimetableRemoved(4)],
    "firmware.add": [FirmwareAdded(IMAGE, True), FirmwareAdded(IMAGE, False)],
    "firmware.list": [FirmwareList((IMAGE, replace(IMAGE, version="1.2.9", notes=""))), FirmwareList(())],
    "rollout.start": [ROLLOUT_STATUS],
    "rollout.status": [ROLLOUT_STATUS, replace(ROLLOUT_STATUS, waves=(), notes=())],
    "rollout.list": [RolloutList((ROLLOUT, replace(ROLLOUT, id=2, state="halted", reason="canary: 1 of 1 failed"))),
                     RolloutList(())],
    "rollout.pause": [RolloutChanged(replace(ROLLOUT, state="paused"))],
    "rollout.resume": [RolloutChanged(ROLLOUT)],
    "rollout.abort": [RolloutChanged(replace(ROLLOUT, state="aborted"))],
}
FIRMWARE = {"version": "1.3.0", "sha256": "ab" * 32, "size": 4096, "signature": "MAYCAQECAQE="}


def _load(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return obj


def _requests(kind: str) -> list[Any]:
    return [pytest.param(_load(p), id=p.stem) for p in sorted((EXAMPLES / kind).glob("*.json"))]


# --- the registry and the schemas ----------------------------------------------------------------


def test_every_method_has_types_and_a_schema() -> None:
    enum = contract.load_schema("request")["properties"]["method"]["enum"]
    assert set(api.METHODS) == set(enum) == set(contract.method_names()) == set(RESULTS)
    assert all(name == method.name for name, method in api.METHODS.items())


def test_the_request_schema_checks_each_methods_params_against_its_schema() -> None:
    """One allOf if/then branch per method of the enum, no more, each checking params against
    methods/<method>.schema.json#/$defs/params."""
    schema = contract.load_schema("request")
    branches = {branch["if"]["properties"]["method"]["const"]: branch for branch in schema["allOf"]}
    assert len(branches) == len(schema["allOf"])  # no method twice
    assert set(branches) == set(schema["properties"]["method"]["enum"])
    for method, branch in branches.items():
        assert branch["if"]["required"] == ["method"], method
        assert branch["then"]["properties"]["params"] == {"$ref": f"methods/{method}.schema.json#/$defs/params"}


@pytest.mark.parametrize("method", contract.method_names())
def test_method_schema_is_valid_and_its_refs_resolve(method: str) -> None:
    schema = contract.load_schema(f"methods/{method}")
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"https://fleet.example/schemas/methods/{method}.schema.json"
    assert {"params", "result"} <= set(schema["$defs"])
    contract.method_validator(method, "params")
    contract.method_validator(method, "result")


# --- params --------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_obj", _requests("valid"))
def test_valid_params_are_read_and_round_trip(request_obj: dict[str, Any]) -> None:
    method = api.METHODS[request_obj["method"]]
    params = method.params.from_obj(request_obj.get("params", {}))
    written = params.to_obj()
    contract.validate_method(method.name, "params", written)
    assert method.params.from_obj(written) == params


def _answerable(request_obj: dict[str, Any]) -> bool:
    """An invalid request whose fault is in its params (the envelope is sound)."""
    envelope = {k: v for k, v in request_obj.items() if k != "params"}
    try:
        contract.validate("request", envelope | {"params": {}, "method": "stats"})
    except ValidationError:
        return False
    return request_obj.get("method") in api.METHODS and type(request_obj.get("params", {})) is dict


@pytest.mark.parametrize("request_obj", [p for p in _requests("invalid") if _answerable(p.values[0])])
def test_params_the_schema_refuses_are_refused(request_obj: dict[str, Any]) -> None:
    with pytest.raises(ApiError):
        api.METHODS[request_obj["method"]].params.from_obj(request_obj.get("params", {}))


@pytest.mark.parametrize(("method", "params", "error", "message"), [
    ("session.start", {}, BadRequest, "missing parameter 'course'"),
    ("session.start", {"course": "CS 101"}, BadRequest,
     "course code 'CS 101' must be 1-16 letters, digits, '_' or '-'"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "password": "short"}, BadRequest,
     "password must be empty (open network) or 8-63 characters"),
    ("session.start", {"course": "CS101", "title": "a\u202eb"}, BadRequest,
     "'title' must not contain control, bidi-override or non-characters"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "room": "L/T"}, BadRequest,
     "room 'L/T' must be letters, digits, spaces, '.', '_' or '-'"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "failover_grace_s": -1}, BadRequest,
     "'failover_grace_s' must be a number of seconds in 0-86400"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "students": 10, "devices": 2}, BadRequest,
     "give either 'students' or 'devices', not both"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "students": 1001}, BadRequest,
     "'students' must be an integer in 1..1000"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "devices": 0}, BadRequest,
     "'devices' must be an integer in 1..10"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "devices": 11}, BadRequest,
     "'devices' must be an integer in 1..10"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "devices": 2, "device": "sim-00001"},
     BadRequest, "'device' names the one device: leave out 'students' and 'devices'"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "anyway": "yes"}, BadRequest,
     "'anyway' must be true or false"),
    ("session.wait", {"session_id": 1, "timeout_s": 61}, BadRequest, "'timeout_s' must be a number of seconds in 0-60"),
    ("session.end", {"session_id": 2**31}, UnknownSession, "no session 2147483648"),
    ("session.end", {"session_id": True}, BadRequest, "'session_id' must be an integer in 1..4294967295"),
    ("session.list", {"active": 1}, BadRequest, "'active' must be true or false"),
    ("session.scale", {"session_id": 1}, BadRequest, "missing parameter 'devices'"),
    ("session.scale", {"session_id": 1, "devices": 11}, BadRequest, "'devices' must be an integer in 1..10"),
    ("session.scale", {"devices": 2}, BadRequest, "missing parameter 'session_id'"),
    ("session.show", {}, BadRequest, "missing parameter 'session_id'"),
    ("session.extend", {"session_id": 1}, BadRequest, "give 'by_s' or 'until'"),
    ("session.extend", {"session_id": 1, "by_s": 60, "until": 1e9}, BadRequest,
     "give either 'until' or 'by_s', not both"),
    ("session.extend", {"session_id": 1, "by_s": 700000}, BadRequest, "'by_s' must be a number in -604800..604800"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "until": 1e9, "duration_s": 60}, BadRequest,
     "give either 'until' or 'duration_s', not both"),
    ("session.start", {"course": "CS101", "session": "x", "semester": "y", "duration_s": 0}, BadRequest,
     "'duration_s' must be a number in 1..604800"),
    ("devices.list", {"limit": 0}, BadRequest, "'limit' must be an integer in 1..4294967295"),
    ("device.set", {"device": "Not An Id"}, BadRequest, "'Not An Id' is not a device id"),
    ("device.forget", {"device": ""}, BadRequest, "'device' must be a string of 1-32 characters"),
    ("attendance.report", {"course": "CS101", "session": "x"}, BadRequest, "missing parameter 'semester'"),
    ("attendance.report", {"course": "CS101", "session": "x", "semester": "y", "threshold": 101}, BadRequest,
     "'threshold' must be a percentage in 0-100"),
    ("roster.import", {"course": "CS101", "students": [{"student_id": "/U1", "name": "Ada"}]}, BadRequest,
     "student id '/U1' must be 1-32 letters, digits, '/', '.', '_' or '-', starting with a letter or digit"),
    ("roster.import", {"course": "CS101", "students": [{"student_id": "U1", "name": "A", "email": "a b"}]},
     BadRequest, "email 'a b' is not an email address"),
    ("roster.import", {"course": "CS101", "students": {}}, BadRequest,
     "'students' must be a list of at most 500 students"),
    ("roster.import", {"course": "CS101", "students": [], "final": True}, BadRequest,
     "'final' ends an import named by 'import_id'"),
    ("roster.import", {"course": "CS101", "students": [], "import_id": "a b"}, BadRequest,
     "'import_id' must be 1-64 letters, digits, '.', '_' or '-'"),
    ("roster.list", {"course": "CS 101"}, BadRequest, "course code 'CS 101' must be 1-16 letters, digits, '_' or '-'"),
    ("course.set", {"course": "CS101", "late_after_s": 14401}, BadRequest,
     "'late_after_s' must be a number of seconds in 0-14400"),
    ("attendance.mark", {"session_id": 1, "student_id": "U1", "status": "sick"}, BadRequest,
     "'status' must be one of present, late, absent, excused"),
    ("timetable.import", {"session": "x", "semester": "y"}, BadRequest, "'series' must be a non-empty list of objects"),
    ("timetable.import", {"session": "x", "semester": "y", "series": [SERIES | {"room": "L/T"}]}, BadRequest,
     "room 'L/T' must be letters, digits, spaces, '.', '_' or '-' (1-32)"),
    ("timetable.import", {"session": "x", "semester": "y", "series": [SERIES | {"starts": [2, 1, 2]}]}, BadRequest,
     "'starts' must name each start once"),
    ("timetable.import", {"session": "x", "semester": "y", "series": [SERIES | {"starts": []}]}, BadRequest,
     "'starts' must be a list of 1-400 epoch seconds"),
    ("timetable.import", {"session": "x", "semester": "y", "series": [SERIES | {"duration_s": 59}]}, BadRequest,
     "'duration_s' must be an integer in 60..43200"),
    ("timetable.import", {"session": "x", "semester": "y", "series": [SERIES | {"course": "CS 1"}]}, BadRequest,
     "course code 'CS 1' must be 1-16 letters, digits, '_' or '-'"),
    ("timetable.import", {"series": [SERIES]}, BadRequest, "missing parameter 'session'"),
    ("timetable.list", {"from": -1}, BadRequest, "'from' must be an integer in 0..4294967295"),
    ("timetable.remove", {}, BadRequest, "give either 'uid' or 'course'"),
    ("timetable.remove", {"uid": "a", "course": "CS101"}, BadRequest, "give either 'uid' or 'course'"),
    ("firmware.add", FIRMWARE | {"version": "1.3"}, BadRequest,
     "version '1.3' is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.3.0), at most 31 characters"),
    ("firmware.add", FIRMWARE | {"sha256": "A" * 64}, BadRequest,
     "'sha256' must be a SHA-256 in lowercase hex (64 characters)"),
    ("firmware.add", FIRMWARE | {"size": 0}, BadRequest, "'size' must be an integer in 1-16777216"),
    ("rollout.start", {"version": "1.3.0"}, BadRequest, "give exactly one target: 'room', 'devices' or 'all'"),
    ("rollout.start", {"version": "1.3.0", "all": True, "canary": 5}, BadRequest,
     "'canary' must be a fraction in 0-1 (5% is 0.05)"),
    ("rollout.start", {"version": "1.3.0", "all": True, "rate_per_min": 0}, BadRequest,
     "'rate_per_min' must be a number of commands a minute in (0, 10000]"),
    ("rollout.start", {"version": "1.3.0", "devices": ["Bad Id"]}, BadRequest,
     "'devices' must be a list of 1-64 device ids"),
    ("rollout.pause", {}, BadRequest, "missing parameter 'rollout_id'"),
    ("firmware.add", FIRMWARE | {"signature": "not base64!!"}, BadRequest,
     "'signature' must be base64 of at most 72 bytes (a DER ECDSA-Sig-Value)"),
    ("firmware.add", FIRMWARE | {"signature": "A" * 100}, BadRequest,
     "'signature' must be a string of 1-96 characters"),
    ("firmware.add", FIRMWARE | {"notes": "a\nb"}, BadRequest,
     "'notes' must not contain control, bidi-override or non-characters"),
    ("firmware.add", {k: v for k, v in FIRMWARE.items() if k != "signature"}, BadRequest,
     "missing parameter 'signature'"),
])
def test_refusals_say_why(method: str, params: dict[str, Any], error: type[ApiError], message: str) -> None:
    with pytest.raises(error) as info:
        api.METHODS[method].params.from_obj(params)
    assert type(info.value) is error and info.value.message == message


def test_defaults_and_what_a_client_sends() -> None:
    start = api.SessionStartParams.from_obj({"course": "CS101", "session": "2024/2025", "semester": "1st"})
    assert start == api.SessionStartParams("CS101", None, "2024/2025", "1st")
    assert start.to_obj() == {"course": "CS101", "session": "2024/2025", "semester": "1st", "lecturer": "",
                              "password": "", "failover_grace_s": 60.0, "any_room": False}
    assert (start.students, start.devices, start.anyway) == (None, None, False)  # one device, as before
    many = api.SessionStartParams.from_obj({"course": "CS101", "session": "2024/2025", "semester": "1st",
                                           "students": 1000, "anyway": True})
    assert (many.students, many.devices, many.anyway) == (1000, None, True)
    assert many.to_obj()["students"] == 1000 and many.to_obj()["anyway"] is True
    assert api.SessionWaitParams.from_obj({"session_id": 3}).timeout_s == 10.0
    assert api.SessionScaleParams.from_obj({"session_id": 3, "devices": 2}).to_obj() == {"session_id": 3, "devices": 2}
    assert api.DevicesListParams().to_obj() == {"offline_first": False}
    cleared = api.DeviceSetParams.from_obj({"device": "sim-00001", "room": ""})
    assert cleared == api.DeviceSetParams("sim-00001", None, "")
    assert api.NoParams.from_obj({"anything": 1}).to_obj() == {}
    report = api.AttendanceReportParams.from_obj({"course": "CS101", "session": "x", "semester": "y"})
    assert (report.threshold, report.consecutive) == (75.0, 3)
    imported = RosterImportParams.from_obj({"course": "CS101", "students": [{"student_id": "U1", "name": "A"}]})
    assert imported == RosterImportParams("CS101", (RosterEntry("U1", "A"),))
    assert imported.to_obj() == {"course": "CS101", "students": [{"student_id": "U1", "name": "A"}]}
    twice = RosterImportParams.from_obj({"course": "CS101", "students": [
        {"student_id": "U1", "name": "A"}, {"student_id": "U2", "name": "B"}, {"student_id": "U1", "name": "C"}]})
    assert twice.students == (RosterEntry("U1", "C"), RosterEntry("U2", "B"))  # an id given twice: the last wins
    assert CourseSetParams.from_obj({"course": "CS101"}).to_obj() == {"course": "CS101"}
    assert AttendanceMarkParams.from_obj({"session_id": 1, "student_id": "U1", "status": "late"}).note == ""


# --- results -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "result"), [(m, r) for m, rs in RESULTS.items() for r in rs])
def test_results_match_their_schema_and_read_back(method: str, result: Any) -> None:
    assert isinstance(result, api.METHODS[method].result)
    written = result.to_obj()
    contract.validate_method(method, "result", written)
    assert api.METHODS[method].result.from_obj(json.loads(json.dumps(written))) == result
    assert json.dumps(api.METHODS[method].result.from_obj(written).to_obj()) == json.dumps(written)


@pytest.mark.parametrize("method", contract.method_names())
def test_results_write_exactly_the_keys_their_schema_requires(method: str) -> None:
    schema = contract.load_schema(f"methods/{method}")["$defs"]["result"]
    if "$ref" in schema:  # shared with another method
        schema = contract.registry().resolver(base_uri=contract.load_schema(f"methods/{method}")["$id"]).lookup(
            schema["$ref"]).contents
    for result in RESULTS[method]:
        assert list(result.to_obj()) == schema["required"] == list(schema["properties"])


def test_numbers_keep_their_json_type() -> None:
    row = CheckinRow.from_obj({"student_id": "U1", "device": "sim-00001", "seq": 1, "station_mac": None,
                               "received_at": 5})
    assert json.dumps(row.to_obj()["received_at"]) == "5"
    assert json.dumps(SessionRow.from_obj(SESSION.to_obj()).to_obj()["failover_grace_s"]) == "60.0"


@pytest.mark.parametrize(("method", "obj"), [
    ("session.wait", {"session_id": 1, "status": "done", "error": None}),
    ("session.start", {"session_id": 1, "device": "sim-00001", "config": None}),
    ("devices.list", {"total": 1, "online": 1, "offline": 0, "available": 1, "matched": 1, "devices": [{}]}),
    ("stats", {"received": {"heartbeat": "3"}}),
    ("device.forget", {"device": "sim-00001"}),
    ("attendance.list", {"session_id": 1, "records": [{"student_id": "U1"}], "rejected": []}),
    ("session.scale", {"session_id": 1, "devices": "sim-00001", "added": [], "released": []}),
    ("session.show", {"session": None, "devices": [], "bucket_s": 60, "timeline": [0], "rejected": 0}),
    ("session.show", {"session": SESSION.to_obj(), "devices": [], "bucket_s": 60, "timeline": [1.5], "rejected": 0}),
])
def test_a_result_that_cannot_be_read_is_refused(method: str, obj: dict[str, Any]) -> None:
    with pytest.raises(Rejected):
        api.METHODS[method].result.from_obj(obj)


def test_a_big_import_is_split_into_requests_under_the_payload_limit_each_series_whole() -> None:
    weeks = tuple(range(1_790_000_000, 1_790_000_000 + 40 * 604800, 604800))
    series = [Series(f"ev-{i}", "CS101", "Intro", "LT2", "", 3600, weeks) for i in range(60)]
    batches = split_import("2024/2025", "1st Semester", series)
    assert len(batches) > 1 and [s for b in batches for s in b.series] == series
    assert all(len(json.dumps(b.to_obj(), separators=(",", ":"))) <= 8192 - 1024 for b in batches)
    assert all(TimetableImportParams.from_obj(b.to_obj()) == b for b in batches)
    # MAX_STARTS keeps a series under the limit; a smaller budget shows the refusal
    huge = Series("big", "CS101", "Intro", "LT2", "", 3600, tuple(range(1_790_000_000, 1_790_000_400)))
    assert len(split_import("2024/2025", "1st Semester", [huge])) == 1
    with pytest.raises(BadRequest, match="series 'big' \\(CS101\\) has too many lectures for one request"):
        split_import("2024/2025", "1st Semester", [huge], budget=4000)


def test_a_series_reads_its_starts_in_any_order_and_a_uid_given_twice_is_read_twice() -> None:
    params = TimetableImportParams.from_obj({"session": "x", "semester": "y",
                                             "series": [SERIES | {"starts": [3, 1, 2]}, SERIES]})
    assert [s.starts for s in params.series] == [(1, 2, 3), (1, 2)]  # the store upserts them in turn: the last wins


def test_firmware_add_params_round_trip() -> None:
    params = api.FirmwareAddParams.from_obj(FIRMWARE)
    assert params.notes == "" and api.FirmwareAddParams.from_obj(params.to_obj()) == params
    contract.validate_method("firmware.add", "params", params.to_obj())
