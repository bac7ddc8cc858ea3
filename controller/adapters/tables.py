"""The database's schema and plumbing: the SQLModel tables, a row's frozen value, engine creation
and migrations.

Only the store (and Alembic's environment) use these; the rest of the package sees the frozen
values of `controller.core.values`, made here from rows.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import BigInteger, Column, Engine, Index, Text, UniqueConstraint, event, text
from sqlmodel import Field, SQLModel, create_engine

from controller.contract.messages import Config
from controller.contract.report import DEFAULT_LATE_AFTER_S
from controller.contract.timetable import Lecture
from controller.core.values import CheckinRecord, DeviceEntry, RejectedRecord, SessionRecord
from controller.errors import StoreError

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x466C656574  # "Fleet"


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
    title: str = Field(max_length=100)  # "" for a course set up (course.set, a roster) before its first session
    late_after_s: float = DEFAULT_LATE_AFTER_S  # a check-in later than this after a session's start is late
    owner: str = Field(default="", max_length=64)  # the broker user who teaches it, set by an admin; "": nobody


class RosterStudent(SQLModel, table=True):
    """A student on a course's roster."""

    __tablename__ = "roster"
    __table_args__ = (UniqueConstraint("course_code", "student_id", name="uq_roster_student"),)
    id: int | None = Field(default=None, primary_key=True)
    course_code: str = Field(max_length=16, index=True)
    student_id: str = Field(max_length=32)
    name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254)
    import_id: str | None = Field(default=None, max_length=64)  # the replacing import that last wrote it


class AttendanceMark(SQLModel, table=True):
    """A manual status for a student in a session (attendance.mark), kept with who and when; the
    latest for a (session, student) wins, the earlier ones are its history."""

    __tablename__ = "attendance_mark"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(index=True)
    student_id: str = Field(max_length=32)
    status: str = Field(max_length=16)
    note: str = Field(default="", max_length=200)
    marked_by: str = Field(max_length=64)
    marked_at: float


class FleetSession(SQLModel, table=True):
    __tablename__ = "session"
    __table_args__ = (
        Index("uq_active_device", "device_id", unique=True, sqlite_where=text("active"),
              postgresql_where=text("active")),
        Index("uq_active_ssid", "ssid", unique=True, sqlite_where=text("active"), postgresql_where=text("active")),
        Index("ix_session_active_ends", "ends_at", sqlite_where=text("active"), postgresql_where=text("active")),
    )
    id: int | None = Field(default=None, primary_key=True)
    course_code: str = Field(max_length=16, index=True)
    course_title: str = Field(max_length=100)
    academic_session: str = Field(max_length=16)
    semester: str = Field(max_length=32)
    lecturer: str = Field(default="", max_length=64)
    started_by: str = Field(default="", max_length=64)  # the broker user who asked; "" before migration 0003
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
    ends_at: float | None = None  # when the controller ends it; None only before 0005
    origin: str = Field(default="manual", max_length=16)  # ORIGINS: how it started
    begins_at: float | None = None  # when its lecture begins (lateness counts from it); None: at its start
    applied_at: float | None = None
    error: str | None = Field(default=None, max_length=128)


class SessionDevice(SQLModel, table=True):
    """One device's time serving one session: claimed at the start, by a failover or a scale-up;
    left when the session ended, moved away from it or released it (a scale-down)."""

    __tablename__ = "session_device"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(index=True)
    device_id: str = Field(max_length=32)
    joined_at: float
    left_at: float | None = None
    left_why: str | None = Field(default=None, max_length=16)  # LEFT_WHY


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


_WAITING = "state IN ('scheduled', 'no_device')"


class LectureRow(SQLModel, table=True):
    """One timetabled lecture: an occurrence of a series (`uid`), the scheduler's state of it and the
    session it started for it."""

    __tablename__ = "lecture"
    __table_args__ = (
        UniqueConstraint("uid", "starts_at", name="uq_lecture_uid_start"),
        Index("ix_lecture_waiting", "starts_at", sqlite_where=text(_WAITING), postgresql_where=text(_WAITING)),
        Index("ix_lecture_started", "session_id", sqlite_where=text("state = 'started'"),
              postgresql_where=text("state = 'started'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=255)
    course_code: str = Field(max_length=16, index=True)
    title: str = Field(max_length=100)
    room: str = Field(max_length=32)
    lecturer: str = Field(default="", max_length=64)
    academic_session: str = Field(max_length=16)
    semester: str = Field(max_length=32)
    starts_at: int = Field(sa_type=BigInteger, index=True)
    ends_at: int = Field(sa_type=BigInteger)
    session_id: int | None = None
    state: str = Field(default="scheduled", max_length=16)  # timetable.LECTURE_STATES
    error: str | None = Field(default=None, max_length=128)


class FirmwareImageRow(SQLModel, table=True):
    """A firmware image's record (firmware.add); its bytes are `<sha256>.bin` in the images directory."""

    __tablename__ = "firmware_image"
    version: str = Field(primary_key=True, max_length=31)
    sha256: str = Field(max_length=64, index=True)
    size: int = Field(sa_type=BigInteger)
    signature: str = Field(max_length=100)  # base64 of a DER ECDSA-Sig-Value
    notes: str = Field(default="", max_length=500)
    added_at: float
    added_by: str = Field(default="", max_length=64)


class ControllerLease(SQLModel, table=True):
    """The active/standby lease (`core.lease`): which controller acts, until when. One row per name."""

    __tablename__ = "controller_lease"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)  # the holder's controller_id
    expires_at: float
    term: int = Field(sa_type=BigInteger)  # counts the changes of holder
    since: float  # when the holder took it
class RolloutRow(SQLModel, table=True):
    """A firmware rollout (rollout.start): what it installs, how (canary, rate, halt threshold) and
    where it stands (`core.rollout.ROLLOUT_STATES`, `reason`: why it halted)."""

    __tablename__ = "rollout"
    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=31)
    target: str = Field(max_length=128)  # as status shows it: "room R", "devices a,b", "all"
    canary: float
    rate_per_min: float
    max_failures: float
    min_sample: int
    allow_downgrade: bool = False
    state: str = Field(default="running", max_length=16, index=True)
    reason: str = Field(default="", max_length=200)
    created_by: str = Field(default="", max_length=64)
    created_at: float
    updated_at: float


class RolloutDeviceRow(SQLModel, table=True):
    """One device of a rollout: its wave (0: the canary), where its update stands
    (`core.rollout.DEVICE_STATES`), the commands sent and the times of the last one and of the last change."""

    __tablename__ = "rollout_device"
    rollout_id: int = Field(primary_key=True)
    device_id: str = Field(primary_key=True, max_length=32, index=True)
    wave: int
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    changed_at: float
    commanded_at: float | None = None
    percent: int | None = None
    reason: str = Field(default="", max_length=64)


# --- rows to values: what leaves the store -------------------------------------------------------


def config_json(config: Config) -> str:
    """A desired config as the device row holds it."""
    return json.dumps(config.to_obj(), separators=(",", ":"))


def stored_config(raw: str) -> Config:
    return Config.from_obj(json.loads(raw))


def stored_id(row_id: int | None) -> int:
    if row_id is None:  # only a row never flushed has no id, and the store returns none of those
        raise StoreError("a row without an id left the database")
    return row_id


def session_record(row: FleetSession, serving: Collection[str] = ()) -> SessionRecord:
    """The session's frozen value; `serving`: its devices besides `device_id`, which is always first
    (an active session's claims, an ended one's devices when it ended)."""
    devices: tuple[str, ...] = (row.device_id,) if row.device_id else ()
    devices += tuple(sorted(d for d in serving if d != row.device_id))
    return SessionRecord(
        id=stored_id(row.id), course_code=row.course_code, course_title=row.course_title,
        academic_session=row.academic_session, semester=row.semester, lecturer=row.lecturer,
        started_by=row.started_by, device_id=row.device_id, ssid=row.ssid, room=row.room,
        config_version=row.config_version,
        failover_grace_s=row.failover_grace_s, moves=row.moves, moved_from=row.moved_from, degraded=row.degraded,
        active=row.active, started_at=row.started_at, ended_at=row.ended_at, applied_at=row.applied_at,
        error=row.error, devices=devices, ends_at=row.ends_at, begins_at=row.begins_at, origin=row.origin,
    )


def lecture_value(row: LectureRow) -> Lecture:
    return Lecture(stored_id(row.id), row.uid, row.course_code, row.title, row.room, row.lecturer,
                   row.academic_session, row.semester, row.starts_at, row.ends_at, row.session_id, row.state,
                   row.error)


def device_entry(row: Device) -> DeviceEntry:
    return DeviceEntry(
        id=row.id, first_seen=row.first_seen, last_seen=row.last_seen, boot=row.boot, fw=row.fw, ip=row.ip,
        applied_version=row.applied_version, name=row.name, room=row.room, retired=row.retired,
        approved=row.approved,
    )


def checkin_record(row: AttendanceRecord) -> CheckinRecord:
    return CheckinRecord(row.session_id, row.student_id, row.device_id, row.seq, row.station_mac, row.received_at)


def rejected_record(row: RejectedCheckin) -> RejectedRecord:
    return RejectedRecord(row.session_id, row.student_id, row.device_id, row.seq, row.reason, row.received_at)


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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision. Several controllers may start at once:
    on PostgreSQL an advisory lock lets one migrate while the others wait."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
