"""The reconcile decision (the version rule is tested in tests/unit/core/test_versions.py)."""

from __future__ import annotations

from controller.contract.messages import Config, SessionConfig, State
from controller.core.reconcile import Applied, Bump, Publish, Published, RejectedByDevice, reconcile

SESSION = SessionConfig(7, "CS101", "Intro", "2024/2025", "1st Semester", "", "ESP32_CS101", "CS101 - Intro",
                        "CS101_Attendance_2024_2025", "", "CS101 Classroom")
ACTIVE = Config(5, SESSION)


def decide(reported: State | None, published: Published | None = None, *, online: bool = True,
           now: float = 100.0, desired: Config = ACTIVE) -> object:
    return reconcile("dev-a", desired, reported, published, online=online, now=now, resend_after=30)


def test_unpublished_config_is_published() -> None:
    assert decide(None) == Publish("dev-a", ACTIVE)


def test_published_and_pending_waits_then_resends() -> None:
    published = Published(5, 90.0)
    assert decide(State(4, "applied", False), published) is None
    assert decide(State(4, "applied", False), published, now=121.0) == Publish("dev-a", ACTIVE)
    assert decide(State(4, "applied", False), published, now=121.0, online=False) is None


def test_matching_applied_state_is_in_sync() -> None:
    state = State(5, "applied", True, 7, "CS101_Attendance_2024_2025")
    assert decide(state, Published(5, 90.0)) == Applied("dev-a", 5)


def test_rejection_is_reported_not_republished() -> None:
    assert decide(State(5, "rejected", error="ssid too long"), Published(5, 90.0), now=500.0) == RejectedByDevice(
        "dev-a", 5, "ssid too long")


def test_device_ahead_of_database_bumps_past_it() -> None:
    assert decide(State(9, "applied", False)) == Bump("dev-a", 10)


def test_same_version_other_content_bumps() -> None:
    assert decide(State(5, "applied", True, 99, "OTHER")) == Bump("dev-a", 6)
    assert decide(State(5, "applied", True, 7, "x"), desired=Config(5)) == Bump("dev-a", 6)


def test_a_rejected_foreign_config_does_not_bump() -> None:
    # someone published v9 that the device turned down; it still runs our v5
    assert decide(State(9, "rejected", error="bad", applied_version=5), Published(5, 90.0)) is None
    assert decide(State(9, "rejected", error="bad", applied_version=7), Published(5, 90.0)) == Bump("dev-a", 8)


def test_idle_config_applied() -> None:
    assert decide(State(5, "applied", False), Published(5, 1.0), desired=Config(5)) == Applied("dev-a", 5)


def test_nothing_published_on_this_connection_republishes_even_when_applied() -> None:
    # the broker came back empty and the device re-sent its retained state: the config must be
    # retained again before the device is counted as in sync (it ignores the version it has)
    applied = State(5, "applied", True, 7, "CS101_Attendance_2024_2025")
    assert decide(applied, None) == Publish("dev-a", ACTIVE)
    assert decide(State(5, "applied", False), None, desired=Config(5)) == Publish("dev-a", Config(5))
    assert decide(State(5, "rejected", error="x"), None) == Publish("dev-a", ACTIVE)
    # once published on this connection, the same report settles it
    assert decide(applied, Published(5, 100.0)) == Applied("dev-a", 5)


def test_an_older_publication_is_replaced_before_settling() -> None:
    applied = State(5, "applied", True, 7, "CS101_Attendance_2024_2025")
    assert decide(applied, Published(4, 90.0)) == Publish("dev-a", ACTIVE)


def test_bumps_come_before_republishing() -> None:
    assert decide(State(9, "applied", False), None) == Bump("dev-a", 10)
    assert decide(State(5, "applied", True, 99, "OTHER"), None) == Bump("dev-a", 6)
