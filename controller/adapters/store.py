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

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, case, func
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel, col, select

from controller.adapters import claims
from controller.adapters.lectures import TimetableStore
from controller.adapters.tables import (
    AttendanceRecord,
    Course,
    Device,
    FleetSession,
    RejectedCheckin,
    checkin_record,
    config_json,
    device_entry,
    make_engine,
    migrate,
    rejected_record,
    session_record,
    stored_config,
    stored_id,
)
from controller.contract.messages import Attendance, Config
from controller.contract.requests import SessionStartParams
from controller.core.values import (
    CheckinRecord,
    CourseRecord,
    Desired,
    DeviceEntry,
    DeviceInfo,
    Ended,
    IngestResult,
    LivenessRow,
    Moved,
    RejectedRecord,
    Scaled,
    ServedRecord,
    SessionRecord,
    Started,
)
from controller.errors import DeviceBusy, NoDeviceAvailable, StoreError, UnknownDevice, UnknownSession

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLAIM_ATTEMPTS = 5  # a claim that loses a race on a device or an SSID retries with fresh data
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


def _records(s: Session, rows: Sequence[FleetSession]) -> list[SessionRecord]:
    """The sessions' frozen values, with the devices serving each, or that served it when it ended
    (two queries for all)."""
    serving = claims.serving(s, [stored_id(row.id) for row in rows if row.active])
    serving |= claims.served(s, [stored_id(row.id) for row in rows if not row.active])
    return [session_record(row, serving.get(stored_id(row.id), [])) for row in rows]


def _known(s: Session, device_id: str) -> Device:
    device = s.get(Device, device_id)
    if device is None:
        raise UnknownDevice(f"no device {device_id!r} is known")
    return device


def _free(device: Device) -> Device:
    if device.session_id is not None:
        raise DeviceBusy(f"device {device.id} is serving session {device.session_id}: end it first")
    return device


class Store(TimetableStore):
    """All reads and writes of the controller's database (the timetable's in `TimetableStore`).
    `reported` arguments map a device id to the highest config version the device has reported (a
    device left out counts as 0)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            migrate(self.engine)
        except (OperationalError, ValueError, ImportError) as exc:
            raise StoreError(f"cannot open database {url}: {str(exc).splitlines()[0]}") from exc
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        self.answered = True

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database errors leave the store as StoreError, carrying the database's first line;
        `answered` records whether the database answered this use (the controller's readiness)."""
        try:
            yield
        except SQLAlchemyError as exc:
            self.answered = False
            raise StoreError(str(exc).splitlines()[0]) from exc
        self.answered = True

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._translated(), Session(self.engine) as s:
            yield s

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._translated(), Session(self.engine) as s, s.begin():
            yield s

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

    # --- sessions ---------------------------------------------------------------------------------

    def desired(self) -> list[Desired]:
        """Every device that has a desired config."""
        with self._reading() as s:
            rows = s.exec(select(Device.id, Device.config_json, Device.session_id).where(
                col(Device.config_json).is_not(None)))
            return [Desired(i, stored_config(raw), sid) for i, raw, sid in rows if raw is not None]

    def start_session(self, request: SessionStartParams, candidates: Iterable[str], reported: Mapping[str, int],
                      now: float, *, started_by: str = "") -> Started:
        """Create a session, owned by user `started_by`, and claim the first free device of
        `candidates` (or the one the request names) in one transaction; the session's config is
        named by `core.naming`. A course's title is remembered, so later sessions need not repeat it."""
        candidates = list(candidates)  # a claim that raced goes through them again
        return self._claiming(lambda s: claims.start(s, request, candidates, reported, now, started_by=started_by))

    def _claiming(self, claim: Callable[[Session], T]) -> T:
        """Run a claim in a transaction of its own; one that lost a race for a device or an SSID to
        another writer runs again with fresh data."""
        with self._translated():
            for attempt in range(_CLAIM_ATTEMPTS):
                try:
                    with Session(self.engine) as s, s.begin():
                        return claim(s)
                except IntegrityError as exc:
                    log.info("claim raced (%s); retrying", str(exc.orig).splitlines()[0])
                    if attempt == _CLAIM_ATTEMPTS - 1:
                        raise NoDeviceAvailable("every candidate device was claimed by someone else") from exc
        raise AssertionError("unreachable")

    def move_session(self, session_id: int, from_device: str, candidates: Iterable[str], *,
                     reported: Mapping[str, int], now: float) -> Moved:
        """Fail a session over to the first free candidate, in one transaction: the new device gets
        the session's config under its own next version, the old one a newer idle config (applied
        when it returns). NoDeviceAvailable leaves everything as it was."""
        with self._writing() as s:
            return claims.move(s, session_id, from_device, candidates, reported=reported, now=now)

    def scale_session(self, session_id: int, wanted: int, *, candidates: Iterable[str],
                      release_first: Sequence[str], reported: Mapping[str, int], now: float,
                      anyway: bool = False) -> Scaled:
        """Give an active session `wanted` devices, claiming free candidates or releasing devices
        (`claims.scale`), in one transaction; a refusal leaves everything as it was."""
        candidates = list(candidates)
        return self._claiming(lambda s: claims.scale(s, session_id, wanted, candidates=candidates,
                                                     release_first=release_first, reported=reported, now=now,
                                                     anyway=anyway))

    def set_degraded(self, session_id: int) -> None:
        """Mark a session degraded (no device was free to take it over); a move clears it."""
        with self._writing() as s:
            row = s.get(FleetSession, session_id)
            if row is not None:
                row.degraded = True

    def end_session(self, session_id: int, reported: Mapping[str, int], now: float) -> Ended:
        """End a session; its device gets a newer idle config. Ending twice is an error."""
        with self._writing() as s:
            return claims.end(s, session_id, reported, now)

    def bump(self, device_id: str, version: int) -> Config | None:
        """Re-issue a device's desired config under `version` (from the version rule), unless the
        database already holds that version or a newer one."""
        with self._writing() as s:
            device = s.get(Device, device_id)
            if device is None or device.config_json is None or version <= device.config_version:
                return None
            config = Config(version, stored_config(device.config_json).session)
            device.config_version = version
            device.config_json = config_json(config)
            if config.session is not None:
                session = s.get(FleetSession, config.session.session_id)
                if session is not None and session.device_id == device_id:  # the version it carries
                    session.config_version = version
                    session.applied_at = None
            return config

    def mark_session(self, session_id: int, *, applied_at: float | None = None,
                     error: str | None = None) -> float | None:
        """Record a session's outcome. Returns the seconds from its start to `applied_at` when this
        is the first apply of a session that never moved (what the apply-latency histogram times),
        else None (a restart settling it again, a failover, a rejection, an unknown session)."""
        with self._writing() as s:
            row = s.get(FleetSession, session_id)
            if row is None:
                return None
            first_apply = row.applied_at is None and row.moves == 0
            delay = applied_at - row.started_at if applied_at is not None and first_apply else None
            row.applied_at = applied_at
            row.error = error
            return delay

    def get_session(self, session_id: int) -> SessionRecord:
        with self._reading() as s:
            row = s.get(FleetSession, session_id)
            if row is None:
                raise UnknownSession(f"no session {session_id}")
            return _records(s, [row])[0]

    def session_history(self, session_id: int) -> list[ServedRecord]:
        """Every device's time serving the session, in the order they joined."""
        with self._reading() as s:
            return claims.history(s, session_id)

    def session_owner(self, session_id: int) -> str:
        """Who started a session (its `started_by`, "" when not recorded): one column, for a permission check."""
        with self._reading() as s:
            owner = s.exec(select(FleetSession.started_by).where(FleetSession.id == session_id)).first()
            if owner is None:
                raise UnknownSession(f"no session {session_id}")
            return owner

    def sessions(self, *, active_only: bool = False) -> list[SessionRecord]:
        with self._reading() as s:
            query = select(FleetSession).order_by(col(FleetSession.id))
            if active_only:
                query = query.where(col(FleetSession.active))
            return _records(s, s.exec(query).all())

    def course_sessions(self, course: str, session: str, semester: str) -> list[SessionRecord]:
        with self._reading() as s:
            return _records(s, s.exec(select(FleetSession).where(
                FleetSession.course_code == course, FleetSession.academic_session == session,
                FleetSession.semester == semester).order_by(col(FleetSession.id))).all())

    def courses(self) -> list[CourseRecord]:
        with self._reading() as s:
            return [CourseRecord(c.code, c.title) for c in s.exec(select(Course).order_by(col(Course.code)))]

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
