"""Every request method on a real controller, through the typed client: each request's params and
each reply's result hold to schemas/methods/, and a result read into its type writes back the very
bytes the controller sent (so `--json` output is the controller's answer)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from controller.adapters.client import FleetClient
from controller.contract.firmware import FirmwareAddParams
from controller.contract.messages import JsonObject
from controller.contract.requests import (
    METHODS,
    AttendanceReportParams,
    DeviceSetParams,
    DevicesListParams,
    SessionExtendParams,
    SessionScaleParams,
    SessionStartParams,
    SessionWaitParams,
)
from controller.contract.rollouts import RolloutStartParams
from controller.contract.rosters import AttendanceMarkParams, CourseSetParams, RosterEntry
from controller.contract.timetable import (
    Series,
    TimetableImportParams,
    TimetableListParams,
    TimetableRemoveParams,
)
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests import contract
from tests.brokers import RunningBroker
from tests.conftest import Device
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("broker", ["amqtt"], indirect=True)


class CheckingClient(FleetClient):
    """A FleetClient that checks every exchange against the method's schemas and types."""

    def __init__(self, broker_url: str, root: str) -> None:
        super().__init__(broker_url, root)
        self.seen: set[str] = set()

    def call(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 10.0) -> JsonObject:
        contract.validate_method(method, "params", params or {})
        result = super().call(method, params, timeout=timeout)
        contract.validate_method(method, "result", result)
        typed = METHODS[method].result.from_obj(result)
        assert json.dumps(typed.to_obj()) == json.dumps(result)  # keys, order, null and number types
        self.seen.add(method)
        return result


def test_every_method_answers_as_its_schema_says(
    broker: RunningBroker, root: str, start_controller: Callable[..., Controller], make_device: Callable[..., Device],
) -> None:
    start_controller(image_url_base="http://10.1.0.5:9100/firmware/")
    device = make_device("esp32-0000000009a1")
    device.birth()
    device.heartbeat(rssi=-60, heap=120000, stations=3, stations_peak=10, stations_refused=2, checkins_served=40)
    spare = "esp32-0000000009b1"  # registered by an operator, never seen
    with CheckingClient(broker.url, root) as client:
        eventually(lambda: client.devices(DevicesListParams()).online == 1)
        assert client.courses().courses == ()
        assert client.set_course(CourseSetParams("CS101", 300.0)).late_after_s == 300.0
        assert client.courses().courses == ()  # set up, but no title until a session gives one
        imported = client.import_roster("CS101", [RosterEntry("U1", "Ada Lovelace", "ada@example.edu"),
                                                  RosterEntry("U2", "Alan Turing")], replace=True)
        assert [(r.added, r.total) for r in imported] == [(2, 2)]
        assert [s.student_id for s in client.roster("CS101").students] == ["U1", "U2"]
        client.set_device(DeviceSetParams(device.id, "front", "LT2"))
        started = client.start_session(SessionStartParams("CS101", "Intro", "2024/2025", "1st Semester",
                                                          password="s3cret-pass", room="LT2"))
        device.apply_latest()
        assert client.wait_session(SessionWaitParams(started.session_id, 5), timeout=15).status == "applied"
        busy = client.devices(DevicesListParams(started.session_id, offline_first=True, limit=5))
        assert [d.id for d in busy.devices] == [device.id] and busy.devices[0].room == "LT2"
        slots = busy.devices[0]
        assert (slots.stations, slots.stations_peak, slots.stations_refused, slots.checkins_served) == (3, 10, 2, 40)
        events = [{"seq": 1, "student_id": "U1", "station_mac": "aa:bb:cc:dd:ee:01"},
                  {"seq": 2, "student_id": "not a student!"}]
        device.send("attendance", {"v": 1, "session_id": started.session_id, "events": events})
        eventually(lambda: any(a["upto"] == 2 for a in device.acks))
        checkins = client.attendance(started.session_id)
        assert [r.student_id for r in checkins.records] == ["U1"] and len(checkins.rejected) == 1
        assert [s.checkins for s in client.sessions(active=True).sessions] == [1]
        shown = client.show_session(started.session_id)
        assert [(d.device, d.applied, d.stations, d.checkins) for d in shown.devices] == [(device.id, True, 3, 1)]
        assert sum(shown.timeline) == 1 and shown.rejected == 1
        extended = client.extend_session(SessionExtendParams(started.session_id, by_s=600))
        assert extended.ends_at == started.ends_at + 600
        unchanged = client.scale_session(SessionScaleParams(started.session_id, 1))
        assert (unchanged.devices, unchanged.added, unchanged.released) == ((device.id,), (), ())
        ended = client.end_session(started.session_id)
        assert ended.device == device.id and ended.config is not None and not ended.config.active
        assert [r.on_roster for r in client.attendance(started.session_id).records] == [True]
        marked = client.mark(AttendanceMarkParams(started.session_id, "U2", "excused", "medical certificate"))
        assert (marked.mark.status, marked.mark.by) == ("excused", client.user)
        report = client.report(AttendanceReportParams("CS101", "2024/2025", "1st Semester"))
        assert report.held == 1 and [s.student_id for s in report.students] == ["U1", "U2"]
        assert [(s.present, s.excused) for s in report.students] == [(1, 0), (0, 1)]
        assert report.enrolled == 2 and report.late_after_s == 300.0 and len(report.marks) == 1
        assert [c.code for c in client.courses().courses] == ["CS101"]
        assert client.stats().received["heartbeat"] >= 1
        _the_inventory(client, spare)
        _the_timetable(client)
        _firmware_images(client)
        _rollouts(client, device.id)
        assert client.seen == set(METHODS)


def _the_inventory(client: CheckingClient, spare: str) -> None:
    """The inventory's methods on a device an operator registered and never seen."""
    client.set_device(DeviceSetParams(spare, name="spare"))
    assert client.retire(spare).retired and not client.restore(spare).retired
    assert client.approve(spare).approved
    inventory = {row.device.id: row for row in client.inventory().devices}
    assert inventory[spare].first_seen is None and inventory[spare].operator_name == "spare"
    assert client.forget(spare).device == spare


def _the_timetable(client: CheckingClient) -> None:
    """The timetable's methods: a weekly series imported, listed and removed."""
    soon = int(time.time()) + 3600
    series = Series("ev-1@example", "MA201", "Calculus", "LT2", "Dr Gauss", 3600, (soon, soon + 604800))
    imported = client.import_timetable(TimetableImportParams("2024/2025", "1st Semester", (series,)))
    assert (imported.added, imported.removed, imported.kept) == (2, 0, 0)
    lectures = client.timetable(TimetableListParams(course="MA201")).lectures
    assert [(x.starts_at, x.state, x.session_id) for x in lectures] == [(soon, "scheduled", None),
                                                                        (soon + 604800, "scheduled", None)]
    assert client.timetable(TimetableListParams(from_=soon + 3600)).lectures == lectures[1:]
    assert "MA201" in {c.code for c in client.courses().courses}  # its title remembered
    assert client.remove_lectures(TimetableRemoveParams(uid="ev-1@example")).removed == 2


def _rollouts(client: CheckingClient, device_id: str) -> None:
    """rollout.start, .status (one and the latest), .list, .pause, .resume, .abort, and a refusal."""
    with pytest.raises(ApiError) as unknown:
        client.start_rollout(RolloutStartParams("9.9.9", all=True))
    assert unknown.value.code == "unknown_version"
    started = client.start_rollout(RolloutStartParams("1.10.0", devices=(device_id,), canary=0, rate_per_min=1))
    rollout_id = started.rollout.id
    assert (started.rollout.state, started.rollout.created_by, started.rollout.target) == (
        "running", client.user, f"devices {device_id}")
    assert client.rollout().rollout.id == client.rollout(rollout_id).rollout.id == rollout_id
    assert [r.id for r in client.rollouts().rollouts] == [rollout_id]
    assert client.change_rollout("pause", rollout_id).rollout.state == "paused"
    assert client.change_rollout("resume", rollout_id).rollout.state == "running"
    assert client.change_rollout("abort", rollout_id).rollout.state == "aborted"


def _firmware_images(client: CheckingClient) -> None:
    """firmware.add (once added, then the same again) and firmware.list; a version taken by other bytes."""
    image = FirmwareAddParams("1.3.0", "ab" * 32, 4096, "MAYCAQECAQE=", "fixes the portal")
    first = client.add_firmware(image)
    assert first.added and first.image.added_by == client.user and first.image.path == f"/firmware/{'ab' * 32}.bin"
    assert not client.add_firmware(image).added
    with pytest.raises(ApiError) as taken:
        client.add_firmware(replace(image, sha256="cd" * 32))
    assert taken.value.code == "version_taken"
    client.add_firmware(replace(image, version="1.10.0", sha256="ef" * 32))
    assert [i.version for i in client.firmware().images] == ["1.10.0", "1.3.0"]
