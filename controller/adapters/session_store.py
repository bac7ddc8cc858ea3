"""The store's sessions: start (claim devices), fail over, scale, end, settle, and read them back.

Each write is one transaction; the claim's bodies are in `claims`. A claim that loses a race for a
device or an SSID to another writer (a partial unique index refuses it) runs again with fresh data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from controller.adapters import claims
from controller.adapters.database import Database
from controller.adapters.tables import (
    Course,
    Device,
    FleetSession,
    config_json,
    session_record,
    stored_config,
    stored_id,
)
from controller.contract.messages import Config
from controller.contract.requests import SessionStartParams
from controller.core.schedule import MAX_SESSION_S, USUAL_OF
from controller.core.values import (
    CourseRecord,
    Desired,
    Ended,
    Moved,
    Scaled,
    ServedRecord,
    SessionRecord,
    Started,
)
from controller.errors import NoDeviceAvailable, UnknownSession

log = logging.getLogger(__name__)
T = TypeVar("T")
_CLAIM_ATTEMPTS = 5


def _records(s: Session, rows: Sequence[FleetSession]) -> list[SessionRecord]:
    """The sessions' frozen values, with the devices serving each, or that served it when it ended
    (two queries for all)."""
    serving = claims.serving(s, [stored_id(row.id) for row in rows if row.active])
    serving |= claims.served(s, [stored_id(row.id) for row in rows if not row.active])
    return [session_record(row, serving.get(stored_id(row.id), [])) for row in rows]


class SessionStore(Database):
    """Sessions in the database. `reported` arguments map a device id to the highest config version
    the device has reported (a device left out counts as 0)."""

    # --- sessions ---------------------------------------------------------------------------------

    def desired(self) -> list[Desired]:
        """Every device that has a desired config."""
        with self._reading() as s:
            rows = s.exec(select(Device.id, Device.config_json, Device.session_id).where(
                col(Device.config_json).is_not(None)))
            return [Desired(i, stored_config(raw), sid) for i, raw, sid in rows if raw is not None]

    def start_session(self, request: SessionStartParams, candidates: Iterable[str], reported: Mapping[str, int],
                      now: float, *, started_by: str = "", ends_at: float | None = None,
                      begins_at: float | None = None, lecture_id: int | None = None) -> Started:
        """Create a session, owned by user `started_by`, ending at `ends_at` (None: the longest a
        session may last), and claim the first free device of
        `candidates` (or the one the request names) in one transaction; the session's config is
        named by `core.naming`. A course's title is remembered, so later sessions need not repeat it."""
        candidates = list(candidates)  # a claim that raced goes through them again
        ends = now + MAX_SESSION_S if ends_at is None else ends_at
        terms = claims.Terms(started_by, ends, begins_at, lecture_id)
        return self._claiming(lambda s: claims.start(s, request, candidates, reported, now, terms=terms))

    def _claiming(self, claim: Callable[[Session], T]) -> T:
        """Run a claim in a transaction of its own; one that lost a race for a device or an SSID to
        another writer runs again with fresh data."""
        with self._translated():
            for attempt in range(_CLAIM_ATTEMPTS):
                try:
                    with Session(self.engine) as s, s.begin():
                        self._fenced(s)
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

    def usual_lengths(self, course: str) -> list[float]:
        """How long the course's last sessions that ended lasted, newest first (core.schedule)."""
        with self._reading() as s:
            rows = s.exec(select(FleetSession.started_at, FleetSession.ended_at).where(
                FleetSession.course_code == course, col(FleetSession.ended_at).is_not(None))
                .order_by(col(FleetSession.id).desc()).limit(USUAL_OF))
            return [ended - started for started, ended in rows if ended is not None]

    def set_session_end(self, session_id: int, ends_at: float, *, begins_at: float | None = None) -> SessionRecord:
        """Move a running session's end (and its lecture's begin, when given); SessionAlreadyEnded
        when it has ended."""
        with self._writing() as s:
            row = claims.active(s, session_id)
            row.ends_at = ends_at
            if begins_at is not None:
                row.begins_at = begins_at
            s.flush()
            return _records(s, [row])[0]

    def due_ends(self, now: float) -> list[int]:
        """The running sessions whose end has come, oldest end first."""
        with self._reading() as s:
            return [stored_id(i) for i in s.exec(select(FleetSession.id).where(
                col(FleetSession.active), col(FleetSession.ends_at) <= now).order_by(col(FleetSession.ends_at)))]

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
            return [CourseRecord(c.code, c.title, c.late_after_s, c.owner) for c in s.exec(
                select(Course).where(Course.title != "").order_by(col(Course.code)))]
