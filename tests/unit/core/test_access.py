"""Unit tests for controller.core.access: the role table's permissions and the ownership rule."""

from __future__ import annotations

import pytest

from controller.contract.requests import METHODS
from controller.contract.roles import Role
from controller.core.access import PERMISSIONS, Grant, grant, owns, refusal

READS = {"devices.list", "session.list", "courses.list", "timetable.list"}


def allowed(role: Role) -> set[str]:
    return {m for m in METHODS if grant(role, m) is not Grant.NONE}


def test_every_method_named_is_a_method_of_the_api() -> None:
    for table in PERMISSIONS.values():
        assert set(table) <= set(METHODS)
    assert set(PERMISSIONS) == set(Role)


def test_an_operator_reads_the_fleet_and_nothing_else() -> None:
    # `fleet watch`, `fleet devices`, `fleet stats`, `fleet session show` (counts, no student ids),
    # `fleet firmware list`, `fleet rollout status|list`
    assert allowed(Role.OPERATOR) == READS | {"stats", "device.list", "session.show", "firmware.list",
                                              "rollout.status", "rollout.list"}
    assert grant(Role.OPERATOR, "firmware.add") is Grant.NONE  # adding an image is an admin's
    for method in ("rollout.start", "rollout.pause", "rollout.resume", "rollout.abort"):  # so is a rollout
        assert grant(Role.OPERATOR, method) is Grant.NONE
        assert grant(Role.ADMIN, method) is Grant.ANY
    assert grant(Role.LECTURER, "firmware.list") is Grant.NONE
    assert all(grant(Role.OPERATOR, m) is Grant.ANY for m in allowed(Role.OPERATOR))
    assert grant(Role.OPERATOR, "session.start") is Grant.NONE
    assert grant(Role.OPERATOR, "session.scale") is Grant.NONE
    assert grant(Role.OPERATOR, "attendance.list") is Grant.NONE  # no student data
    assert grant(Role.OPERATOR, "roster.list") is Grant.NONE
    assert grant(Role.OPERATOR, "attendance.mark") is Grant.NONE
    assert grant(Role.OPERATOR, "timetable.import") is Grant.NONE


def test_a_lecturer_starts_sessions_and_touches_only_its_own() -> None:
    assert grant(Role.LECTURER, "session.start") is Grant.ANY
    own = {"session.end", "session.wait", "session.scale", "session.show", "session.extend", "attendance.list",
           "attendance.report", "attendance.mark", "roster.import", "roster.list", "course.set"}
    for method in own:
        assert grant(Role.LECTURER, method) is Grant.OWN, method
    assert allowed(Role.LECTURER) == READS | own | {"session.start"}
    for method in ("stats", "device.list", "device.set", "device.retire", "device.forget", "timetable.import",
                   "timetable.remove"):
        assert grant(Role.LECTURER, method) is Grant.NONE, method


def test_an_admin_may_do_everything_and_the_controller_account_nothing() -> None:
    assert all(grant(Role.ADMIN, m) is Grant.ANY for m in METHODS)
    assert allowed(Role.CONTROLLER) == set()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_user_without_a_role_may_do_nothing(method: str) -> None:
    assert grant(None, method) is Grant.NONE


def test_ownership() -> None:
    assert owns("alice", {"alice"})
    assert not owns("bob", {"alice"})
    assert not owns("alice", {""})  # a session from before owners were recorded: nobody's
    assert owns("alice", {"bob", "alice"})  # a report covering a session of hers
    assert owns("alice", set())  # a report of nothing held hides nothing


def test_refusals_are_one_clear_line() -> None:
    line = refusal("olga", Role.OPERATOR, "session.start", Grant.NONE)
    assert line == "operators cannot call session.start (user olga, role operator)"
    assert "only for sessions they started" in refusal("bob", Role.LECTURER, "session.end", Grant.OWN)
    assert "has no role" in refusal("eve", None, "stats", Grant.NONE)
    assert all("\n" not in refusal("u", r, "stats", Grant.NONE) for r in (None, *Role))
