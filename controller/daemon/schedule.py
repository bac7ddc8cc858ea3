"""Sessions on the clock: each gets its end when it starts (`core.schedule`), the controller ends those
whose end has come, and it starts the timetable's lectures by itself.

Level-based: every `schedule_s` it asks the database which running sessions are due to end and which
lectures are due to start (`lead_s` before they begin, until they end), so an end moved by another
controller, a timetable imported a minute ago, or a lecture that came due while no controller ran is
acted on by whichever controller runs next. Two controllers acting on one session or lecture both
try; the claim and the end are conditional, so the second finds the work done.

A lecture's session: its course, room and times from the timetable, as many devices as its roster
needs, owned by the course's owner (origin `timetable`), and the lecture taken in the claim's own
transaction, so two controllers never start one lecture twice. No device free in the room: the
lecture is `no_device` (logged once, counted in the metrics) and retried every tick until it ends
(then `missed`). A session of the course a lecturer started by hand in the lecture's room is adopted
instead of a second one (its end moved to the lecture's, lateness counted from the lecture's begin).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from controller.adapters.store import Store
from controller.contract.requests import SessionStartParams
from controller.contract.timetable import Lecture
from controller.core import schedule
from controller.core.fleet import Fleet
from controller.core.values import Ended, SessionRecord, Started
from controller.daemon import failpoints
from controller.daemon.effects import Applier
from controller.daemon.settings import ControllerSettings
from controller.errors import (
    ApiError,
    LectureTaken,
    NoDeviceAvailable,
    NotEnoughDevices,
    SessionAlreadyEnded,
    StoreError,
    UnknownSession,
)

log = logging.getLogger(__name__)

class Schedule:
    """Starts and ends sessions: on request, and by the clock and the timetable."""

    def __init__(self, applier: Applier, settings: ControllerSettings) -> None:
        self._applier = applier
        self._store: Store = applier.store
        self._fleet: Fleet = applier.fleet
        self._settings = settings

    # --- one session ------------------------------------------------------------------------------

    def end_of(self, start: SessionStartParams, now: float) -> float:
        """When a session starting now ends: as asked, else after its course's usual length."""
        usual = schedule.usual_length(self._store.usual_lengths(start.course), self._settings.default_session_s)
        return schedule.end_of(now, until=start.until, duration_s=start.duration_s, usual_s=usual,
                               max_s=self._settings.max_session_s)

    def start(self, params: SessionStartParams, now: float, *, started_by: str, ends_at: float,
              begins_at: float | None = None, lecture_id: int | None = None) -> Started:
        """Claim the session's devices (`Fleet.candidates`, the store's claim) and publish their
        configs; for a lecture, take it in the same transaction (LectureTaken: another controller did)."""
        self._applier.note_transitions(now)
        order = self._fleet.candidates(params.room, params.any_room, params.device, now)
        started = self._store.start_session(params, order, self._fleet.reported(), now, started_by=started_by,
                                            ends_at=ends_at, begins_at=begins_at, lecture_id=lecture_id)
        failpoints.hit("after_claim_commit")
        row, first = started.session, started.desired[0]
        log.info("session %d (%s %s %s) started by %s on %s as %s, config version %d", row.id, row.course_code,
                 row.academic_session, row.semester, row.started_by or row.origin, ", ".join(row.devices), row.ssid,
                 first.config.version)
        self._applier.apply(self._fleet.started(started.desired, params.failover_grace_s), now)
        return started

    def end(self, session_id: int, now: float) -> Ended:
        """End a session: every device still serving it goes idle, its waiters are answered."""
        ended = self._store.end_session(session_id, self._fleet.reported(), now)
        self._applier.apply(self._fleet.ended(session_id, ended.idle), now)
        return ended

    def timetabled(self, course: str) -> SessionRecord | None:
        """The running session of `course` the timetable started, if there is one."""
        return _running(self._store.sessions(active_only=True), course, "timetable")

    # --- the clock --------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """End the sessions whose end has come and start the lectures due (the controller calls it
        every `schedule_s`). Each is its own unit: one that fails is logged and the rest go on (the
        next tick retries it)."""
        for session_id in self._store.due_ends(now):
            self._guarded(f"ending session {session_id}", partial(self._end_due, session_id, now))
        due = self._store.due_lectures(now, self._settings.lead_s)
        if due:
            running = self._store.sessions(active_only=True)
            for lecture in due:
                self._guarded(f"starting lecture {lecture.id}", partial(self._start_lecture, lecture, running, now))
        for lecture in self._store.settle_lectures(now):
            log.warning("lecture %d (%s in %s) ended without a session: %s", lecture.id, lecture.course,
                        lecture.room, lecture.error or "no device was free")

    @staticmethod
    def _guarded(what: str, work: Callable[[], None]) -> None:
        try:
            work()
        except StoreError as exc:
            log.error("database error %s (will retry): %s", what, exc)
        except (ApiError, LectureTaken) as exc:
            log.info("%s: %s", what, exc)

    def _end_due(self, session_id: int, now: float) -> None:
        try:
            ended = self.end(session_id, now)
        except (SessionAlreadyEnded, UnknownSession):  # another controller was first
            return
        log.info("session %d reached its end (%.0f s ago) and was ended", session_id,
                 now - (ended.session.ends_at or now))

    def _start_lecture(self, lecture: Lecture, running: Sequence[SessionRecord], now: float) -> None:
        """Adopt the course's session a lecturer started by hand in the lecture's room, or start one."""
        manual = _running(running, lecture.course, "manual", room=lecture.room)
        if manual is not None:
            self._store.set_session_end(manual.id, max(manual.ends_at or now, lecture.ends_at),
                                        begins_at=lecture.starts_at)
            self._store.set_lecture_state(lecture.id, "started", manual.id, waiting_only=True)
            log.info("lecture %d (%s) adopted session %d, started by hand", lecture.id, lecture.course, manual.id)
            return
        course = self._store.rosters.course(lecture.course)
        params = SessionStartParams(course=lecture.course, title=lecture.title or None, session=lecture.session,
                                    semester=lecture.semester, lecturer=lecture.lecturer, room=lecture.room or None,
                                    students=self._store.rosters.size(lecture.course) or None, anyway=True)
        try:
            started = self.start(params, now, started_by=course.owner if course else "", ends_at=lecture.ends_at,
                                 begins_at=lecture.starts_at, lecture_id=lecture.id)
        except (NoDeviceAvailable, NotEnoughDevices) as exc:
            if lecture.state != "no_device":
                log.warning("lecture %d (%s in %s) has no device: %s; retrying until it ends", lecture.id,
                            lecture.course, lecture.room, exc.message)
            if (lecture.state, lecture.error) != ("no_device", exc.message):
                self._store.set_lecture_state(lecture.id, "no_device", None, exc.message, waiting_only=True)
            return
        except ApiError as exc:  # the timetable asks for what the controller refuses: said once, kept waiting
            if lecture.error != exc.message:
                log.warning("lecture %d (%s) cannot start: %s", lecture.id, lecture.course, exc.message)
                self._store.set_lecture_state(lecture.id, lecture.state, None, exc.message, waiting_only=True)
            return
        log.info("lecture %d (%s in %s) started as session %d", lecture.id, lecture.course, lecture.room,
                 started.session.id)


def _running(sessions: Sequence[SessionRecord], course: str, origin: str, *,
             room: str | None = None) -> SessionRecord | None:
    """The first of `sessions` of `course` that began as `origin` (in `room` or with no room, when given)."""
    return next((s for s in sessions if s.course_code == course and s.origin == origin
                 and (room is None or s.room in (None, room))), None)
