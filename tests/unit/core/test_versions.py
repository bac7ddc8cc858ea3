"""The version rule, the one place it is written, and the reconcile bumps that follow it."""

from __future__ import annotations

from controller.contract.messages import Config, SessionConfig, State
from controller.core.liveness import DeviceLive
from controller.core.reconcile import Bump, Published, reconcile
from controller.core.values import LivenessRow
from controller.core.versions import applied_version, next_version, reported_version


def test_a_device_reports_the_higher_of_what_it_saw_and_what_it_runs() -> None:
    assert reported_version(None) == 0
    assert reported_version(State(9, "applied", False)) == 9
    assert reported_version(State(2, "rejected", error="x", applied_version=6)) == 6
    assert reported_version(State(7, "rejected", error="x", applied_version=6)) == 7


def test_a_device_runs_what_it_applied_or_after_a_rejection_what_it_kept() -> None:
    assert applied_version(None) is None
    assert applied_version(State(9, "applied", False)) == 9
    assert applied_version(State(7, "rejected", error="x", applied_version=6)) == 6
    assert applied_version(State(7, "rejected", error="x")) is None  # it never said what it kept
    # the flush stores the same version devices.list shows
    device = DeviceLive("dev-a", boot=2, last_seen=1.0, reported=State(7, "rejected", error="x", applied_version=6))
    assert LivenessRow.of(device) == LivenessRow("dev-a", 1.0, 2, None, None, 6)


def test_the_next_version_is_above_both_the_database_and_the_device() -> None:
    assert next_version(3, 0) == 4
    assert next_version(3, 9) == 10
    assert next_version(12, 9) == 13
    assert next_version(1, reported_version(State(2, "rejected", error="x", applied_version=6))) == 7


def test_a_device_ahead_of_the_database_is_bumped_by_the_rule() -> None:
    session = SessionConfig(7, "CS101", "Intro", "2024/2025", "1st Semester", "", "ESP32_CS101", "CS101 - Intro",
                            "CS101_Attendance_2024_2025", "", "CS101 Classroom")
    desired = Config(5, session)

    def decide(state: State) -> object:
        return reconcile("dev-a", desired, state, Published(5, 90.0), online=True, now=100.0, resend_after=30)

    assert decide(State(8, "applied", False)) == Bump("dev-a", next_version(5, 8)) == Bump("dev-a", 9)
    forked = State(5, "applied", True, 8, "OTHER_SSID")  # same number, other content
    assert decide(forked) == Bump("dev-a", next_version(5, 5)) == Bump("dev-a", 6)
