"""The store on real databases: a SQLite file and the local PostgreSQL server (a database of its own)."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from controller.adapters.store import Store
from controller.adapters.tables import MIGRATIONS, make_engine
from controller.contract.messages import Attendance, CheckinEvent
from controller.contract.report import MarkRow
from controller.contract.requests import SessionStartParams
from controller.contract.rosters import RosterEntry
from controller.core.capacity import capacity
from controller.core.schedule import MAX_SESSION_S
from controller.core.values import CourseRecord, LivenessRow
from controller.errors import (
    BadRequest,
    DeviceBusy,
    NoDeviceAvailable,
    NotEnoughDevices,
    SessionAlreadyEnded,
    StoreError,
    UnknownDevice,
    UnknownSession,
)
from tests.databases import throwaway_postgres

REQUEST = SessionStartParams("CS101", "Intro", "2024/2025", "1st Semester", "alice")


def seen(store: Store, *ids: str) -> None:
    store.flush_liveness([LivenessRow(i, 100.0, 1, "fw", None, None) for i in ids], now=100.0)


def test_claim_takes_the_first_free_candidate_and_versions_rise(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    first = store.start_session(REQUEST, ["dev-a", "dev-b"], {}, now=1.0)
    assert (first.desired[0].device_id, first.desired[0].config.version, first.session.ssid) == (
        "dev-a", 1, "CS101_Attendance_2024_2025")
    assert first.desired[0].session_id == first.session.id and first.session.device_id == "dev-a"
    second = store.start_session(REQUEST, ["dev-a", "dev-b"], {"dev-a": 9, "dev-b": 6}, now=2.0)
    (second_desired,) = second.desired
    assert second_desired.device_id == "dev-b" and second_desired.config.version == 7  # max(stored 0, reported 6) + 1
    assert second.session.ssid == "CS101_Attendance_2024_2025_2"  # unique among active sessions
    with pytest.raises(NoDeviceAvailable):
        store.start_session(REQUEST, ["dev-a", "dev-b"], {}, now=3.0)
    ended = store.end_session(first.session.id, {}, now=4.0)
    (idle,) = ended.idle
    assert idle.device_id == "dev-a" and idle.session_id is None
    assert idle.config.version == 2 and not idle.config.active and not ended.session.active
    assert {d.device_id: d.session_id for d in store.desired()} == {"dev-a": None, "dev-b": second.session.id}


def test_a_move_numbers_both_devices_configs_by_what_they_reported(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    started = store.start_session(REQUEST, ["dev-a"], {}, now=1.0)
    moved = store.move_session(started.session.id, "dev-a", ["dev-a", "dev-b"],
                               reported={"dev-a": 4, "dev-b": 2}, now=1.5)
    assert (moved.to.device_id, moved.to.config.version, moved.to.session_id) == ("dev-b", 3, started.session.id)
    assert moved.to.config.session == started.desired[0].config.session  # the same session, another device
    assert (moved.idle.device_id, moved.idle.config.version, moved.idle.config.active) == ("dev-a", 5, False)
    assert (moved.session.device_id, moved.session.moved_from, moved.session.moves) == ("dev-b", "dev-a", 1)
    with pytest.raises(NoDeviceAvailable):  # never onto the device it leaves
        store.move_session(started.session.id, "dev-b", ["dev-b"], reported={}, now=1.5)
    assert [d.device_id for d in store.end_session(started.session.id, {}, now=2.0).idle] == ["dev-b"]


def test_explicit_device(store: Store) -> None:
    seen(store, "dev-a")
    with pytest.raises(UnknownDevice):
        store.start_session(SessionStartParams("CS101", "Intro", "2024/2025", "1st", device="dev-zz"), [], {}, now=1.0)
    explicit = SessionStartParams("CS101", "Intro", "2024/2025", "1st", device="dev-a")
    store.start_session(explicit, [], {}, now=1.0)
    with pytest.raises(DeviceBusy):
        store.start_session(explicit, [], {}, now=2.0)


def test_attendance_is_idempotent_per_session_and_student(store: Store) -> None:
    seen(store, "dev-a")
    session_id = store.start_session(REQUEST, ["dev-a"], {}, now=1.0).session.id
    batch = Attendance(session_id, (CheckinEvent(1, "U1"), CheckinEvent(2, "U2"), CheckinEvent(3, "bad id")))
    first = store.ingest("dev-a", batch, now=5.0)
    again = store.ingest("dev-a", batch, now=6.0)
    assert (first.upto, first.stored, first.duplicates, first.rejected) == (3, 2, 0, {"bad_student_id": 1})
    assert (again.stored, again.duplicates) == (0, 2)
    records, rejected = store.attendance(session_id)
    assert [r.student_id for r in records] == ["U1", "U2"]
    assert [(r.student_id, r.reason) for r in rejected] == [("bad id", "bad_student_id")]
    unknown = store.ingest("dev-a", Attendance(999, (CheckinEvent(4, "U3"),)), now=7.0)
    assert unknown.rejected == {"unknown_session": 1} and unknown.upto == 4


def test_the_last_seq_before_a_batch_counts_stored_and_rejected_events_of_the_session(store: Store) -> None:
    seen(store, "dev-a")
    session_id = store.start_session(REQUEST, ["dev-a"], {}, now=1.0).session.id
    assert store.last_seq_before("dev-a", session_id, 10) is None
    store.ingest("dev-a", Attendance(session_id, (CheckinEvent(1, "U1"), CheckinEvent(2, "bad id"))), now=5.0)
    store.ingest("dev-a", Attendance(session_id, (CheckinEvent(7, "U7"),)), now=6.0)
    assert store.last_seq_before("dev-a", session_id, 3) == 2  # a rejected event counts: it was received
    assert store.last_seq_before("dev-a", session_id, 7) == 2
    assert store.last_seq_before("dev-a", session_id, 8) == 7
    assert store.last_seq_before("dev-b", session_id, 8) is None


def test_the_last_seq_before_a_sessions_first_batch_comes_from_the_devices_last_session(store: Store) -> None:
    # seqs rise across sessions: a batch lost at the start of a session shows as a gap too
    seen(store, "dev-a")
    first = store.start_session(REQUEST, ["dev-a"], {}, now=1.0).session.id
    store.ingest("dev-a", Attendance(first, (CheckinEvent(1, "U1"), CheckinEvent(2, "U2"))), now=2.0)
    store.end_session(first, {}, now=3.0)
    second = store.start_session(REQUEST, ["dev-a"], {}, now=4.0).session.id
    assert store.last_seq_before("dev-a", second, 5) == 2  # 3..4 never arrived: held for
    store.ingest("dev-a", Attendance(second, (CheckinEvent(3, "U3"),)), now=5.0)
    assert store.last_seq_before("dev-a", second, 5) == 3  # the session's own seqs come first
    assert store.last_seq_before("dev-b", second, 5) is None  # a device with no session before


def test_liveness_flush_upserts(store: Store) -> None:
    seen(store, "dev-a")
    store.flush_liveness([LivenessRow("dev-a", 200.0, 2, "fw2", "10.0.0.9", 3)], now=200.0)
    [device] = store.load_devices()
    assert (device.last_seen, device.boot, device.fw, device.ip, device.applied_version, device.first_seen) == (
        200.0, 2, "fw2", "10.0.0.9", 3, 100.0)


def test_racing_claims_never_share_a_device_or_an_ssid(store: Store) -> None:
    devices = [f"dev-{i}" for i in range(5)]
    seen(store, *devices)
    won: list[tuple[str, str]] = []
    lost: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            started = store.start_session(REQUEST, devices, {}, now=1.0)
            with lock:
                won.append((started.desired[0].device_id, started.session.ssid))
        except NoDeviceAvailable as exc:
            with lock:
                lost.append(str(exc))

    threads = [threading.Thread(target=claim) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 5 and len(lost) == 7
    assert len({d for d, _ in won}) == 5 and len({s for _, s in won}) == 5


MANY = replace(REQUEST, room="LT2", devices=3)


def serving(store: Store) -> set[str]:
    return {d.device_id for d in store.desired() if d.session_id is not None}


def test_a_session_claims_several_devices_with_one_ssid_and_their_own_versions(store: Store) -> None:
    seen(store, "dev-a", "dev-b", "dev-c", "dev-d")
    started = store.start_session(MANY, ["dev-a", "dev-b", "dev-c", "dev-d"], {"dev-b": 4}, now=1.0)
    assert [(d.device_id, d.config.version) for d in started.desired] == [("dev-a", 1), ("dev-b", 5), ("dev-c", 1)]
    assert {d.config.session for d in started.desired} == {started.desired[0].config.session}  # one SSID, label...
    assert {d.session_id for d in started.desired} == {started.session.id}
    assert started.session.device_id == "dev-a" and started.session.devices == ("dev-a", "dev-b", "dev-c")
    assert store.get_session(started.session.id).devices == ("dev-a", "dev-b", "dev-c")
    assert [s.devices for s in store.sessions(active_only=True)] == [("dev-a", "dev-b", "dev-c")]
    ended = store.end_session(started.session.id, {}, now=2.0)
    assert [(d.device_id, d.session_id, d.config.active) for d in ended.idle] == [
        ("dev-a", None, False), ("dev-b", None, False), ("dev-c", None, False)]
    assert [d.config.version for d in ended.idle] == [2, 6, 2]
    assert {d.device_id: d.session_id for d in store.desired()} == {"dev-a": None, "dev-b": None, "dev-c": None}
    assert store.get_session(started.session.id).devices == ("dev-a", "dev-b", "dev-c")  # kept after the end


def test_too_few_free_devices_is_not_enough_devices_and_claims_nothing(store: Store) -> None:
    seen(store, "dev-a", "dev-b", "dev-c")
    store.start_session(REQUEST, ["dev-c"], {}, now=1.0)
    with pytest.raises(NotEnoughDevices) as info:
        store.start_session(MANY, ["dev-a", "dev-b", "dev-c"], {}, now=2.0)
    assert info.value.message == (f"3 devices wanted but only 2 free in room LT2: 2 check in about {capacity(2)} "
                                  "students in 5 minutes; pass --anyway to start on them")
    assert len(store.sessions()) == 1 and serving(store) == {"dev-c"}  # the failed start left nothing behind
    anyway = store.start_session(replace(MANY, anyway=True), ["dev-a", "dev-b", "dev-c"], {}, now=3.0)
    assert anyway.session.devices == ("dev-a", "dev-b")
    with pytest.raises(NoDeviceAvailable):  # anyway still needs one
        store.start_session(replace(MANY, anyway=True), ["dev-a", "dev-b", "dev-c"], {}, now=4.0)


def test_one_device_of_a_session_moves_alone(store: Store) -> None:
    seen(store, "dev-a", "dev-b", "dev-c")
    started = store.start_session(replace(REQUEST, devices=2), ["dev-a", "dev-b"], {}, now=1.0)
    moved = store.move_session(started.session.id, "dev-b", ["dev-c"], reported={}, now=2.0)
    assert (moved.to.device_id, moved.idle.device_id) == ("dev-c", "dev-b")
    assert moved.to.config.session == started.desired[1].config.session
    assert moved.session.device_id == "dev-a" and moved.session.devices == ("dev-a", "dev-c")
    assert moved.session.config_version == started.session.config_version  # the first device's, unchanged
    assert [d.device_id for d in store.end_session(started.session.id, {}, now=2.0).idle] == ["dev-a", "dev-c"]


def test_a_running_session_scales_up_and_down_and_keeps_its_history(store: Store) -> None:
    seen(store, "dev-a", "dev-b", "dev-c", "dev-d")
    started = store.start_session(REQUEST, ["dev-a"], {}, now=1.0)
    session_id = started.session.id
    up = store.scale_session(session_id, 3, candidates=["dev-a", "dev-b", "dev-c", "dev-d"], release_first=[],
                             reported={"dev-c": 8}, now=2.0)
    assert [(d.device_id, d.config.version, d.session_id) for d in up.added] == [
        ("dev-b", 1, session_id), ("dev-c", 9, session_id)]
    assert {d.config.session for d in up.added} == {started.desired[0].config.session}  # the same SSID
    assert up.released == () and up.session.devices == ("dev-a", "dev-b", "dev-c")
    down = store.scale_session(session_id, 1, candidates=[], release_first=["dev-a", "dev-b"], reported={}, now=3.0)
    assert [(d.device_id, d.session_id, d.config.active) for d in down.released] == [
        ("dev-b", None, False), ("dev-c", None, False)]  # dev-b first as asked; never the first device
    assert down.added == () and down.session.devices == ("dev-a",)
    assert serving(store) == {"dev-a"}
    same = store.scale_session(session_id, 1, candidates=["dev-d"], release_first=[], reported={}, now=3.5)
    assert (same.added, same.released) == ((), ())
    store.scale_session(session_id, 2, candidates=["dev-d"], release_first=[], reported={}, now=4.0)
    store.end_session(session_id, {}, now=5.0)
    assert [(h.device_id, h.joined_at, h.left_at, h.left_why) for h in store.session_history(session_id)] == [
        ("dev-a", 1.0, 5.0, "ended"), ("dev-b", 2.0, 3.0, "released"), ("dev-c", 2.0, 3.0, "released"),
        ("dev-d", 4.0, 5.0, "ended")]
    assert store.get_session(session_id).devices == ("dev-a", "dev-d")
    with pytest.raises(SessionAlreadyEnded):
        store.scale_session(session_id, 2, candidates=["dev-b"], release_first=[], reported={}, now=6.0)


def test_scaling_up_with_too_few_free_devices_claims_nothing_unless_anyway(store: Store) -> None:
    seen(store, "dev-a", "dev-b", "dev-c")
    started = store.start_session(replace(MANY, devices=1), ["dev-a"], {}, now=1.0)
    store.start_session(REQUEST, ["dev-c"], {}, now=1.0)
    with pytest.raises(NotEnoughDevices) as info:
        store.scale_session(started.session.id, 3, candidates=["dev-b", "dev-c"], release_first=[], reported={},
                            now=2.0)
    assert info.value.message == (f"3 devices wanted but only 1 free besides the 1 serving it: 2 check "
                                  f"in about {capacity(2)} students in 5 minutes; pass --anyway to add them")
    assert serving(store) == {"dev-a", "dev-c"}
    anyway = store.scale_session(started.session.id, 3, candidates=["dev-b", "dev-c"], release_first=[],
                                 reported={}, now=2.0, anyway=True)
    assert [d.device_id for d in anyway.added] == ["dev-b"]
    with pytest.raises(NoDeviceAvailable):
        store.scale_session(started.session.id, 4, candidates=["dev-c"], release_first=[], reported={}, now=3.0)


def test_a_move_is_kept_in_the_history(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    started = store.start_session(REQUEST, ["dev-a"], {}, now=1.0)
    store.move_session(started.session.id, "dev-a", ["dev-b"], reported={}, now=2.0)
    assert [(h.device_id, h.left_at, h.left_why) for h in store.session_history(started.session.id)] == [
        ("dev-a", 2.0, "moved"), ("dev-b", None, None)]


def test_racing_multi_device_claims_never_share_a_device(store: Store) -> None:
    devices = [f"dev-{i}" for i in range(6)]
    seen(store, *devices)
    won: list[tuple[str, ...]] = []
    lost: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            started = store.start_session(replace(REQUEST, devices=2), devices, {}, now=1.0)
            with lock:
                won.append(started.session.devices)
        except (NoDeviceAvailable, NotEnoughDevices) as exc:
            with lock:
                lost.append(str(exc))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    claimed = [d for devices_of in won for d in devices_of]
    assert len(won) == 3 and len(lost) == 3 and sorted(claimed) == devices
    assert serving(store) == set(devices)


def test_migrations_match_the_models(store: Store) -> None:
    """A model change without its Alembic revision fails here (run `alembic revision --autogenerate`)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_large_fleet_flushes_in_one_go(store: Store) -> None:
    """8,000 dirty devices after a restart: PostgreSQL refuses statements with over 65,535 parameters."""
    store.flush_liveness([LivenessRow(f"dev-{i:05d}", 100.0 + i, 1, "fw", None, None) for i in range(8000)], now=1.0)
    assert len(store.load_devices()) == 8000


def test_database_errors_leave_the_store_as_store_errors(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE attendance"))
    with pytest.raises(StoreError) as caught:
        store.attendance_counts()
    assert "attendance" in str(caught.value) and "\n" not in str(caught.value)


def test_a_database_that_cannot_be_opened_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store(f"sqlite:///{tmp_path / 'missing' / 'fleet.db'}")


def test_a_sessions_owner_is_read_alone_and_an_unknown_session_is_unknown(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    mine = store.start_session(REQUEST, ["dev-a"], {}, now=1.0, started_by="alice")
    nobodys = store.start_session(REQUEST, ["dev-b"], {}, now=2.0)
    assert store.session_owner(mine.session.id) == "alice"
    assert store.session_owner(nobodys.session.id) == ""  # from before owners were recorded
    with pytest.raises(UnknownSession, match="no session 999"):
        store.session_owner(999)


def test_marking_a_session_applied_returns_its_apply_delay_the_first_time_only(store: Store) -> None:
    seen(store, "dev-a")
    started = store.start_session(REQUEST, ["dev-a"], {}, now=10.0)
    assert store.mark_session(started.session.id, error="bad config") is None  # rejected: not timed
    assert store.mark_session(started.session.id, applied_at=12.5) == 2.5
    assert store.mark_session(started.session.id, applied_at=20.0) is None  # settled again after a restart
    assert store.get_session(started.session.id).applied_at == 20.0
    assert store.mark_session(999, applied_at=1.0) is None


def test_liveness_loads_as_it_was_flushed(store: Store) -> None:
    row = LivenessRow("dev-a", 100.0, 3, "fw-1", "10.0.0.7", 4)
    store.flush_liveness([row], now=100.0)
    store.set_device("dev-never", name="spare", room=None)  # registered, never seen: no liveness
    assert store.load_liveness() == [row]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migrations_0004_and_0005_keep_what_is_known_of_sessions(dialect: str, tmp_path: Path) -> None:
    """A database of 0003 with an ended and an active two-device session: after the upgrade the
    active one lists both devices and the ended one its last first device, as before."""
    with (throwaway_postgres() if dialect == "postgresql" else nullcontext(f"sqlite:///{tmp_path / 'f.db'}")) as url:
        engine = make_engine(url)
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.execute(text(
                "INSERT INTO session (id, course_code, course_title, academic_session, semester, lecturer, started_by,"
                " device_id, ssid, password, label, name, location, config_version, failover_grace_s, moves, degraded,"
                " active, started_at, ended_at) VALUES "
                "(1, 'CS101', 'Intro', 'x', 'y', '', '', 'dev-a', 'S1', '', '', '', '', 1, 60, 0, false, false,"
                " 10, 20),"
                "(2, 'CS101', 'Intro', 'x', 'y', '', '', 'dev-b', 'S2', '', '', '', '', 1, 60, 0, false, true,"
                " 30, NULL)"))
            conn.execute(text(
                "INSERT INTO device (id, retired, approved, session_id, config_version) VALUES "
                "('dev-a', false, true, NULL, 2), ('dev-b', false, true, 2, 1), ('dev-c', false, true, 2, 1)"))
        engine.dispose()
        store = Store(url)
        try:
            assert [(s.id, s.devices) for s in store.sessions()] == [(1, ("dev-a",)), (2, ("dev-b", "dev-c"))]
            # 0005: an ended session ended when it did, one from before runs at most 4 h
            assert [s.ends_at for s in store.sessions()] == [20.0, 30.0 + MAX_SESSION_S]
            assert [(h.device_id, h.joined_at, h.left_at, h.left_why) for h in store.session_history(1)] == [
                ("dev-a", 10.0, 20.0, "ended")]
            assert sorted((h.device_id, h.joined_at, h.left_at) for h in store.session_history(2)) == [
                ("dev-b", 30.0, None), ("dev-c", 30.0, None)]
        finally:
            store.close()


def test_sessions_come_due_at_their_end_and_an_end_can_move(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    short = store.start_session(REQUEST, ["dev-a"], {}, now=100.0, ends_at=200.0)
    long = store.start_session(REQUEST, ["dev-b"], {}, now=100.0)
    assert (short.session.ends_at, long.session.ends_at) == (200.0, 100.0 + MAX_SESSION_S)  # none given: the maximum
    assert store.due_ends(199.0) == [] and store.due_ends(200.0) == [short.session.id]
    moved = store.set_session_end(short.session.id, 400.0)
    assert moved.ends_at == 400.0 and store.due_ends(300.0) == []
    assert [s.ends_at for s in store.sessions(active_only=True)] == [400.0, 100.0 + MAX_SESSION_S]
    store.end_session(short.session.id, {}, now=410.0)
    assert store.due_ends(1e9) == [long.session.id]  # an ended session is never due again
    with pytest.raises(SessionAlreadyEnded):
        store.set_session_end(short.session.id, 900.0)


def test_a_courses_usual_lengths_are_its_last_ended_sessions(store: Store) -> None:
    seen(store, "dev-a")
    for start, end in ((0.0, 3600.0), (10_000.0, 15_400.0), (20_000.0, 20_060.0)):
        started = store.start_session(REQUEST, ["dev-a"], {}, now=start)
        store.end_session(started.session.id, {}, now=end)
    store.start_session(REQUEST, ["dev-a"], {}, now=30_000.0)  # running: not a length yet
    assert store.usual_lengths("CS101") == [60.0, 5400.0, 3600.0] and store.usual_lengths("MA100") == []


# --- rosters, the late rule, manual marks --------------------------------------------------------


def test_a_roster_is_upserted_by_student_id_and_replaced_when_asked(store: Store) -> None:
    rosters = store.rosters
    assert rosters.import_roster("CS101", [RosterEntry("U1", "Ada"), RosterEntry("U2", "Alan")], replace=False) == (
        2, 0, 2)
    # a re-run of the same chunk changes nothing; a changed name or email is updated
    assert rosters.import_roster("CS101", [RosterEntry("U2", "Alan Turing", "alan@example.edu")],
                                 replace=False) == (0, 1, 2)
    rosters.import_roster("EE201", [RosterEntry("U9", "Grace")], replace=False)
    assert rosters.roster("CS101") == [RosterEntry("U1", "Ada"), RosterEntry("U2", "Alan Turing", "alan@example.edu")]
    assert rosters.import_roster("CS101", [RosterEntry("U3", "Edsger")], replace=True) == (1, 0, 1)
    assert [r.student_id for r in rosters.roster("CS101")] == ["U3"]
    assert [r.student_id for r in rosters.roster("EE201")] == ["U9"]  # another course's roster is untouched
    assert rosters.roster("XX1") == []


def test_a_courses_late_rule_defaults_to_ten_minutes_and_a_session_gives_a_set_up_course_its_title(
        store: Store) -> None:
    rosters = store.rosters
    assert rosters.course("CS101") is None
    set_up = rosters.set_course("CS101", late_after_s=None, title=None)
    assert (set_up.title, set_up.late_after_s) == ("", 600.0)
    assert store.courses() == []  # no title yet: not listed
    with pytest.raises(BadRequest, match="give its title once"):
        store.start_session(replace(REQUEST, title=None), ["dev-a"], {}, now=1.0)
    seen(store, "dev-a")
    store.start_session(REQUEST, ["dev-a"], {}, now=1.0, started_by="alice")
    assert rosters.set_course("CS101", late_after_s=300.0, title=None).late_after_s == 300.0
    assert rosters.course("CS101") == CourseRecord("CS101", "Intro", 300.0)
    assert rosters.course_owners("CS101") == {""}  # starting a session of it makes it nobody's
    assert rosters.set_course("CS101", late_after_s=None, title=None, owner="alice").owner == "alice"
    assert rosters.course_owners("CS101") == {"alice"} and rosters.course_owners("EE201") == {""}


def test_marks_are_kept_with_who_and_when_in_the_order_made(store: Store) -> None:
    seen(store, "dev-a")
    started = store.start_session(REQUEST, ["dev-a"], {}, now=1.0)
    sid = started.session.id
    store.rosters.mark(MarkRow(sid, "U1", "excused", "medical", "alice", 20.0))
    store.rosters.mark(MarkRow(sid, "U1", "present", "", "admin", 30.0))
    assert [(m.status, m.by, m.at) for m in store.rosters.marks_of([sid])] == [
        ("excused", "alice", 20.0), ("present", "admin", 30.0)]
    assert store.rosters.marks_of([]) == [] and store.rosters.marks_of([999]) == []
    with pytest.raises(UnknownSession):
        store.rosters.mark(MarkRow(999, "U1", "excused", "", "alice", 1.0))


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_migration_0007_gives_existing_courses_the_default_late_rule(dialect: str, tmp_path: Path) -> None:
    with (throwaway_postgres() if dialect == "postgresql" else nullcontext(f"sqlite:///{tmp_path / 'f.db'}")) as url:
        engine = make_engine(url)
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0004")
            conn.execute(text("INSERT INTO course (code, title) VALUES ('CS101', 'Intro')"))
        engine.dispose()
        store = Store(url)
        try:
            assert store.rosters.course("CS101") == CourseRecord("CS101", "Intro", 600.0)
            assert store.rosters.roster("CS101") == []
        finally:
            store.close()


def test_a_replacing_import_of_several_requests_removes_nobody_before_its_last(store: Store) -> None:
    rosters = store.rosters
    rosters.import_roster("CS101", [RosterEntry("U1", "Ada"), RosterEntry("U2", "Alan")], replace=True)
    rosters.import_roster("CS101", [RosterEntry("U2", "Alan T."), RosterEntry("U3", "Grace")], replace=True,
                          import_id="imp-1")
    assert [r.student_id for r in rosters.roster("CS101")] == ["U1", "U2", "U3"]  # a failed import stops here
    rosters.import_roster("CS101", [RosterEntry("U4", "Edsger")], replace=True, import_id="imp-1", final=True)
    assert [(r.student_id, r.name) for r in rosters.roster("CS101")] == [("U2", "Alan T."), ("U3", "Grace"),
                                                                        ("U4", "Edsger")]
    rosters.import_roster("CS101", [RosterEntry("U5", "Barbara")], replace=False)  # a plain upsert adds
    rosters.import_roster("CS101", [RosterEntry("U2", "Alan")], replace=True, import_id="imp-2", final=True)
    assert [r.student_id for r in rosters.roster("CS101")] == ["U2"]
