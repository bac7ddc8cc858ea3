"""The store on real databases: a SQLite file and the local PostgreSQL server (a database of its own)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from controller.adapters.store import LivenessRow, StartRequest, Store
from controller.contract.messages import Attendance, CheckinEvent, SessionConfig
from controller.core.naming import session_config
from controller.errors import DeviceBusy, NoDeviceAvailable, UnknownDevice
from tests.databases import throwaway_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'fleet.db'}")
        yield s
        s.close()
        return
    with throwaway_postgres() as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.close()

REQUEST = StartRequest("CS101", "Intro", "2024/2025", "1st Semester", "alice")


def make_config(session_id: int, title: str, taken: set[str], room: str | None) -> SessionConfig:
    return session_config(session_id=session_id, course="CS101", title=title, session="2024/2025",
                          semester="1st Semester", lecturer="alice", password="", taken_ssids=taken, room=room)


def seen(store: Store, *ids: str) -> None:
    store.flush_liveness([LivenessRow(i, 100.0, 1, "fw", None, None) for i in ids], now=100.0)


def test_claim_takes_the_first_free_candidate_and_versions_rise(store: Store) -> None:
    seen(store, "dev-a", "dev-b")
    row, config = store.start_session(REQUEST, ["dev-a", "dev-b"], make_config, lambda _: 0, now=1.0)
    assert (row.device_id, config.version, row.ssid) == ("dev-a", 1, "CS101_Attendance_2024_2025")
    row2, config2 = store.start_session(REQUEST, ["dev-a", "dev-b"], make_config, lambda _: 6, now=2.0)
    assert row2.device_id == "dev-b" and config2.version == 7  # max(stored 0, reported 6) + 1
    assert row2.ssid == "CS101_Attendance_2024_2025_2"  # unique among active sessions
    with pytest.raises(NoDeviceAvailable):
        store.start_session(REQUEST, ["dev-a", "dev-b"], make_config, lambda _: 0, now=3.0)
    ended, idle = store.end_session(row.id or 0, lambda _: 0, now=4.0)
    assert idle is not None and idle.version == 2 and not idle.active and not ended.active
    assert {d.device_id: d.session_id for d in store.desired()} == {"dev-a": None, "dev-b": row2.id}


def test_explicit_device(store: Store) -> None:
    seen(store, "dev-a")
    with pytest.raises(UnknownDevice):
        store.start_session(StartRequest("CS101", "Intro", "2024/2025", "1st", device="dev-zz"), [], make_config,
                            lambda _: 0, now=1.0)
    explicit = StartRequest("CS101", "Intro", "2024/2025", "1st", device="dev-a")
    store.start_session(explicit, [], make_config, lambda _: 0, now=1.0)
    with pytest.raises(DeviceBusy):
        store.start_session(explicit, [], make_config, lambda _: 0, now=2.0)


def test_attendance_is_idempotent_per_session_and_student(store: Store) -> None:
    seen(store, "dev-a")
    row, _ = store.start_session(REQUEST, ["dev-a"], make_config, lambda _: 0, now=1.0)
    batch = Attendance(row.id or 0, (CheckinEvent(1, "U1"), CheckinEvent(2, "U2"), CheckinEvent(3, "bad id")))
    first = store.ingest("dev-a", batch, now=5.0)
    again = store.ingest("dev-a", batch, now=6.0)
    assert (first.upto, first.stored, first.duplicates, first.rejected) == (3, 2, 0, {"bad_student_id": 1})
    assert (again.stored, again.duplicates) == (0, 2)
    records, rejected = store.attendance(row.id or 0)
    assert [r.student_id for r in records] == ["U1", "U2"]
    assert [(r.student_id, r.reason) for r in rejected] == [("bad id", "bad_student_id")]
    unknown = store.ingest("dev-a", Attendance(999, (CheckinEvent(4, "U3"),)), now=7.0)
    assert unknown.rejected == {"unknown_session": 1} and unknown.upto == 4


def test_liveness_flush_upserts(store: Store) -> None:
    seen(store, "dev-a")
    store.flush_liveness([LivenessRow("dev-a", 200.0, 2, "fw2", "10.0.0.9", 3)], now=200.0)
    [device] = store.load_devices()
    assert (device.last_seen, device.boot, device.fw, device.ip, device.applied_version, device.first_seen) == (
        200.0, 2, "fw2", "10.0.0.9", 3, 100.0)


def test_racing_claims_never_share_a_device_or_an_ssid(store: Store) -> None:
    devices = [f"dev-{i}" for i in range(5)]
    seen(store, *devices)
    won: list[tuple[str | None, str]] = []
    lost: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        try:
            row, _ = store.start_session(REQUEST, devices, make_config, lambda _: 0, now=1.0)
            with lock:
                won.append((row.device_id, row.ssid))
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


def test_migrations_match_the_models(store: Store) -> None:
    """A model change without its Alembic revision fails here (run `alembic revision --autogenerate`)."""
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_a_large_fleet_flushes_in_one_go(store: Store) -> None:
    """8,000 dirty devices after a restart: PostgreSQL refuses statements with over 65,535 parameters."""
    store.flush_liveness([LivenessRow(f"dev-{i:05d}", 100.0 + i, 1, "fw", None, None) for i in range(8000)], now=1.0)
    assert len(store.load_devices()) == 8000
