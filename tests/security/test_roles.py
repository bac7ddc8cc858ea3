"""Per-role access to the request API on the secure profile, both brokers: the controller reads the
roles from the profile's ACL file and knows each sender from its requests topic, which the ACL lets
each account write only under its own name."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from controller.adapters.client import FleetClient
from controller.contract.requests import AttendanceReportParams, DevicesListParams, SessionStartParams
from controller.contract.roles import Role
from controller.contract.rosters import AttendanceMarkParams, CourseSetParams, RosterEntry
from controller.daemon.controller import Controller
from controller.errors import ApiError
from tests.brokers import HOST, RunningBroker
from tests.conftest import fast_settings
from tests.security.conftest import Client, Profile
from tests.security.test_end_to_end import Device
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
START = SessionStartParams(course="CS101", title="Introduction to Computer Science", session="2024/2025",
                           semester="1st Semester")


@dataclass
class Campus:
    profile: Profile
    broker: RunningBroker
    controller: Controller
    urls: dict[str, str]

    def client(self, user: str) -> FleetClient:
        return FleetClient(self.urls[user], self.profile.root)


@pytest.fixture
def campus(profile: Profile, secure_broker: RunningBroker, tmp_path: Path) -> Iterator[Campus]:
    local = secure_broker.port_of(tls=False)
    urls = {name: f"mqtt://{name}:{profile.user(name, role)}@{HOST}:{local}" for name, role in (
        ("controller", Role.CONTROLLER), ("alice", Role.LECTURER), ("bob", Role.LECTURER),
        ("olga", Role.OPERATOR), ("dean", Role.ADMIN))}
    settings = replace(fast_settings(urls["controller"], profile.root, f"sqlite:///{tmp_path / 'fleet.db'}"),
                       acl_file=profile.spec.acl_file)
    controller = Controller(settings)
    controller.start()
    devices = [Device(secure_broker, profile.root, d, profile.device(d)) for d in ("esp32-0000000000a1",
                                                                                  "esp32-0000000000a2")]
    campus = Campus(profile, secure_broker, controller, urls)
    with campus.client("olga") as olga:
        eventually(lambda: olga.devices(DevicesListParams()).online == 2, 10, "the devices online")
    yield campus
    controller.stop()
    for device in devices:
        device.close()


def forbidden(call: Callable[[], object]) -> str:
    with pytest.raises(ApiError) as refused:
        call()
    assert refused.value.code == "forbidden"
    return refused.value.message


def test_an_operator_reads_the_fleet_and_cannot_start_a_session(campus: Campus) -> None:
    with campus.client("olga") as olga:
        fleet = olga.devices(DevicesListParams(offline_first=True))  # what `fleet watch` and `fleet devices` call
        assert (fleet.total, fleet.online) == (2, 2)
        assert not olga.sessions(active=True).sessions
        assert olga.stats().received["request"] >= 3
        assert len(olga.inventory().devices) == 2
        message = forbidden(lambda: olga.start_session(START))
        assert message == "operators cannot call session.start (user olga, role operator)"
        forbidden(lambda: olga.retire("esp32-0000000000a1"))
    assert campus.controller.stats.rejected["request_forbidden"] == 2
    done = subprocess.run([sys.executable, "-m", "cli", "--broker", campus.urls["olga"], "--root", campus.profile.root,
                           "session", "start", "CS101", "--session", "2024/2025", "--semester", "1st"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: operators cannot call session.start (user olga, role operator) "
                                   "(forbidden)")


def test_a_lecturer_ends_and_reads_only_its_own_sessions(campus: Campus) -> None:
    with campus.client("alice") as alice, campus.client("bob") as bob:
        mine = alice.start_session(START)
        assert campus.controller.store.get_session(mine.session_id).started_by == "alice"
        forbidden(lambda: bob.end_session(mine.session_id))
        forbidden(lambda: bob.attendance(mine.session_id))
        forbidden(bob.stats)
        assert len(bob.devices(DevicesListParams()).devices) == 2  # the fleet is no secret
        theirs = bob.start_session(replace(START, course="CS102", title="Data Structures"))
        assert bob.end_session(theirs.session_id).session_id == theirs.session_id
        assert not alice.attendance(mine.session_id).records
        assert alice.end_session(mine.session_id).device == mine.device


def test_a_lecturer_keeps_the_roster_and_marks_of_its_own_courses_and_an_operator_sees_no_student(
        campus: Campus) -> None:
    with (campus.client("alice") as alice, campus.client("bob") as bob, campus.client("olga") as olga,
          campus.client("dean") as dean):
        # a course nobody owns is the admins' (a session started by hand does not make it anyone's)
        forbidden(lambda: alice.import_roster("CS101", [RosterEntry("U1", "Ada")], replace=True))
        forbidden(lambda: alice.set_course(CourseSetParams("CS101", owner="alice")))  # only an admin says who
        assert dean.set_course(CourseSetParams("CS101", owner="alice")).owner == "alice"
        assert alice.import_roster("CS101", [RosterEntry("U1", "Ada")], replace=True)[0].total == 1
        mine = alice.start_session(START)
        assert alice.mark(AttendanceMarkParams(mine.session_id, "U1", "excused")).mark.by == "alice"
        assert alice.set_course(CourseSetParams("CS101", 300.0)).late_after_s == 300.0
        assert [s.student_id for s in alice.roster("CS101").students] == ["U1"]
        theirs = bob.start_session(replace(START, course="CS101"))  # a throwaway session of alice's course
        forbidden(lambda: bob.import_roster("CS101", [RosterEntry("U2", "Eve")], replace=True))
        forbidden(lambda: bob.roster("CS101"))  # ... gives bob neither its roster nor its report
        forbidden(lambda: bob.report(AttendanceReportParams("CS101", "2024/2025", "1st Semester")))
        forbidden(lambda: bob.set_course(CourseSetParams("CS101", 0.0)))
        forbidden(lambda: bob.mark(AttendanceMarkParams(mine.session_id, "U1", "absent")))
        forbidden(lambda: olga.roster("CS101"))
        forbidden(lambda: olga.report(AttendanceReportParams("CS101", "2024/2025", "1st Semester")))
        bob.end_session(theirs.session_id)
        report = alice.report(AttendanceReportParams("CS101", "2024/2025", "1st Semester"))
        assert [(s.student_id, s.excused) for s in report.students] == [("U1", 1)]
        alice.end_session(mine.session_id)


def test_nobody_can_send_requests_as_another_user(campus: Campus, connect: Callable[..., Client]) -> None:
    root = campus.profile.root
    bob = connect("bob", campus.profile.user("bob", Role.LECTURER))  # a new password: the URL's is stale now
    bob.subscribe(f"{root}/clients/bob/replies")
    ask = {"v": 1, "id": "spoof", "reply_to": f"{root}/clients/bob/replies", "method": "devices.list"}
    before = campus.controller.stats.received["request"]
    bob.publish(f"{root}/controller/requests/alice", json.dumps(ask).encode())  # the broker drops it
    bob.publish(f"{root}/controller/requests/bob", json.dumps(ask | {"id": "own"}).encode())
    replies = [json.loads(payload) for _, payload in bob.received(quiet=1.5)]
    assert [r["id"] for r in replies] == ["own"]
    assert campus.controller.stats.received["request"] == before + 1


def test_a_user_added_while_the_controller_runs_gets_its_role_at_the_next_resync(campus: Campus) -> None:
    local = campus.broker.port_of(tls=False)
    carol = f"mqtt://carol:{campus.profile.user('carol', Role.ADMIN)}@{HOST}:{local}"
    with FleetClient(carol, campus.profile.root) as client:
        began = time.monotonic()

        def answered() -> bool:
            try:
                return client.stats().received["request"] > 0
            except ApiError as exc:
                assert exc.code == "forbidden" and "no role" in exc.message
                return False

        eventually(answered, 15, "carol's role in force")
        assert time.monotonic() - began < 12  # resync every 5 s in the tests
        assert client.retire("esp32-0000000000a2").retired  # an admin manages the inventory
