"""The database: sessions, devices' desired configs, coalesced liveness and attendance.

SQLModel over SQLite (WAL) by default, PostgreSQL by URL. Every method is one transaction. A claim
is a conditional UPDATE (`... WHERE session_id IS NULL`) inside the transaction that creates the
session, and partial unique indexes on active sessions' device and SSID back it up, so two
controllers or two lecturers can never get one device or one SSID.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Engine,
    Index,
    Text,
    UniqueConstraint,
    case,
    event,
    func,
    text,
    update,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from controller.contract.messages import Attendance, Config, SessionConfig
from controller.errors import (
    BadRequest,
    DeviceBusy,
    FleetError,
    NoDeviceAvailable,
    SessionEnded,
    UnknownDevice,
    UnknownSession,
)

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x466C656574  # "Fleet"
_CLAIM_ATTEMPTS = 5  # a claim that loses a race on a device or an SSID retries with fresh data


class Device(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=32)
    first_seen: float | None = None  # None: registered by an operator, never seen on the wire
    last_seen: float | None = None
    boot: int | None = Field(default=None, sa_type=BigInteger)  # counters are 0..2^32-1
    fw: str | None = Field(default=None, max_length=32)
    ip: str | None = Field(default=None, max_length=45)
    retired: bool = False
    approved: bool = True
    name: str | None = Field(default=None, max_length=64)
    room: str | None = Field(default=None, max_length=32, index=True)
    session_id: int | None = Field(default=None, index=True)
    config_version: int = Field(default=0, sa_type=BigInteger)
    config_json: str | None = Field(default=None, sa_column=Column(Text))
    applied_version: int | None = Field(default=None, sa_type=BigInteger)


class Course(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=16)
    title: str = Field(max_length=100)


class FleetSession(SQLModel, table=True):
    __tablename__ = "session"
    __table_args__ = (
        Index("uq_active_device", "device_id", unique=True, sqlite_where=text("active"),
              postgresql_where=text("active")),
        Index("uq_active_ssid", "ssid", unique=True, sqlite_where=text("active"), postgresql_where=text("active")),
    )
    id: int | None = Field(default=None, primary_key=True)
    course_code: str = Field(max_length=16, index=True)
    course_title: str = Field(max_length=100)
    academic_session: str = Field(max_length=16)
    semester: str = Field(max_length=32)
    lecturer: str = Field(default="", max_length=64)
    device_id: str | None = Field(default=None, max_length=32)
    ssid: str = Field(default="", max_length=32)
    password: str = Field(default="", max_length=63)
    label: str = Field(default="", max_length=96)
    name: str = Field(default="", max_length=128)
    location: str = Field(default="", max_length=128)
    room: str | None = Field(default=None, max_length=32)
    config_version: int = Field(default=0, sa_type=BigInteger)
    failover_grace_s: float = 60.0
    moves: int = 0
    moved_from: str | None = Field(default=None, max_length=32)
    degraded: bool = False
    active: bool = True
    started_at: float
    ended_at: float | None = None
    applied_at: float | None = None
    error: str | None = Field(default=None, max_length=128)


class AttendanceRecord(SQLModel, table=True):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "student_id", name="uq_attendance_student"),)
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(index=True)
    student_id: str = Field(max_length=32)
    device_id: str = Field(max_length=32)
    seq: int = Field(sa_type=BigInteger)
    station_mac: str | None = Field(default=None, max_length=17)
    received_at: float


class RejectedCheckin(SQLModel, table=True):
    __tablename__ = "rejected_checkin"
    __table_args__ = (UniqueConstraint("device_id", "seq", name="uq_rejected_device_seq"),)
    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(max_length=32)
    session_id: int = Field(index=True)
    student_id: str = Field(max_length=64)
    seq: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=32)
    received_at: float


@dataclass(frozen=True, slots=True)
class LivenessRow:
    """What a flush writes for one device."""

    device_id: str
    last_seen: float | None
    boot: int | None
    fw: str | None
    ip: str | None
    applied_version: int | None


@dataclass(frozen=True, slots=True)
class Desired:
    device_id: str
    config: Config
    session_id: int | None


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What an operator set about a device (the inventory), as the controller caches it."""

    name: str | None = None
    room: str | None = None
    retired: bool = False
    approved: bool = True


_DEFAULT_INFO = DeviceInfo()
_FLUSH_CHUNK = 1000
"""Liveness rows per executemany: bounds the parameter sets held in memory at once."""


@dataclass(frozen=True, slots=True)
class StartRequest:
    course: str
    title: str | None
    session: str
    semester: str
    lecturer: str = ""
    password: str = ""
    device: str | None = None
    room: str | None = None
    any_room: bool = False
    failover_grace_s: float = 60.0


@dataclass(frozen=True, slots=True)
class IngestResult:
    upto: int
    stored: int
    duplicates: int
    rejected: dict[str, int]


def _text(value: str | None) -> str | None:
    """Text a database can hold: PostgreSQL refuses NUL, which JSON can carry (\\u0000)."""
    return None if value is None else value.replace("\x00", "\ufffd")


def _json(config: Config) -> str:
    return json.dumps(config.to_obj(), separators=(",", ":"))


def _config(raw: str) -> Config:
    return Config.from_obj(json.loads(raw))


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign-thread use."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # an unreachable server fails a connect in 5 s instead of TCP's minutes: the controller reads
    # no message while a database call runs
    connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


class Store:
    """All reads and writes of the controller's database."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            self.migrate()
        except (OperationalError, ValueError, ImportError) as exc:
            raise FleetError(f"cannot open database {url}: {str(exc).splitlines()[0]}") from exc
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision. Several controllers may start at once:
        on PostgreSQL an advisory lock lets one migrate while the others wait."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()

    # --- liveness ---------------------------------------------------------------------------------

    def load_devices(self) -> list[Device]:
        with Session(self.engine) as s:
            return list(s.exec(select(Device)))

    def load_liveness(self) -> list[tuple[str, float | None, int | None, str | None]]:
        """(id, last_seen, boot, fw) of every device that has been seen. Plain rows, not ORM
        objects: read at every start and resync, for fleets of many thousands."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(Device.id, Device.last_seen, Device.boot, Device.fw).where(
                col(Device.first_seen).is_not(None)))
            return [(sys.intern(i), seen, boot, fw) for i, seen, boot, fw in rows]

    def load_inventory(self) -> dict[str, DeviceInfo]:
        """What operators set about every known device; devices with nothing set share one value."""
        with self.engine.connect() as conn:
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
        if not rows:
            return []
        try:
            self._upsert_liveness(rows, now, approve_new)
            return []
        except (DataError, IntegrityError):
            if len(rows) == 1:
                return [rows[0].device_id]
        refused: list[str] = []
        for row in rows:
            refused += self.flush_liveness([row], now, approve_new=approve_new)
        return refused

    def _upsert_liveness(self, rows: Sequence[LivenessRow], now: float, approve_new: bool) -> None:
        # one statement executed for many parameter sets: compiling a 10k-row VALUES list took
        # seconds, and PostgreSQL refuses more than 65535 parameters in one statement
        table = SQLModel.metadata.tables["device"]
        stmt = self._insert(table)
        excluded = stmt.excluded
        updates: dict[str, ColumnElement[Any]] = {k: excluded[k] for k in ("boot", "fw", "ip", "applied_version")}
        seen = table.c.last_seen  # several controllers flush: never move last_seen backwards
        updates["last_seen"] = case((seen.is_(None) | (excluded.last_seen > seen), excluded.last_seen), else_=seen)
        updates["first_seen"] = func.coalesce(table.c.first_seen, excluded.first_seen)
        upsert = stmt.on_conflict_do_update(index_elements=["id"], set_=updates)
        with self.engine.begin() as conn:
            for start in range(0, len(rows), _FLUSH_CHUNK):  # parameter sets built a chunk at a time
                conn.execute(upsert, [
                    {"id": r.device_id, "first_seen": now, "last_seen": r.last_seen, "boot": r.boot, "fw": _text(r.fw),
                     "ip": _text(r.ip), "applied_version": r.applied_version, "retired": False,
                     "approved": approve_new, "config_version": 0}
                    for r in rows[start:start + _FLUSH_CHUNK]
                ])

    # --- sessions ---------------------------------------------------------------------------------

    def desired(self) -> list[Desired]:
        """Every device that has a desired config."""
        with Session(self.engine) as s:
            rows = s.exec(select(Device.id, Device.config_json, Device.session_id).where(
                col(Device.config_json).is_not(None)))
            return [Desired(i, _config(raw), sid) for i, raw, sid in rows if raw is not None]

    def start_session(
        self,
        request: StartRequest,
        candidates: Iterable[str],
        make_config: Callable[[int, str, set[str], str | None], SessionConfig],
        reported_version: Callable[[str], int],
        now: float,
    ) -> tuple[FleetSession, Config]:
        """Create a session and claim the first free device of `candidates` in one transaction.

        `make_config(session_id, title, active_ssids, room)` builds the session's config;
        `reported_version(id)` is the highest version the device has reported (the version rule).
        A course's title is remembered, so later sessions need not repeat it.
        """
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                return self._start_session(request, candidates, make_config, reported_version, now)
            except IntegrityError as exc:  # another writer took the device or the SSID first
                log.info("claim raced (%s); retrying", str(exc.orig).splitlines()[0])
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise NoDeviceAvailable("every candidate device was claimed by someone else") from exc
        raise AssertionError("unreachable")

    def _start_session(
        self,
        request: StartRequest,
        candidates: Iterable[str],
        make_config: Callable[[int, str, set[str], str | None], SessionConfig],
        reported_version: Callable[[str], int],
        now: float,
    ) -> tuple[FleetSession, Config]:
        with Session(self.engine) as s, s.begin():
            if request.device is not None:
                device = s.get(Device, request.device)
                if device is None or device.retired or not device.approved:
                    raise UnknownDevice(f"no device {request.device!r} is known (or it is retired or unapproved)")
                if device.session_id is not None:
                    raise DeviceBusy(f"device {request.device} is serving session {device.session_id}")
                candidates = [request.device]
            title = self._course_title(s, request.course, request.title)
            row = FleetSession(course_code=request.course, course_title=title,
                               academic_session=request.session, semester=request.semester,
                               lecturer=request.lecturer, password=request.password, started_at=now,
                               failover_grace_s=request.failover_grace_s)
            s.add(row)
            s.flush()
            assert row.id is not None
            claimed = self._claim(s, candidates, row.id)
            if claimed is None:
                raise NoDeviceAvailable("no online device is free: every device is offline or serving a session")
            taken = set(s.exec(select(FleetSession.ssid).where(col(FleetSession.active))))
            session_config = make_config(row.id, title, taken, claimed.room)
            version = max(claimed.config_version, reported_version(claimed.id)) + 1
            config = Config(version, session_config)
            claimed.config_version = version
            claimed.config_json = _json(config)
            row.device_id = claimed.id
            row.ssid = session_config.ssid
            row.label = session_config.device_id
            row.name = session_config.device_name
            row.location = session_config.location
            row.room = claimed.room
            row.config_version = version
            s.add(claimed)
            s.add(row)
            s.flush()
            s.expunge(row)
            return row, config

    @staticmethod
    def _course_title(s: Session, code: str, title: str | None) -> str:
        course = s.get(Course, code)
        if title is None:
            if course is None:
                raise BadRequest(f"course {code} is new: give its title once (--title)")
            return course.title
        if course is None:
            s.add(Course(code=code, title=title))
        elif course.title != title:
            course.title = title
        return title

    @staticmethod
    def _claim(s: Session, candidates: Iterable[str], session_id: int) -> Device | None:
        for device_id in candidates:
            result = s.execute(
                update(Device)
                .where(col(Device.id) == device_id, col(Device.session_id).is_(None), col(Device.retired).is_(False),
                       col(Device.approved).is_(True))
                .values(session_id=session_id)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return s.get(Device, device_id)
        return None

    def move_session(
        self, session_id: int, from_device: str, candidates: Iterable[str], reported_version: Callable[[str], int],
        now: float,
    ) -> tuple[FleetSession, Config, Config | None]:
        """Fail a session over to the first free candidate, in one transaction: the new device gets
        the session's config under its own next version, the old one a newer idle config (applied
        when it returns). NoDeviceAvailable leaves everything as it was."""
        with Session(self.engine) as s, s.begin():
            row = s.get(FleetSession, session_id)
            if row is None or not row.active or row.device_id != from_device:
                raise UnknownSession(f"session {session_id} is no longer active on {from_device}")
            old = s.get(Device, row.device_id)
            if old is None or old.config_json is None:
                raise UnknownDevice(f"session {session_id} has no device to move from")
            claimed = self._claim(s, [c for c in candidates if c != old.id], session_id)
            if claimed is None:
                raise NoDeviceAvailable(f"no free device to take over session {session_id}")
            session_config = _config(old.config_json).session
            config = Config(max(claimed.config_version, reported_version(claimed.id)) + 1, session_config)
            claimed.config_version = config.version
            claimed.config_json = _json(config)
            idle = Config(max(old.config_version, reported_version(old.id)) + 1)
            old.session_id = None
            old.config_version = idle.version
            old.config_json = _json(idle)
            row.moved_from, row.device_id = old.id, claimed.id
            row.moves += 1
            row.degraded = False
            row.config_version = config.version
            row.applied_at = None
            row.error = None
            s.flush()
            s.expunge(row)
            return row, config, idle

    def set_degraded(self, session_id: int, degraded: bool) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(FleetSession, session_id)
            if row is not None:
                row.degraded = degraded

    def end_session(self, session_id: int, reported_version: Callable[[str], int], now: float) -> tuple[FleetSession,
                                                                                                       Config | None]:
        """End a session; its device gets a newer idle config. Ending twice is an error."""
        with Session(self.engine) as s, s.begin():
            row = s.get(FleetSession, session_id)
            if row is None:
                raise UnknownSession(f"no session {session_id}")
            if not row.active:
                raise SessionEnded(f"session {session_id} has already ended")
            row.active = False
            row.ended_at = now
            config = None
            device = s.get(Device, row.device_id) if row.device_id else None
            if device is not None and device.session_id == session_id:
                config = Config(max(device.config_version, reported_version(device.id)) + 1)
                device.session_id = None
                device.config_version = config.version
                device.config_json = _json(config)
                s.add(device)
            s.add(row)
            s.flush()
            s.expunge(row)
            return row, config

    def bump(self, device_id: str, version: int) -> Config | None:
        """Re-issue a device's desired config under a newer version (the version rule)."""
        with Session(self.engine) as s, s.begin():
            device = s.get(Device, device_id)
            if device is None or device.config_json is None or version <= device.config_version:
                return None
            old = _config(device.config_json)
            config = Config(version, old.session)
            device.config_version = version
            device.config_json = _json(config)
            if config.session is not None:
                session = s.get(FleetSession, config.session.session_id)
                if session is not None:
                    session.config_version = version
                    session.applied_at = None
            return config

    def mark_session(self, session_id: int, *, applied_at: float | None = None, error: str | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.get(FleetSession, session_id)
            if row is not None:
                row.applied_at = applied_at
                row.error = error

    def get_session(self, session_id: int) -> FleetSession:
        with Session(self.engine) as s:
            row = s.get(FleetSession, session_id)
            if row is None:
                raise UnknownSession(f"no session {session_id}")
            return row

    def sessions(self, *, active_only: bool = False) -> list[FleetSession]:
        with Session(self.engine) as s:
            query = select(FleetSession).order_by(col(FleetSession.id))
            if active_only:
                query = query.where(col(FleetSession.active))
            return list(s.exec(query))

    # --- attendance -------------------------------------------------------------------------------

    def ingest(self, device_id: str, batch: Attendance, now: float) -> IngestResult:
        """Store a batch idempotently: one row per (session, student); rejected events recorded."""
        rejected: dict[str, int] = {}
        rows: list[dict[str, object]] = []
        bad: list[dict[str, object]] = []
        with Session(self.engine) as s, s.begin():
            known = s.get(FleetSession, batch.session_id) is not None
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
            stored = 0
            if rows:
                inserted = s.execute(self._insert(AttendanceRecord).values(rows).on_conflict_do_nothing()
                                     .returning(col(AttendanceRecord.id)))
                stored = len(inserted.all())
            if bad:
                s.execute(self._insert(RejectedCheckin).values(bad).on_conflict_do_nothing())
        return IngestResult(max(e.seq for e in batch.events), stored, len(rows) - stored, rejected)

    def attendance(self, session_id: int) -> tuple[list[AttendanceRecord], list[RejectedCheckin]]:
        with Session(self.engine) as s:
            if s.get(FleetSession, session_id) is None:
                raise UnknownSession(f"no session {session_id}")
            records = s.exec(select(AttendanceRecord).where(AttendanceRecord.session_id == session_id)
                             .order_by(col(AttendanceRecord.received_at), col(AttendanceRecord.id)))
            rejected = s.exec(select(RejectedCheckin).where(RejectedCheckin.session_id == session_id)
                              .order_by(col(RejectedCheckin.id)))
            return list(records), list(rejected)

    def attendance_counts(self) -> dict[int, int]:
        with Session(self.engine) as s:
            rows = s.exec(select(AttendanceRecord.session_id, func.count()).group_by(
                col(AttendanceRecord.session_id)))
            return {sid: n for sid, n in rows}

    # --- inventory --------------------------------------------------------------------------------

    def set_device(self, device_id: str, *, name: str | None, room: str | None) -> Device:
        """Set a device's name and/or room ("" clears); an unknown id is registered, never seen."""
        with Session(self.engine) as s, s.begin():
            device = s.get(Device, device_id)
            if device is None:
                device = Device(id=device_id)
            if name is not None:
                device.name = name or None
            if room is not None:
                device.room = room or None
            s.add(device)
            s.flush()
            s.expunge(device)
            return device

    def _known(self, s: Session, device_id: str) -> Device:
        device = s.get(Device, device_id)
        if device is None:
            raise UnknownDevice(f"no device {device_id!r} is known")
        return device

    def set_retired(self, device_id: str, retired: bool) -> Device:
        with Session(self.engine) as s, s.begin():
            device = self._known(s, device_id)
            if retired and device.session_id is not None:
                raise DeviceBusy(f"device {device_id} is serving session {device.session_id}: end it first")
            device.retired = retired
            s.flush()
            s.expunge(device)
            return device

    def approve(self, device_id: str) -> Device:
        with Session(self.engine) as s, s.begin():
            device = self._known(s, device_id)
            device.approved = True
            s.flush()
            s.expunge(device)
            return device

    def forget(self, device_id: str) -> None:
        with Session(self.engine) as s, s.begin():
            device = self._known(s, device_id)
            if device.session_id is not None:
                raise DeviceBusy(f"device {device_id} is serving session {device.session_id}: end it first")
            s.delete(device)

    def courses(self) -> list[Course]:
        with Session(self.engine) as s:
            return list(s.exec(select(Course).order_by(col(Course.code))))

    def course_sessions(self, course: str, session: str, semester: str) -> list[FleetSession]:
        with Session(self.engine) as s:
            return list(s.exec(select(FleetSession).where(
                FleetSession.course_code == course, FleetSession.academic_session == session,
                FleetSession.semester == semester).order_by(col(FleetSession.id))))

    def records_of(self, session_ids: Sequence[int]) -> list[AttendanceRecord]:
        if not session_ids:
            return []
        with Session(self.engine) as s:
            return list(s.exec(select(AttendanceRecord).where(col(AttendanceRecord.session_id).in_(session_ids))
                               .order_by(col(AttendanceRecord.id))))
