"""The fleet's stored facts as frozen values: what the store takes and returns.

Sessions, devices' desired configs and inventory, liveness to write, check-ins and the outcome of
a claim, a move or an end. The database adapter converts its rows into these at its boundary, so
the rest of the package never holds a database row; an id here is one the database has given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from controller.contract.messages import Config
from controller.contract.report import DEFAULT_LATE_AFTER_S
from controller.core.liveness import DeviceLive
from controller.core.versions import applied_version


@dataclass(frozen=True, slots=True)
class LivenessRow:
    """What a flush writes for one device."""

    device_id: str
    last_seen: float | None
    boot: int | None
    fw: str | None
    ip: str | None
    applied_version: int | None

    @classmethod
    def of(cls, device: DeviceLive) -> LivenessRow:
        """The row of a device's liveness as the registry holds it (the version it runs, core.versions)."""
        return cls(device.device_id, device.last_seen, device.boot if device.boot >= 0 else None, device.fw,
                   device.ip, applied_version(device.reported))


@dataclass(frozen=True, slots=True)
class Desired:
    """A device's desired config, and the session it serves (None: idle)."""

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


NO_INFO: Final = DeviceInfo()
"""The inventory of a device no operator has set anything about."""


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A device as the database knows it: liveness as last flushed, and what an operator set."""

    id: str
    first_seen: float | None  # None: registered by an operator, never seen on the wire
    last_seen: float | None
    boot: int | None
    fw: str | None
    ip: str | None
    applied_version: int | None
    name: str | None
    room: str | None
    retired: bool
    approved: bool

    @property
    def info(self) -> DeviceInfo:
        return DeviceInfo(self.name, self.room, self.retired, self.approved)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session (its password stays in the device's config)."""

    id: int
    course_code: str
    course_title: str
    academic_session: str
    semester: str
    lecturer: str
    started_by: str
    """The user whose request started it (the requests topic's user level): what a lecturer owns."""
    device_id: str | None
    ssid: str
    room: str | None
    config_version: int
    failover_grace_s: float
    moves: int
    moved_from: str | None
    degraded: bool
    active: bool
    started_at: float
    ended_at: float | None
    applied_at: float | None
    error: str | None
    devices: tuple[str, ...] = ()
    """The devices serving it, `device_id` first; an ended session: those serving it at its end."""
    ends_at: float | None = None
    """When the controller ends it (None: a session from before migration 0005 that had ended)."""
    begins_at: float | None = None
    """When its lecture begins, from which lateness counts (None: at `started_at`)."""
    origin: str = "manual"
    """How it started: "manual" (a request) or "timetable" (the scheduler, for a lecture)."""


@dataclass(frozen=True, slots=True)
class Started:
    """A session created and its devices claimed: `desired` holds each one's new config, the
    session's `device_id` first."""

    session: SessionRecord
    desired: tuple[Desired, ...]


@dataclass(frozen=True, slots=True)
class Moved:
    """A session failed over: the new device's config (`to`) and the old one's idle config."""

    session: SessionRecord
    to: Desired
    idle: Desired


@dataclass(frozen=True, slots=True)
class Scaled:
    """A session's devices added or released while it runs: `added` hold the session's config under
    each one's own version, `released` each one's new idle config."""

    session: SessionRecord
    added: tuple[Desired, ...]
    released: tuple[Desired, ...]


LEFT_WHY: Final = ("ended", "moved", "released")
"""Why a device stopped serving a session: the session ended, failed over from it, or a scale-down
released it."""


@dataclass(frozen=True, slots=True)
class ServedRecord:
    """One device's time serving a session (a device that left and came back has two)."""

    device_id: str
    joined_at: float
    left_at: float | None
    left_why: str | None
    """One of LEFT_WHY; None while it serves."""


@dataclass(frozen=True, slots=True)
class Ended:
    """A session ended; `idle` holds the new idle config of each device still serving it."""

    session: SessionRecord
    idle: tuple[Desired, ...]


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What became of a batch of check-ins: the highest seq (to ack) and counts by outcome."""

    upto: int
    stored: int
    duplicates: int
    rejected: dict[str, int]


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    """A stored check-in: one per student and session."""

    session_id: int
    student_id: str
    device_id: str
    seq: int
    station_mac: str | None
    received_at: float


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A check-in refused, and why (`unknown_session`, `bad_student_id`)."""

    session_id: int
    student_id: str
    device_id: str
    seq: int
    reason: str
    received_at: float


@dataclass(frozen=True, slots=True)
class CourseRecord:
    """A course, with the title remembered from its first session, and its late rule."""

    code: str
    title: str
    late_after_s: float = DEFAULT_LATE_AFTER_S
    """A check-in later than this after a session's start is late."""
    owner: str = ""
    """The broker user who teaches it (its lecturer, set by an admin); "": nobody, admins only."""
