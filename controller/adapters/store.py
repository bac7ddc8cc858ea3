"""The store: every read and write of the controller's database, one transaction per method.

SQLModel over SQLite (WAL) by default, PostgreSQL by URL (the tables are in `tables`). The store
takes and returns the frozen values of `controller.core.values`, never a row, and turns database
errors into StoreError at its boundary. A claim is a conditional UPDATE (`... WHERE session_id IS
NULL`) inside the transaction that creates the session, and partial unique indexes on active
sessions' device and SSID back it up, so two controllers or two lecturers can never get one device
or one SSID. New configs are numbered by the version rule (`core.versions`) from the version the
caller says each device reported.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Engine, case, func
from sqlalchemy import select as select_columns
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session, SQLModel, col, select

from controller.adapters.firmware_store import FirmwareStore
from controller.adapters.lease_store import LeaseStore
from controller.adapters.lectures import TimetableStore
from controller.adapters.rollouts import RolloutStore
from controller.adapters.rosters import RosterStore
from controller.adapters.session_store import SessionStore
from controller.adapters.tables import (
    AttendanceRecord,
    Device,
    FleetSession,
    RejectedCheckin,
    checkin_record,
    device_entry,
    rejected_record,
)
from controller.contract.messages import Attendance
from controller.core.values import (
    CheckinRecord,
    DeviceEntry,
    DeviceInfo,
    IngestResult,
    LivenessRow,
    RejectedRecord,
)
from controller.errors import DeviceBusy, UnknownDevice, UnknownSession

_DEFAULT_INFO = DeviceInfo()
_FLUSH_CHUNK = 1000
"""Liveness rows per executemany: bounds the parameter sets held in memory at once."""


def _text(value: str | None) -> str | None:
    """Text a database can hold: PostgreSQL refuses NUL, which JSON can carry (\\u0000)."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _checkins(device_id: str, batch: Attendance, known: bool,
              now: float) -> tuple[list[dict[str, object]], list[dict[str, object]], dict[str, int]]:
    """A batch's events as attendance rows and rejected rows, with the rejected counted by reason
    (every event of a session the database does not know is rejected)."""
    rejected: dict[str, int] = {}
    rows: list[dict[str, object]] = []
    bad: list[dict[str, object]] = []
    for e in batch.events:
        reason = None if known else "unknown_session"
        if reason is None and not e.student_id_ok:
            reason = "bad_student_id"
        if reason is None:
            rows.append({"session_id": batch.session_id, "student_id": e.student_id, "device_id": device_id,
                         "seq": e.seq, "station_mac": e.station_mac, "received_at": now})
        else:
            rejected[reason] = rejected.get(reason, 0) + 1
            bad.append({"device_id": device_id, "session_id": batch.session_id,
                        "student_id": _text(e.student_id[:64]), "seq": e.seq, "reason": reason,
                        "received_at": now})
    return rows, bad, rejected


def _upsert_liveness(engine: Engine, insert: Any, rows: Sequence[LivenessRow], now: float, approve_new: bool) -> None:
    """Upsert liveness rows; `insert` is the dialect's INSERT (PostgreSQL's or SQLite's ON CONFLICT)."""
    # one statement executed for many parameter sets: compiling a 10k-row VALUES list took
    # seconds, and PostgreSQL refuses more than 65535 parameters in one statement
    table = SQLModel.metadata.tables["device"]
    stmt = insert(table)
    excluded = stmt.excluded
    updates: dict[str, ColumnElement[Any]] = {k: excluded[k] for k in ("boot", "fw", "ip", "applied_version")}
    seen = table.c.last_seen  # several controllers flush: never move last_seen backwards
    updates["last_seen"] = case((seen.is_(None) | (excluded.last_seen > seen), excluded.last_seen), else_=seen)
    updates["first_seen"] = func.coalesce(table.c.first_seen, excluded.first_seen)
    upsert = stmt.on_conflict_do_update(index_elements=["id"], set_=updates)
    with engine.begin() as conn:
        for start in range(0, len(rows), _FLUSH_CHUNK):  # parameter sets built a chunk at a time
            conn.execute(upsert, [
                {"id": r.device_id, "first_seen": now, "last_seen": r.last_seen, "boot": r.boot, "fw": _text(r.fw),
                 "ip": _text(r.ip), "applied_version": r.applied_version, "retired": False,
                 "approved": approve_new, "config_version": 0}
                for r in rows[start:start + _FLUSH_CHUNK]
            ])


def _known(s: Session, device_id: str) -> Device:
    device = s.get(Device, device_id)
    if device is None:
        raise UnknownDevice(f"no device {device_id!r} is known")
    return device


def _free(device: Device) -> Device:
    if device.session_id is not None:
        raise DeviceBusy(f"device {device.id} is serving session {device.session_id}: end it first")
    return device


class Store(TimetableStore, SessionStore):
    """All reads and writes of the controller's database: liveness, check-ins and the inventory
    here, sessions in SessionStore, the timetable in TimetableStore, the engine and transactions in
    Database, rosters in `rosters`, firmware images in `firmware`, rollouts in `rollouts`, the controller
    lease in `lease`."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.rosters = RosterStore(self._reading, self._writing)
        """Rosters, the courses' late rule, manual attendance marks."""
        self.firmware = FirmwareStore(self._reading, self._writing)
        """Firmware image records."""
        self.lease = LeaseStore(self._reading, self._unfenced, self._insert)
        """The active/standby lease of the controllers sharing this database."""
        self.rollouts = RolloutStore(self._reading, self._writing)
        """Firmware rollouts and their devices."""
    # --- liveness ---------------------------------------------------------------------------------

    def load_devices(self) -> list[DeviceEntry]:
        with self._reading() as s:
            return [device_entry(row) for row in s.exec(select(Device))]

    def load_liveness(self) -> list[LivenessRow]:
        """The liveness last flushed of every device that has been seen. Plain rows, not ORM
        objects: read at every start and resync, for fleets of many thousands."""
        with self._translated(), self.engine.connect() as conn:
            c = SQLModel.metadata.tables["device"].c
            rows = conn.execute(select_columns(c.id, c.last_seen, c.boot, c.fw, c.ip, c.applied_version).where(
                c.first_seen.is_not(None)))
            return [LivenessRow(sys.intern(i), seen, boot, fw, ip, applied)
                    for i, seen, boot, fw, ip, applied in rows]

    def load_inventory(self) -> dict[str, DeviceInfo]:
        """What operators set about every known device; devices with nothing set share one value."""
        with self._translated(), self.engine.connect() as conn:
            c = SQLModel.metadata.tables["device"].c
            inventory: dict[str, DeviceInfo] = {}
            for device_id, name, room, retired, approved in conn.execute(
                    select_columns(c.id, c.name, c.room, c.retired, c.approved)):
                info = DeviceInfo(name, room, retired, approved)
                inventory[sys.intern(device_id)] = _DEFAULT_INFO if info == _DEFAULT_INFO else info
            return inventory

    def flush_liveness(self, rows: Sequence[LivenessRow], now: float, *, approve_new: bool = True) -> list[str]:
        """Upsert the coalesced liveness of many devices in one statement; new devices are
        registered (pending approval when `approve_new` is False). Should the database refuse the
        batch for its content, rows are retried one by one and the ids it still refuses are
        returned (dropped), so one odd device can never stop every device's liveness."""
        with self._translated():
            return self._flush(rows, now, approve_new)

    def _flush(self, rows: Sequence[LivenessRow], now: float, approve_new: bool) -> list[str]:
        if not rows:
            return []
        try:
            _upsert_liveness(self.engine, self._insert, rows, now, approve_new)
            return []
        except (DataError, IntegrityError):
            if len(rows) == 1:
                return [rows[0].device_id]
        refused: list[str] = []
        for row in rows:
            refused += self._flush([row], now, approve_new)
        return refused

    # --- attendance -------------------------------------------------------------------------------

    def ingest(self, device_id: str, batch: Attendance, now: float) -> IngestResult:
        """Store a batch idempotently: one row per (session, student); rejected events recorded."""
        with self._writing() as s:
            rows, bad, rejected = _checkins(device_id, batch, s.get(FleetSession, batch.session_id) is not None, now)
            stored = 0
            if rows:
                inserted = s.execute(self._insert(AttendanceRecord).values(rows).on_conflict_do_nothing()
                                     .returning(col(AttendanceRecord.id)))
                stored = len(inserted.all())
            if bad:
                s.execute(self._insert(RejectedCheckin).values(bad).on_conflict_do_nothing())
        return IngestResult(max(e.seq for e in batch.events), stored, len(rows) - stored, rejected)

    def last_seq_before(self, device_id: str, session_id: int, seq: int) -> int | None:
        """The highest seq below `seq` stored (or recorded as rejected) from the device in the
        session, or, with none there yet, in the last earlier session the device is named for (seqs
        rise across sessions: a batch lost at a session's start shows too); None without one. Where
        a controller that just started resumes a device's acks (controller.core.acks): a bound
        from below (a session moved away by failover no longer names the device), which costs a
        held ack at most, never a lost check-in; by the indexed sessions, not a scan of every check-in."""
        with self._reading() as s:
            found = self._max_seq_before(s, device_id, session_id, seq)
            if found is None:
                earlier = s.exec(select(FleetSession.id).where(FleetSession.device_id == device_id,
                                                               col(FleetSession.id) < session_id)
                                 .order_by(col(FleetSession.id).desc()).limit(1)).first()
                if earlier is not None:
                    found = self._max_seq_before(s, device_id, earlier, seq)
        return found

    @staticmethod
    def _max_seq_before(s: Session, device_id: str, session_id: int, seq: int) -> int | None:
        found = [s.exec(select(func.max(table.seq)).where(table.session_id == session_id,
                                                         table.device_id == device_id, table.seq < seq)).one()
                 for table in (AttendanceRecord, RejectedCheckin)]
        return max((n for n in found if n is not None), default=None)

    def attendance(self, session_id: int) -> tuple[list[CheckinRecord], list[RejectedRecord]]:
        with self._reading() as s:
            if s.get(FleetSession, session_id) is None:
                raise UnknownSession(f"no session {session_id}")
            records = s.exec(select(AttendanceRecord).where(AttendanceRecord.session_id == session_id)
                             .order_by(col(AttendanceRecord.received_at), col(AttendanceRecord.id)))
            rejected = s.exec(select(RejectedCheckin).where(RejectedCheckin.session_id == session_id)
                              .order_by(col(RejectedCheckin.id)))
            return [checkin_record(r) for r in records], [rejected_record(r) for r in rejected]

    def attendance_counts(self) -> dict[int, int]:
        with self._reading() as s:
            rows = s.exec(select(AttendanceRecord.session_id, func.count()).group_by(
                col(AttendanceRecord.session_id)))
            return {sid: n for sid, n in rows}

    def records_of(self, session_ids: Sequence[int]) -> list[CheckinRecord]:
        if not session_ids:
            return []
        with self._reading() as s:
            return [checkin_record(r) for r in s.exec(select(AttendanceRecord).where(
                col(AttendanceRecord.session_id).in_(session_ids)).order_by(col(AttendanceRecord.id)))]

    # --- inventory --------------------------------------------------------------------------------

    def set_device(self, device_id: str, *, name: str | None, room: str | None) -> DeviceEntry:
        """Set a device's name and/or room ("" clears); an unknown id is registered, never seen."""
        with self._writing() as s:
            device = s.get(Device, device_id) or Device(id=device_id)
            if name is not None:
                device.name = name or None
            if room is not None:
                device.room = room or None
            s.add(device)
            s.flush()
            return device_entry(device)

    def set_retired(self, device_id: str, retired: bool) -> DeviceEntry:
        with self._writing() as s:
            device = _known(s, device_id)
            if retired:
                _free(device)
            device.retired = retired
            s.flush()
            return device_entry(device)

    def approve(self, device_id: str) -> DeviceEntry:
        with self._writing() as s:
            device = _known(s, device_id)
            device.approved = True
            s.flush()
            return device_entry(device)

    def forget(self, device_id: str) -> None:
        with self._writing() as s:
            s.delete(_free(_known(s, device_id)))
