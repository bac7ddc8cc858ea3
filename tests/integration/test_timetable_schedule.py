"""The timetable runs the semester (issue 14): the sample iCalendar timetable (a weekly RRULE with one
EXDATE, across the 2026-10-25 London clock change) imported into a controller whose clock the test
drives; its lectures start 5 minutes early in their room and end on time by themselves, a lecture
with no device waits and is retried, a restarted controller picks the schedule up, and manual starts
meet timetabled ones cleanly. Real broker, real database, the controller's own ticker."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.adapters.calendar import read_timetable
from controller.adapters.client import FleetClient
from controller.contract.requests import DeviceSetParams, SessionStartParams
from controller.contract.rosters import CourseSetParams
from controller.contract.timetable import Lecture, TimetableListParams, split_import
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import RunningBroker
from tests.conftest import Device, fast_settings
from tests.integration.test_controller import online_device, wait_online
from tests.waiting import eventually

LONDON = ZoneInfo("Europe/London")
SAMPLE = Path(__file__).parents[1] / "data" / "timetable.ics"
ROOM_DEVICE = "esp32-0000000000c1"


def london(*when: int) -> datetime:
    return datetime(*when, tzinfo=LONDON)  # type: ignore[misc]


class Clock:
    """Wall time moved to where a test puts it; it runs on from there."""

    def __init__(self, at: datetime) -> None:
        self.set(at)

    def set(self, at: datetime) -> None:
        self._offset = at.timestamp() - time.time()

    def __call__(self) -> float:
        return time.time() + self._offset


@pytest.fixture
def controllers(broker: RunningBroker, root: str, db_url: str) -> Iterator[Callable[[Clock], Controller]]:
    """Controllers on one database with a driven clock (stopped at the end)."""
    started: list[Controller] = []

    def start(clock: Clock) -> Controller:
        ctl = Controller(fast_settings(broker.url, root, db_url, schedule_s=0.2), clock=clock)
        ctl.start()
        started.append(ctl)
        return ctl

    yield start
    for ctl in started:
        ctl.stop()


def cs101(client: FleetClient) -> list[Lecture]:
    return list(client.timetable(TimetableListParams(course="CS101", from_=0)).lectures)


def import_sample(client: FleetClient) -> None:
    timetable = read_timetable(SAMPLE.name, SAMPLE.read_text(encoding="utf-8"), LONDON)
    for params in split_import("2026/2027", "1st Semester", timetable.series):
        client.import_timetable(params)


def jump(clock: Clock, at: datetime, device: Device) -> None:
    """Move the clock and heartbeat at once, so the room's device is online at the new time."""
    clock.set(at)
    device.heartbeat()


def test_the_timetable_starts_and_ends_its_lectures_by_itself_across_a_clock_change(
    broker: RunningBroker, root: str, controllers: Callable[[Clock], Controller], make_device: Callable[..., Device],
) -> None:
    clock = Clock(london(2026, 10, 12, 9, 0))
    first = controllers(clock)
    device = online_device(make_device, ROOM_DEVICE)
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        client.set_device(DeviceSetParams(device.id, room="LT2"))
        client.set_course(CourseSetParams("CS101", owner="alice"))  # who teaches it: its sessions are hers
        import_sample(client)
        lectures = cs101(client)
        assert [datetime.fromtimestamp(x.starts_at, LONDON) for x in lectures] == [
            london(2026, 10, 12, 10, 0), london(2026, 10, 26, 10, 0), london(2026, 11, 2, 10, 0)]  # not the 19th
        assert [x.starts_at % 86400 for x in lectures] == [9 * 3600, 10 * 3600, 10 * 3600]  # 10:00 BST, then GMT

        jump(clock, london(2026, 10, 12, 9, 54), device)  # six minutes before: not yet
        time.sleep(1.0)
        assert client.sessions().sessions == () and device.configs == []
        jump(clock, london(2026, 10, 12, 9, 55, 30), device)  # five minutes before: its session starts
        config = device.wait_config()
        [session] = client.sessions(active=True).sessions
        assert (session.course, session.room, session.ends_at, config["ssid"]) == (
            "CS101", "LT2", lectures[0].ends_at, "CS101_Attendance_2026_2027")
        assert cs101(client)[0].state == "started" and cs101(client)[0].session_id == session.session_id
        record = first.store.get_session(session.session_id)
        assert (record.started_by, record.origin, record.begins_at) == ("alice", "timetable", lectures[0].starts_at)
        device.apply_latest()
        eventually(lambda: client.sessions(active=True).sessions[0].applied)

        jump(clock, london(2026, 10, 12, 11, 0, 5), device)  # its end: it ends by itself
        idle = device.wait_config(newer_than=int(str(config["version"])))
        assert idle["active_session"] is False
        eventually(lambda: client.sessions(active=True).sessions == () and cs101(client)[0].state == "ended")

        jump(clock, london(2026, 10, 19, 9, 57), device)  # the EXDATE: no lecture, no session
        time.sleep(1.0)
        assert [s.session_id for s in client.sessions().sessions] == [session.session_id]

        first.stop()  # no controller when the next lecture comes due
        clock.set(london(2026, 10, 26, 9, 56))  # GMT now: 09:56 London is 09:56 UTC
        controllers(clock)
        eventually(client.controller_online)

        def started_again() -> bool:
            device.heartbeat()  # until the new controller, subscribing meanwhile, has heard one
            return cs101(client)[1].state == "started"

        eventually(started_again, timeout=15)
        [again] = client.sessions(active=True).sessions
        assert again.started_at == pytest.approx(london(2026, 10, 26, 9, 56).timestamp(), abs=30)
        with pytest.raises(ApiError) as refused:  # the lecture's own session is where its students check in
            client.start_session(SessionStartParams("CS101", None, "2026/2027", "1st Semester"))
        assert refused.value.code == "session_running" and f"session {again.session_id}" in refused.value.message


def test_a_lecture_without_a_device_waits_and_starts_when_one_is_free(
    broker: RunningBroker, root: str, controllers: Callable[[Clock], Controller], make_device: Callable[..., Device],
) -> None:
    clock = Clock(london(2026, 10, 12, 9, 0))
    controllers(clock)
    device = online_device(make_device, ROOM_DEVICE)
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        client.set_device(DeviceSetParams(device.id, room="LT3"))  # not in the lecture's room
        import_sample(client)
        jump(clock, london(2026, 10, 12, 9, 56), device)
        eventually(lambda: cs101(client)[0].state == "no_device")
        assert "LT2" in (cs101(client)[0].error or "") and client.sessions().sessions == ()
        client.set_device(DeviceSetParams(device.id, room="LT2"))  # a device moved into the room
        eventually(lambda: cs101(client)[0].state == "started")
        assert client.sessions(active=True).sessions[0].room == "LT2"


def test_a_session_started_by_hand_serves_its_lecture_and_an_unserved_lecture_is_missed(
    broker: RunningBroker, root: str, controllers: Callable[[Clock], Controller], make_device: Callable[..., Device],
) -> None:
    clock = Clock(london(2026, 10, 12, 9, 30))
    controllers(clock)
    device = online_device(make_device, ROOM_DEVICE)
    with FleetClient(broker.url, root) as client:
        wait_online(client, 1)
        client.set_device(DeviceSetParams(device.id, room="LT2"))
        import_sample(client)
        manual = client.start_session(SessionStartParams("CS101", None, "2026/2027", "1st Semester", room="LT2",
                                                         duration_s=3600))  # to 10:30
        jump(clock, london(2026, 10, 12, 9, 56), device)
        eventually(lambda: cs101(client)[0].state == "started")
        assert cs101(client)[0].session_id == manual.session_id  # adopted, not a second session
        [running] = client.sessions(active=True).sessions
        assert running.ends_at == cs101(client)[0].ends_at  # held open to the lecture's end
        assert running.session_id == manual.session_id and running.devices == (device.id,)
        client.set_device(DeviceSetParams(device.id, room="LT3"))
        jump(clock, london(2026, 10, 26, 11, 0, 30), device)  # the 26th's lecture passed with no device in LT2
        eventually(lambda: cs101(client)[1].state == "missed")
        [ended] = client.sessions().sessions  # the adopted session ended with its lecture; none for the 26th
        assert not ended.active and cs101(client)[0].state == "ended"
