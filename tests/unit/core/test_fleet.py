"""The fleet record and its decisions (failover, start/end, settling), with plain data."""

from __future__ import annotations

import logging

import pytest

from controller.contract.messages import Config, Heartbeat, SessionConfig, State, Status
from controller.core.effects import (
    BumpVersion,
    ClearRetained,
    Log,
    MarkDegraded,
    MarkSession,
    PublishConfig,
    Reconcile,
    SettleWaiters,
)
from controller.core.fleet import Fleet, Move
from controller.core.liveness import Registry
from controller.core.reconcile import Applied, Published, RejectedByDevice
from controller.core.values import Desired, DeviceInfo, SessionRecord
from controller.errors import NoDeviceAvailable

TTL = 90.0
SESSION = SessionConfig(7, "CS101", "Intro", "2024/2025", "1st Semester", "", "ESP32_CS101", "CS101 - Intro",
                        "CS101_Attendance_2024_2025", "", "CS101 Classroom")
ACTIVE = Config(5, SESSION)
IDLE = Config(6)


def session(session_id: int, grace_s: float, degraded: bool) -> SessionRecord:
    """An active session as the store returns it, with the grace and degraded flag the fleet loads."""
    return SessionRecord(id=session_id, course_code="CS101", course_title="Intro", academic_session="2024/2025",
                         semester="1st Semester", lecturer="", started_by="", device_id=None, ssid="ESP32_CS101",
                         room=None, config_version=1, failover_grace_s=grace_s, moves=0, moved_from=None,
                         degraded=degraded, active=True, started_at=0.0, ended_at=None, applied_at=None, error=None)


def fleet_of(*online: str, now: float = 100.0) -> Fleet:
    """A fleet whose `online` devices were born and heartbeat at `now`."""
    fleet = Fleet(Registry(ttl=TTL))
    for device_id in online:
        fleet.live.on_status(device_id, Status(True, 1), now, retained=False)
        fleet.live.on_heartbeat(device_id, Heartbeat(1, 10), now)
        fleet.record(device_id).info = DeviceInfo()
    return fleet


def effects_of(kind: type, effects: list[object]) -> list[object]:
    return [e for e in effects if isinstance(e, kind)]


# --- one record per device -------------------------------------------------------------------------


def test_load_replaces_what_the_database_holds_and_keeps_what_this_controller_did() -> None:
    fleet = fleet_of("dev-a", "dev-b")
    fleet.published("dev-a", 5, 50.0)
    fleet.record("dev-a").settled = 5
    fleet.load([Desired("dev-a", ACTIVE, 7)], {"dev-a": DeviceInfo(room="R1"), "dev-c": DeviceInfo(retired=True)},
               [session(7, 30.0, True)])
    a = fleet.record("dev-a")
    assert (a.desired, a.serving, a.info, a.published, a.settled) == (
        Desired("dev-a", ACTIVE, 7), 7, DeviceInfo(room="R1"), Published(5, 50.0), 5)
    assert fleet.record("dev-b").info is None  # no longer in the database's inventory
    assert fleet.busy() == {"dev-a": 7}
    assert fleet.excluded() == {"dev-c"}
    assert fleet.in_room("R1") == ["dev-a"]
    assert fleet.sessions[7].grace_s == 30.0 and fleet.sessions[7].degraded


def test_forgetting_a_device_is_one_call_and_clears_its_retained_topics() -> None:
    fleet = fleet_of("dev-a")
    fleet.load([Desired("dev-a", IDLE, None)], {"dev-a": DeviceInfo()}, [])
    fleet.published("dev-a", 6, 1.0)
    assert fleet.forget("dev-a") == [ClearRetained("dev-a")]
    assert fleet.get("dev-a") is None
    assert "dev-a" not in fleet.live.devices and "dev-a" not in fleet.live.dirty
    assert fleet.desired() == {} and fleet.inventory() == {}


def test_an_unknown_device_is_registered_pending_once() -> None:
    fleet = fleet_of()
    assert fleet.register_pending("dev-x")
    assert not fleet.register_pending("dev-x")
    assert fleet.inventory() == {"dev-x": DeviceInfo(approved=False)}
    assert not fleet.approved("dev-x")


def test_online_transitions_are_reported_once() -> None:
    fleet = fleet_of("dev-a", "dev-b")
    assert fleet.note_online({"dev-a", "dev-b"}) == ({"dev-a", "dev-b"}, set())
    assert fleet.note_online({"dev-a", "dev-b"}) == (set(), set())
    assert fleet.note_online({"dev-a"}) == (set(), {"dev-b"})
    assert fleet.online() == {"dev-a"}


def test_pick_skips_busy_excluded_and_offline_devices_and_prefers_the_room() -> None:
    fleet = fleet_of("dev-a", "dev-b", "dev-c", "dev-d")
    inventory = {"dev-a": DeviceInfo(), "dev-b": DeviceInfo(room="R1"), "dev-c": DeviceInfo(retired=True),
                 "dev-d": DeviceInfo()}
    fleet.load([Desired("dev-a", ACTIVE, 7)], inventory, [session(7, 60.0, False)])
    assert fleet.pick(100.0) == ["dev-b", "dev-d"]
    assert fleet.pick(100.0, room="R1") == ["dev-b"]
    assert fleet.pick(100.0 + TTL + 1) == []  # nobody heard from since
    assert fleet.describe_room("R2") == "no device is placed in room R2"


def test_candidates_are_the_room_first_then_any_room_and_none_when_a_device_is_named() -> None:
    fleet = fleet_of("dev-a", "dev-b")
    fleet.load([], {"dev-a": DeviceInfo(), "dev-b": DeviceInfo(room="R1")}, [])
    assert fleet.candidates(None, False, None, 100.0) == ["dev-a", "dev-b"]
    assert fleet.candidates("R1", False, None, 100.0) == ["dev-b"]
    assert fleet.candidates("R2", True, None, 100.0) == ["dev-a", "dev-b"]
    assert fleet.candidates("R1", False, "dev-a", 100.0) == []
    with pytest.raises(NoDeviceAvailable, match="no device is placed in room R2"):
        fleet.candidates("R2", False, None, 100.0)


# --- failover --------------------------------------------------------------------------------------


def test_a_busy_device_offline_past_its_grace_is_due() -> None:
    fleet = fleet_of("dev-c")
    fleet.load([Desired("dev-a", ACTIVE, 1), Desired("dev-b", ACTIVE, 2), Desired("dev-c", ACTIVE, 3)], {},
               [session(1, 60.0, False), session(2, 20.0, False)])
    fleet.note_online({"dev-c"})
    assert fleet.due_moves(100.0) == []
    assert fleet.record("dev-a").offline_since == 100.0
    assert fleet.due_moves(130.0) == [Move(2, "dev-b", 30.0)]  # offline since first seen so, not last
    assert fleet.due_moves(160.0) == [Move(1, "dev-a", 60.0), Move(2, "dev-b", 60.0)]


def test_one_offline_device_of_a_multi_device_session_moves_alone() -> None:
    fleet = fleet_of("dev-a", "dev-c", "dev-d")
    effects = fleet.started([Desired("dev-a", ACTIVE, 7), Desired("dev-b", ACTIVE, 7), Desired("dev-c", ACTIVE, 7)],
                            30.0)
    assert effects == [Reconcile("dev-a"), Reconcile("dev-b"), Reconcile("dev-c")]
    assert fleet.busy() == {"dev-a": 7, "dev-b": 7, "dev-c": 7}
    fleet.note_online({"dev-a", "dev-c", "dev-d"})
    fleet.due_moves(100.0)
    [move] = fleet.due_moves(130.0)
    assert move == Move(7, "dev-b", 30.0)
    fleet.moved(move, Desired("dev-d", ACTIVE, 7), Desired("dev-b", IDLE, None))
    assert fleet.busy() == {"dev-a": 7, "dev-c": 7, "dev-d": 7}
    ended = fleet.ended(7, [Desired(d, IDLE, None) for d in ("dev-a", "dev-c", "dev-d")])
    assert ended[1:-1] == [Reconcile("dev-a"), Reconcile("dev-c"), Reconcile("dev-d")] and fleet.busy() == {}


def test_a_device_back_online_or_freed_is_no_longer_counted_offline() -> None:
    fleet = fleet_of()
    fleet.load([Desired("dev-a", ACTIVE, 1), Desired("dev-b", ACTIVE, 2)], {}, [])
    fleet.due_moves(1.0)
    fleet.note_online({"dev-a"})
    fleet.move_gone(Move(2, "dev-b", 0.0))
    assert fleet.due_moves(500.0) == []
    assert fleet.record("dev-a").offline_since is None and fleet.record("dev-b").offline_since is None


def test_a_session_without_a_loaded_grace_gets_the_default() -> None:
    fleet = fleet_of()
    fleet.load([Desired("dev-a", ACTIVE, 9)], {}, [])
    fleet.due_moves(0.0)
    assert fleet.due_moves(59.0) == [] and fleet.due_moves(60.0) == [Move(9, "dev-a", 60.0)]


def test_a_move_hands_the_session_over_and_idles_the_old_device() -> None:
    fleet = fleet_of("dev-b")
    fleet.load([Desired("dev-a", ACTIVE, 7)], {"dev-a": DeviceInfo(room="R1"), "dev-b": DeviceInfo(room="R1")},
               [session(7, 1.0, True)])
    fleet.record("dev-a").settled = 5
    [move] = fleet.due_moves(100.0) or fleet.due_moves(101.0)
    assert fleet.takeover_order(move, 101.0) == ["dev-b"]
    to, idle = Desired("dev-b", Config(8, SESSION), 7), Desired("dev-a", Config(9), None)
    effects = fleet.moved(move, to, idle)
    assert effects_of(Reconcile, effects) == [Reconcile("dev-b"), Reconcile("dev-a")]
    assert effects_of(Log, effects)[0].level == logging.WARNING  # type: ignore[attr-defined]
    assert fleet.busy() == {"dev-b": 7}
    assert fleet.record("dev-a").desired == idle and fleet.record("dev-a").settled is None
    assert not fleet.sessions[7].degraded


def test_no_free_device_degrades_the_session_once() -> None:
    fleet = fleet_of()
    fleet.load([Desired("dev-a", ACTIVE, 7)], {}, [session(7, 0.0, False)])
    [move] = fleet.due_moves(10.0)
    first = fleet.no_takeover(move)
    assert effects_of(MarkDegraded, first) == [MarkDegraded(7)] and effects_of(Log, first)
    assert fleet.no_takeover(move) == []
    assert fleet.busy() == {"dev-a": 7}  # still its device until one can take over


# --- sessions start and end ------------------------------------------------------------------------


def test_a_started_session_makes_its_device_busy_and_reconciles_it() -> None:
    fleet = fleet_of("dev-a")
    fleet.record("dev-a").settled = 4
    assert fleet.started([Desired("dev-a", ACTIVE, 7)], 45.0) == [Reconcile("dev-a")]
    assert fleet.busy() == {"dev-a": 7} and fleet.sessions[7].grace_s == 45.0
    assert fleet.record("dev-a").settled is None
    assert fleet.serving_session(7) == ["dev-a"]


def test_an_ended_session_idles_its_device_and_answers_its_waiters() -> None:
    fleet = fleet_of("dev-a")
    fleet.started([Desired("dev-a", ACTIVE, 7)], 60.0)
    effects = fleet.ended(7, [Desired("dev-a", IDLE, None)])
    assert effects[1:] == [Reconcile("dev-a"), SettleWaiters(7, "ended", None)]
    assert fleet.busy() == {} and fleet.desired() == {"dev-a": Desired("dev-a", IDLE, None)}
    assert fleet.ended(8, [])[1:] == [SettleWaiters(8, "ended", None)]  # its device had left it already


def test_a_scale_down_releases_offline_devices_then_those_with_fewest_phones() -> None:
    fleet = fleet_of("dev-a", "dev-b", "dev-c", "dev-d")
    fleet.started([Desired(d, ACTIVE, 7) for d in ("dev-a", "dev-b", "dev-c", "dev-d")], 60.0)
    for device_id, phones in (("dev-a", 9), ("dev-b", 2), ("dev-c", 6)):
        fleet.live.on_heartbeat(device_id, Heartbeat(1, 20, stations=phones), 101.0)
    fleet.note_online({"dev-a", "dev-b", "dev-c"})  # dev-d went offline
    assert fleet.release_order(7) == ["dev-d", "dev-b", "dev-c", "dev-a"]


def test_a_scaled_session_counts_added_devices_busy_and_frees_released_ones() -> None:
    fleet = fleet_of("dev-a", "dev-b", "dev-c")
    fleet.started([Desired("dev-a", ACTIVE, 7), Desired("dev-b", ACTIVE, 7)], 60.0)
    fleet.record("dev-b").offline_since = 90.0
    effects = fleet.scaled(7, [Desired("dev-c", ACTIVE, 7)], [Desired("dev-b", IDLE, None)])
    assert effects[1:] == [Reconcile("dev-c"), Reconcile("dev-b")]
    assert fleet.busy() == {"dev-a": 7, "dev-c": 7}
    assert fleet.record("dev-b").offline_since is None and fleet.desired()["dev-b"] == Desired("dev-b", IDLE, None)
    assert fleet.due_moves(500.0) == []  # a released device is never failed over


# --- reconcile and settling ------------------------------------------------------------------------


def test_a_multi_device_sessions_outcome_is_its_first_devices() -> None:
    fleet = fleet_of("dev-a", "dev-b", "dev-c")
    fleet.started([Desired("dev-a", ACTIVE, 7), Desired("dev-b", ACTIVE, 7)], 60.0)
    second = fleet.settle(Desired("dev-b", ACTIVE, 7), RejectedByDevice("dev-b", 5, "bad ssid"), 101.0)
    assert effects_of(MarkSession, second) == effects_of(SettleWaiters, second) == []  # logged only
    first = fleet.settle(Desired("dev-a", ACTIVE, 7), Applied("dev-a", 5), 102.0)
    assert effects_of(MarkSession, first) == [MarkSession(7, 102.0, None)]
    fleet.moved(Move(7, "dev-a", 90.0), Desired("dev-c", Config(2, SESSION), 7), Desired("dev-a", IDLE, None))
    taken_over = fleet.settle(Desired("dev-c", Config(2, SESSION), 7), Applied("dev-c", 2), 103.0)
    assert effects_of(SettleWaiters, taken_over) == [SettleWaiters(7, "applied", None)]  # the first's successor


def test_reconcile_publishes_then_settles_once() -> None:
    fleet = fleet_of("dev-a")
    fleet.started([Desired("dev-a", ACTIVE, 7)], 60.0)
    fleet.note_online({"dev-a"})
    assert fleet.reconcile("dev-a", 100.0, 30.0) == [PublishConfig("dev-a", ACTIVE)]
    fleet.published("dev-a", 5, 100.0)
    fleet.live.on_state("dev-a", State(5, "applied", True, 7, SESSION.ssid))
    effects = fleet.reconcile("dev-a", 101.0, 30.0)
    assert effects[1:] == [MarkSession(7, 101.0, None), SettleWaiters(7, "applied", None)]
    assert fleet.reconcile("dev-a", 102.0, 30.0) == []  # settled: said once


def test_a_rejection_settles_the_session_as_rejected() -> None:
    fleet = fleet_of("dev-a")
    fleet.started([Desired("dev-a", ACTIVE, 7)], 60.0)
    fleet.published("dev-a", 5, 100.0)
    fleet.live.on_state("dev-a", State(5, "rejected", error="ssid too long"))
    effects = fleet.reconcile("dev-a", 101.0, 30.0)
    assert effects[1:] == [MarkSession(7, None, "ssid too long"), SettleWaiters(7, "rejected", "ssid too long")]


def test_a_device_ahead_of_the_database_is_bumped_for_its_session() -> None:
    fleet = fleet_of("dev-a")
    fleet.started([Desired("dev-a", ACTIVE, 7)], 60.0)
    fleet.live.on_state("dev-a", State(9, "applied", False))
    assert fleet.reconcile("dev-a", 100.0, 30.0) == [BumpVersion("dev-a", 10, 7)]


def test_nothing_is_reconciled_until_retained_states_are_in_after_a_reconnect() -> None:
    fleet = fleet_of("dev-a")
    fleet.started([Desired("dev-a", ACTIVE, 7)], 60.0)
    fleet.published("dev-a", 5, 100.0)
    fleet.reconnected(102.0)
    assert fleet.record("dev-a").published is None
    assert fleet.reconcile("dev-a", 101.0, 30.0) == []
    fleet.republish_at = None
    assert fleet.reconcile("dev-a", 103.0, 30.0) == [PublishConfig("dev-a", ACTIVE)]


def test_the_reported_version_is_the_highest_a_device_has_seen() -> None:
    fleet = fleet_of("dev-a", "dev-b")
    fleet.live.on_state("dev-a", State(4, "rejected", applied_version=3))
    reported = fleet.reported()
    assert (reported["dev-a"], reported["dev-b"], reported.get("dev-z", 0)) == (4, 0, 0)
    assert dict(reported) == {"dev-a": 4, "dev-b": 0}
