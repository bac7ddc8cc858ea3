"""The session transactions' bodies: start (claim devices), move (fail over), scale and end.

Each runs inside a transaction the store opens and returns the frozen outcome; a claim is a
conditional UPDATE, so a device another writer took in the meantime is passed over. New configs are
numbered by the version rule (`core.versions`) and named by `core.naming`. Every claim and release
is kept in `session_device`, so an ended session still says which devices served it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from controller.adapters.tables import (
    Course,
    Device,
    FleetSession,
    LectureRow,
    SessionDevice,
    config_json,
    session_record,
    stored_config,
    stored_id,
)
from controller.contract.messages import Config
from controller.contract.requests import SessionStartParams
from controller.contract.timetable import WAITING
from controller.core import sizing
from controller.core.naming import session_config
from controller.core.values import Desired, Ended, Moved, Scaled, ServedRecord, Started
from controller.core.versions import next_version
from controller.errors import (
    BadRequest,
    DeviceBusy,
    LectureTaken,
    NoDeviceAvailable,
    NotEnoughDevices,
    SessionAlreadyEnded,
    UnknownDevice,
    UnknownSession,
)


def _course_title(s: Session, code: str, title: str | None) -> str:
    """The course's title; a given one is remembered, so later sessions need not repeat it."""
    course = s.get(Course, code)
    if title is None:
        if course is None or not course.title:  # "": set up (a roster, its late rule) before any session
            raise BadRequest(f"course {code} is new: give its title once (--title)")
        return course.title
    if course is None:
        s.add(Course(code=code, title=title))
    elif course.title != title:
        course.title = title
    return title


def _claim(s: Session, candidates: Iterable[str], session_id: int) -> Device | None:
    """The first candidate that is free, now serving `session_id`; None when every one is taken."""
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


def _desire(device: Device, config: Config, session_id: int | None) -> Desired:
    """Make `config` the device's desired config (serving `session_id`, or idle)."""
    device.session_id = session_id
    device.config_version = config.version
    device.config_json = config_json(config)
    return Desired(device.id, config, session_id)


def _idle(device: Device, reported: Mapping[str, int]) -> Desired:
    """The device leaves its session: a newer idle config."""
    return _desire(device, Config(next_version(device.config_version, reported.get(device.id, 0))), None)


_IN_CHUNK = 5000
"""Ids in one IN list."""


def _joined(s: Session, session_id: int, devices: Iterable[Device], now: float) -> None:
    s.add_all(SessionDevice(session_id=session_id, device_id=d.id, joined_at=now) for d in devices)


def _left(s: Session, session_id: int, device_ids: Collection[str] | None, now: float, why: str) -> None:
    """The devices (None: all) stop serving the session (`why` one of LEFT_WHY)."""
    query = update(SessionDevice).where(col(SessionDevice.session_id) == session_id,
                                        col(SessionDevice.left_at).is_(None))
    if device_ids is not None:
        query = query.where(col(SessionDevice.device_id).in_(device_ids))
    s.execute(query.values(left_at=now, left_why=why))


def _take_lecture(s: Session, lecture_id: int, session_id: int) -> None:
    """The lecture is now served by the session, unless another controller started it first (then
    LectureTaken rolls the whole start back)."""
    taken = s.execute(update(LectureRow).where(col(LectureRow.id) == lecture_id,
                                               col(LectureRow.state).in_(WAITING))
                      .values(state="started", session_id=session_id, error=None))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise LectureTaken(f"lecture {lecture_id} was started by another controller")


def _explicit(s: Session, device_id: str) -> list[str]:
    """The one candidate a lecturer named, if it can serve."""
    device = s.get(Device, device_id)
    if device is None or device.retired or not device.approved:
        raise UnknownDevice(f"no device {device_id!r} is known (or it is retired or unapproved)")
    if device.session_id is not None:
        raise DeviceBusy(f"device {device_id} is serving session {device.session_id}")
    return [device_id]


def _claim_many(s: Session, candidates: Iterable[str], session_id: int, wanted: int) -> list[Device]:
    """Up to `wanted` free candidates, in order, each now serving `session_id`."""
    remaining = iter(candidates)  # each claim goes on from where the previous one stopped
    claimed: list[Device] = []
    while len(claimed) < wanted and (device := _claim(s, remaining, session_id)) is not None:
        claimed.append(device)
    return claimed


@dataclass(frozen=True, slots=True)
class Terms:
    """What a session starts with besides the request: who owns it, when it ends, and, for a
    timetabled one, when its lecture begins and which lecture it serves."""

    started_by: str
    ends_at: float
    begins_at: float | None = None
    lecture_id: int | None = None


def start(s: Session, request: SessionStartParams, candidates: Iterable[str], reported: Mapping[str, int],
          now: float, *, terms: Terms) -> Started:
    """Create the session (owned by `terms.started_by`) and claim the first free candidates (or the
    device the request names): as many as `core.sizing.wanted`, every one with the same session
    config under its own next version; fewer free is NotEnoughDevices unless the request says
    `anyway`."""
    if request.device is not None:
        candidates = _explicit(s, request.device)
    title = _course_title(s, request.course, request.title)
    row = FleetSession(course_code=request.course, course_title=title, academic_session=request.session,
                       semester=request.semester, lecturer=request.lecturer, password=request.password,
                       started_by=terms.started_by, started_at=now, failover_grace_s=request.failover_grace_s,
                       ends_at=terms.ends_at, begins_at=terms.begins_at,
                       origin="manual" if terms.lecture_id is None else "timetable")
    s.add(row)
    s.flush()
    session_id = stored_id(row.id)
    wanted = sizing.wanted(request)
    claimed = _claim_many(s, candidates, session_id, wanted)
    if not claimed:
        raise NoDeviceAvailable("no online device is free: every device is offline or serving a session")
    if len(claimed) < wanted and not request.anyway:
        raise NotEnoughDevices(sizing.shortfall(wanted, len(claimed), request.room))
    taken = set(s.exec(select(FleetSession.ssid).where(col(FleetSession.active))))
    named = session_config(request, session_id=session_id, title=title, taken_ssids=taken, room=claimed[0].room)
    desired = tuple(
        _desire(device, Config(next_version(device.config_version, reported.get(device.id, 0)), named), session_id)
        for device in claimed)
    first = desired[0]
    row.device_id, row.room, row.config_version = first.device_id, claimed[0].room, first.config.version
    row.ssid, row.label, row.name, row.location = named.ssid, named.device_id, named.device_name, named.location
    _joined(s, session_id, claimed, now)
    if terms.lecture_id is not None:
        _take_lecture(s, terms.lecture_id, session_id)
    s.flush()
    return Started(session_record(row, [d.device_id for d in desired]), desired)


def serving(s: Session, session_ids: Collection[int]) -> dict[int, list[str]]:
    """Session id → the devices whose claim is on it."""
    if not session_ids:
        return {}
    claims: dict[int, list[str]] = {}
    for device_id, session_id in s.exec(select(Device.id, Device.session_id).where(
            col(Device.session_id).in_(session_ids))):
        if session_id is not None:
            claims.setdefault(session_id, []).append(device_id)
    return claims


def served(s: Session, session_ids: Collection[int]) -> dict[int, list[str]]:
    """Session id → the devices serving it when it ended (for ended sessions). Many ids are read in
    chunks: a server caps the parameters of one statement (PostgreSQL's 65,535)."""
    devices: dict[int, list[str]] = {}
    ids = list(session_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        for device_id, session_id in s.exec(select(SessionDevice.device_id, SessionDevice.session_id).where(
                col(SessionDevice.session_id).in_(ids[start:start + _IN_CHUNK]), SessionDevice.left_why == "ended")):
            devices.setdefault(session_id, []).append(device_id)
    return devices


def history(s: Session, session_id: int) -> list[ServedRecord]:
    """Every device's time serving the session, in the order they joined."""
    return [ServedRecord(r.device_id, r.joined_at, r.left_at, r.left_why) for r in s.exec(
        select(SessionDevice).where(SessionDevice.session_id == session_id).order_by(col(SessionDevice.id)))]


def move(s: Session, session_id: int, from_device: str, candidates: Iterable[str], *,
         reported: Mapping[str, int], now: float) -> Moved:
    """Claim another device for one device of an active session; the one it leaves gets a newer idle
    config. Only the session's first device (`device_id`) carries the session row's version."""
    row = s.get(FleetSession, session_id, with_for_update=True)
    old = s.get(Device, from_device)
    if row is None or not row.active or old is None or old.session_id != session_id:
        raise UnknownSession(f"session {session_id} is no longer active on {from_device}")
    if old.config_json is None:
        raise UnknownDevice(f"session {session_id} has no device to move from")
    claimed = _claim(s, [c for c in candidates if c != old.id], session_id)
    if claimed is None:
        raise NoDeviceAvailable(f"no free device to take over session {session_id}")
    config = Config(next_version(claimed.config_version, reported.get(claimed.id, 0)),
                    stored_config(old.config_json).session)
    to = _desire(claimed, config, session_id)
    idle = _idle(old, reported)
    _left(s, session_id, [old.id], now, "moved")
    _joined(s, session_id, [claimed], now)
    row.moved_from = old.id
    row.moves += 1
    row.degraded = False
    if row.device_id == old.id:
        row.device_id = claimed.id
        row.config_version = config.version
        row.applied_at = None
        row.error = None
    s.flush()
    return Moved(session_record(row, serving(s, [session_id]).get(session_id, [])), to, idle)


def end(s: Session, session_id: int, reported: Mapping[str, int], now: float) -> Ended:
    """Mark the session ended; each device still serving it gets a newer idle config (the
    session's `device_id` first)."""
    row = active(s, session_id)
    row.active = False
    row.ended_at = now
    ids = sorted(serving(s, [session_id]).get(session_id, []), key=lambda d: (d != row.device_id, d))
    idle = tuple(_idle(device, reported) for device in (s.get(Device, d) for d in ids) if device is not None)
    _left(s, session_id, None, now, "ended")
    s.flush()
    return Ended(session_record(row, ids), idle)


def active(s: Session, session_id: int) -> FleetSession:
    """The running session, its row locked until the transaction ends (PostgreSQL; SQLite writers are
    serialised anyway): an end, a scale and a failover of one session never interleave, so no device
    is claimed for a session another controller is ending."""
    row = s.get(FleetSession, session_id, with_for_update=True)
    if row is None:
        raise UnknownSession(f"no session {session_id}")
    if not row.active:
        raise SessionAlreadyEnded(f"session {session_id} has already ended")
    return row


def scale(s: Session, session_id: int, wanted: int, *, candidates: Iterable[str], release_first: Sequence[str],
          reported: Mapping[str, int], now: float, anyway: bool) -> Scaled:
    """Give an active session `wanted` devices: claim free candidates (each gets the session's config
    under its own next version) or release devices (each a newer idle config). Released first: those
    in `release_first` (the caller's choice, e.g. offline ones), then the latest to join; never the
    session's first device. Too few free is NotEnoughDevices unless `anyway`, none NoDeviceAvailable."""
    row = active(s, session_id)
    joined = [r.device_id for r in history(s, session_id) if r.left_at is None]
    current = serving(s, [session_id]).get(session_id, [])
    added: tuple[Desired, ...] = ()
    released: tuple[Desired, ...] = ()
    if wanted > len(current):
        need = wanted - len(current)
        claimed = _claim_many(s, (c for c in candidates if c not in current), session_id, need)
        if not claimed:
            raise NoDeviceAvailable(f"no free device to add to session {session_id}"
                                    + (f" in room {row.room}" if row.room else ""))
        if len(claimed) < need and not anyway:
            raise NotEnoughDevices(sizing.shortfall(wanted, len(claimed), row.room, serving=len(current)))
        first = s.get(Device, row.device_id) if row.device_id else None
        if first is None or first.config_json is None:
            raise UnknownDevice(f"session {session_id} has no device to copy its config from")
        named = stored_config(first.config_json).session
        added = tuple(_desire(d, Config(next_version(d.config_version, reported.get(d.id, 0)), named), session_id)
                      for d in claimed)
        _joined(s, session_id, claimed, now)
    elif wanted < len(current):
        order = [*release_first, *reversed(joined), *sorted(current)]
        leaving = list(dict.fromkeys(d for d in order if d in current and d != row.device_id))
        leaving = leaving[:len(current) - wanted]
        released = tuple(_idle(device, reported) for device in (s.get(Device, d) for d in leaving)
                         if device is not None)
        _left(s, session_id, leaving, now, "released")
    s.flush()
    return Scaled(session_record(row, serving(s, [session_id]).get(session_id, [])), added, released)
