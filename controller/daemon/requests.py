"""The request API: the envelope checked, users rate limited and held to their role
(`core.access`), and each method answered by the handler the TABLE names for it (sessions, the
fleet, attendance, reports, the inventory).

Read requests (`session.list`, `devices.list`, `device.list`, `stats`, `attendance.list`,
`attendance.report`, `courses.list`, `roster.list`, `timetable.list`, `firmware.list`, `rollout.status`,
`rollout.list`)
answer from the present and change no state: `device.list` only writes pending liveness to the
database first (a flush, as the ticker's), so that devices seen since the last one are listed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from controller.adapters.store import Store
from controller.contract import requests
from controller.contract.decode import request_envelope
from controller.contract.firmware import FirmwareAdded, FirmwareAddParams, FirmwareList
from controller.contract.messages import (
    MAX_REQUEST_PAYLOAD,
    MAX_REQUEST_READ,
    JsonObject,
    Request,
    reply_ok,
)
from controller.contract.report import AttendanceReport, MarkRow
from controller.contract.requests import (
    AttendanceReportParams,
    DeviceParams,
    DeviceSetParams,
    DevicesListParams,
    Method,
    NoParams,
    SessionExtendParams,
    SessionListParams,
    SessionParams,
    SessionScaleParams,
    SessionStartParams,
    SessionWaitParams,
)
from controller.contract.results import (
    AttendanceList,
    CoursesList,
    DeviceForgotten,
    DeviceInventory,
    DevicesList,
    DeviceUpdated,
    SessionEnded,
    SessionExtended,
    SessionList,
    SessionScaled,
    SessionStarted,
    SessionWaited,
    StatsResult,
)
from controller.contract.roles import Role
from controller.contract.rollouts import (
    RolloutChanged,
    RolloutList,
    RolloutParams,
    RolloutStartParams,
    RolloutStatus,
    RolloutStatusParams,
)
from controller.contract.rosters import (
    AttendanceMarked,
    AttendanceMarkParams,
    CourseParams,
    CourseSetParams,
    CourseUpdated,
    RosterImported,
    RosterImportParams,
    RosterList,
)
from controller.contract.session_detail import SessionShown
from controller.contract.timetable import (
    TimetableImported,
    TimetableImportParams,
    TimetableList,
    TimetableListParams,
    TimetableRemoved,
    TimetableRemoveParams,
)
from controller.contract.topics import Topics
from controller.core import access, schedule, views
from controller.core.fleet import Fleet
from controller.core.ratelimit import Buckets
from controller.core.values import DeviceEntry
from controller.daemon.effects import Applier
from controller.daemon.roles import RoleTable
from controller.daemon.rollout import Rollouts
from controller.daemon.schedule import Schedule
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import ApiError, BadRequest, Forbidden, Rejected, SessionAlreadyEnded, SessionRunning, StoreError

log = logging.getLogger(__name__)

P = TypeVar("P", bound=requests.Wire)
R = TypeVar("R", bound=requests.Wire)


class Requests:
    """Answers requests from `{root}/controller/requests/{user}` on their reply topics."""

    def __init__(self, applier: Applier, *, settings: ControllerSettings, topics: Topics, stats: Stats,
                 clock: Callable[[], float], roles: RoleTable, schedule: Schedule, rollouts: Rollouts) -> None:
        self.applier = applier
        self.schedule = schedule
        self.rollouts = rollouts
        self.fleet: Fleet = applier.fleet
        self.store: Store = applier.store
        self.stats = stats
        self._settings = settings
        self._topics = topics
        self._clock = clock
        self._buckets = Buckets(settings.request_rate, settings.request_burst)
        self.roles = roles

    def handle(self, user: str, topic: str, payload: bytes | bytearray) -> None:
        """Answer a request of `user` (the broker user its topic names), or count why it cannot be.
        Once its id and reply topic are known, every fault is answered (`bad_request`,
        `rate_limited`, `forbidden`, ...), so no client waits for nothing."""
        outbox = self.applier.outbox
        try:
            envelope = request_envelope(self._topics, payload, max_bytes=MAX_REQUEST_READ)
        except Rejected as exc:
            self.stats.reject(exc.reason, topic, exc.detail)
            return
        request_id, reply_to = envelope.request_id, envelope.reply_to
        verdict = self._buckets.take(user, self._clock())
        if not verdict.allowed:
            self.stats.reject("rate_limited", topic, "a user over its request rate")
            if verdict.answer:
                outbox.error(reply_to, request_id, "rate_limited",
                             f"more than {self._settings.request_rate:g} requests/s; slow down")
            return
        try:
            if len(payload) > MAX_REQUEST_PAYLOAD:
                raise BadRequest(f"a request is at most {MAX_REQUEST_PAYLOAD} bytes, not {len(payload)}")
            try:
                request = Request.from_obj(envelope.obj, sender=user)
            except Rejected as exc:
                raise BadRequest(exc.detail or exc.reason) from exc
            result = self._timed_call(request)
        except ApiError as exc:
            self.stats.rejected[f"request_{exc.code}"] += 1
            outbox.error(reply_to, request_id, exc.code, exc.message)
            return
        except StoreError:
            outbox.error(reply_to, request_id, "internal", "the database failed; try again")
            raise
        except Exception:
            outbox.error(reply_to, request_id, "internal", "the controller failed; see its log")
            raise
        if result is not None:
            outbox.reply(request, reply_ok(request.id, result))

    def _timed_call(self, request: Request) -> JsonObject | None:
        started = time.perf_counter()
        try:
            return self._call(request)
        finally:  # refused and failed requests too: a slow database shows in their time
            self.applier.metrics.observe_request(request.method, time.perf_counter() - started)

    def _call(self, request: Request) -> JsonObject | None:
        route = TABLE.get(request.method)
        if route is None:
            raise ApiError(f"unknown method {request.method!r}", "unknown_method")
        params = route.method.params.from_obj(request.params)
        self._authorise(request.sender, request.method, params)
        now = self._clock()
        if route.flush_first:
            self.applier.flush(now)
        result = route.handler(self, params, request, now)
        return None if result is None else result.to_obj()

    def _authorise(self, user: str, method: str, params: requests.Wire) -> None:
        """Forbidden unless the role table lets `user` call `method` (on these params, for a grant
        limited to the user's own sessions). Without a role table everyone may do everything."""
        if isinstance(params, (SessionParams, SessionWaitParams, SessionScaleParams, SessionExtendParams,
                               AttendanceMarkParams)):
            session_id = params.session_id
            self._permit(user, method, lambda: {self.store.session_owner(session_id)})
        elif isinstance(params, (CourseParams, CourseSetParams, RosterImportParams, AttendanceReportParams)):
            # a lecturer's course: the one an admin made it the owner of (a course with no owner: admins')
            course = params.course
            self._permit(user, method, lambda: self.store.rosters.course_owners(course))
            if isinstance(params, CourseSetParams) and params.owner is not None and self.roles.enforced and (
                    self.roles.role(user) is not Role.ADMIN):
                raise Forbidden(f"only an admin sets who teaches a course (user {user})")
        else:
            self._permit(user, method, None)

    def _permit(self, user: str, method: str, owners: Callable[[], Collection[str]] | None) -> None:
        """Forbidden unless `user`'s role grants `method`; a grant limited to the user's own
        sessions needs `owners` (who started the sessions the request touches, read only then;
        None: it touches none) to say they are the user's (`access.owns`)."""
        if not self.roles.enforced:
            return
        role = self.roles.role(user)
        granted = access.grant(role, method)
        if granted is access.Grant.ANY or (
                granted is access.Grant.OWN and owners is not None and access.owns(user, owners())):
            return
        raise Forbidden(access.refusal(user, role, method, granted))

    # --- sessions ---------------------------------------------------------------------------------

    def session_start(self, start: SessionStartParams, request: Request, now: float) -> SessionStarted:
        timetabled = self.schedule.timetabled(start.course)
        if timetabled is not None:
            ends = datetime.fromtimestamp(timetabled.ends_at or now, UTC).strftime("%H:%M UTC")
            raise SessionRunning(f"{start.course} is in session {timetabled.id}, which the timetable started and ends "
                                 f"at {ends}: its students check in there (fleet session show {timetabled.id})")
        started = self.schedule.start(start, now, started_by=request.sender, ends_at=self.schedule.end_of(start, now))
        row, first = started.session, started.desired[0]
        return SessionStarted(row.id, first.device_id, first.config, row.devices, row.ends_at or now)

    def session_end(self, params: SessionParams, _request: Request, now: float) -> SessionEnded:
        session_id = params.session_id
        ended = self.schedule.end(session_id, now)
        first = next((d for d in ended.idle if d.device_id == ended.session.device_id), None)
        return SessionEnded(session_id, ended.session.device_id, first.config if first else None)

    def session_extend(self, params: SessionExtendParams, _request: Request, now: float) -> SessionExtended:
        record = self.store.get_session(params.session_id)
        if not record.active:
            raise SessionAlreadyEnded(f"session {record.id} has already ended")
        ends_at = schedule.extended(record.ends_at, now, by_s=params.by_s, until=params.until,
                                    max_s=self._settings.max_session_s)
        moved = self.store.set_session_end(record.id, ends_at)
        log.info("session %d now ends at %.0f (was %s)", record.id, ends_at, record.ends_at)
        return SessionExtended(moved.id, moved.ends_at or ends_at)

    def session_wait(self, params: SessionWaitParams, request: Request, now: float) -> SessionWaited | None:
        settled = views.wait_result(self.store.get_session(params.session_id))
        if settled is None:
            self.applier.waiters.park(request, params.session_id, now + params.timeout_s)
        return settled

    def session_scale(self, params: SessionScaleParams, _request: Request, now: float) -> SessionScaled:
        self.applier.note_transitions(now)
        session_id = params.session_id
        record = self.store.get_session(session_id)
        fleet = self.fleet
        candidates = fleet.candidates(record.room, False, None, now) if params.devices > len(record.devices) else []
        scaled = self.store.scale_session(session_id, params.devices, candidates=candidates,
                                          release_first=fleet.release_order(session_id), reported=fleet.reported(),
                                          now=now, anyway=params.anyway)
        self.applier.apply(fleet.scaled(session_id, scaled.added, scaled.released), now)
        return SessionScaled(session_id, scaled.session.devices, tuple(d.device_id for d in scaled.added),
                             tuple(d.device_id for d in scaled.released))

    def session_show(self, params: SessionParams, _request: Request, now: float) -> SessionShown:
        session_id = params.session_id
        record = self.store.get_session(session_id)
        checkins, rejected = self.store.attendance(session_id)
        fleet = self.fleet
        return views.session_shown(record, self.store.session_history(session_id), checkins, len(rejected),
                                   devices=fleet.live.devices, desired=fleet.desired(),
                                   online=fleet.live.online_ids(now), now=now)

    def session_list(self, params: SessionListParams, _request: Request, _now: float) -> SessionList:
        return views.sessions_result(self.store.sessions(active_only=params.active), self.store.attendance_counts())

    # --- the fleet, attendance, reports -----------------------------------------------------------

    def devices_list(self, params: DevicesListParams, _request: Request, now: float) -> DevicesList:
        # the online set as of now, without recording transitions (the ticker does)
        fleet = self.fleet
        return views.devices_result(list(fleet.live), fleet.desired(), fleet.live.online_ids(now), fleet.busy(),
                                    query=params, inventory=fleet.inventory(), now=now)

    def stats_report(self, _params: NoParams, _request: Request, _now: float) -> StatsResult:
        return self.stats.result()

    def attendance_list(self, params: SessionParams, _request: Request, _now: float) -> AttendanceList:
        records, rejected = self.store.attendance(params.session_id)
        roster = self.store.rosters.roster(self.store.get_session(params.session_id).course_code)
        return views.attendance_result(params.session_id, records, rejected, {r.student_id for r in roster})

    def attendance_report(self, query: AttendanceReportParams, _request: Request, _now: float) -> AttendanceReport:
        held = self.store.course_sessions(query.course, query.session, query.semester)
        ids = [h.id for h in held]
        rosters = self.store.rosters
        return views.report_result(query, held, self.store.records_of(ids), roster=rosters.roster(query.course),
                                   marks=rosters.marks_of(ids), late_after_s=rosters.late_after_s(query.course))

    def attendance_mark(self, params: AttendanceMarkParams, request: Request, now: float) -> AttendanceMarked:
        mark = self.store.rosters.mark(MarkRow(params.session_id, params.student_id, params.status, params.note,
                                       request.sender, now))
        log.info("session %d: %s marked %s by %s", mark.session_id, mark.student_id, mark.status, mark.by)
        return AttendanceMarked(mark)

    # --- rosters and courses ----------------------------------------------------------------------

    def roster_import(self, params: RosterImportParams, request: Request, _now: float) -> RosterImported:
        added, updated, total = self.store.rosters.import_roster(params.course, params.students,
                                                                 replace=params.replace, import_id=params.import_id,
                                                                 final=params.final)
        how = (" replacing it" if params.import_id is None else
               f" (import {params.import_id}{', the last request: the others removed' if params.final else ''})"
               ) if params.replace else ""
        log.info("roster of %s: %d added, %d updated%s by %s (%d now)", params.course, added, updated, how,
                 request.sender, total)
        return RosterImported(params.course, added, updated, total)

    def roster_list(self, params: CourseParams, _request: Request, _now: float) -> RosterList:
        rosters = self.store.rosters
        return RosterList(params.course, rosters.late_after_s(params.course), tuple(rosters.roster(params.course)))

    def course_set(self, params: CourseSetParams, request: Request, _now: float) -> CourseUpdated:
        course = self.store.rosters.set_course(params.course, late_after_s=params.late_after_s, title=params.title,
                                               owner=params.owner)
        log.info("course %s set by %s: late after %gs, owner %r", course.code, request.sender, course.late_after_s,
                 course.owner)
        return CourseUpdated(course.code, course.title, course.late_after_s, course.owner)

    def courses_list(self, _params: NoParams, _request: Request, _now: float) -> CoursesList:
        return views.courses_result(self.store.courses())

    # --- the inventory ----------------------------------------------------------------------------

    def device_list(self, _params: NoParams, _request: Request, now: float) -> DeviceInventory:
        fleet = self.fleet
        return views.inventory_result(fleet.live.devices, self.store.load_devices(), fleet.desired(),
                                      fleet.live.online_ids(now), now)

    def device_set(self, params: DeviceSetParams, request: Request, _now: float) -> DeviceUpdated:
        return self._inventory_changed(request.method,
                                       self.store.set_device(params.device, name=params.name, room=params.room))

    def device_retire(self, params: DeviceParams, request: Request, _now: float) -> DeviceUpdated:
        return self._inventory_changed(request.method, self.store.set_retired(params.device, True))

    def device_restore(self, params: DeviceParams, request: Request, _now: float) -> DeviceUpdated:
        return self._inventory_changed(request.method, self.store.set_retired(params.device, False))

    def device_approve(self, params: DeviceParams, request: Request, _now: float) -> DeviceUpdated:
        return self._inventory_changed(request.method, self.store.approve(params.device))

    def device_forget(self, params: DeviceParams, _request: Request, now: float) -> DeviceForgotten:
        device_id = params.device
        live = self.fleet.live.devices.get(device_id)
        if live is not None and live.online(now, self._settings.heartbeat_ttl_s):
            # it would reappear at once, with no birth, looking offline while it heartbeats
            raise ApiError(f"device {device_id} is online; revoke it (`fleet device revoke`) or power it off "
                           "first", "device_online")
        self.store.forget(device_id)
        self.applier.apply(self.fleet.forget(device_id), now)
        return DeviceForgotten(device_id)

    # --- the timetable ----------------------------------------------------------------------------

    def timetable_import(self, params: TimetableImportParams, request: Request, now: float) -> TimetableImported:
        imported = self.store.import_timetable(params, now)
        log.info("timetable.import by %s: %d series of %s %s, %d lectures added, %d removed, %d kept", request.sender,
                 len(params.series), params.session, params.semester, imported.added, imported.removed, imported.kept)
        return imported

    def timetable_list(self, params: TimetableListParams, _request: Request, _now: float) -> TimetableList:
        return TimetableList(tuple(self.store.lectures(params)))

    def timetable_remove(self, params: TimetableRemoveParams, request: Request, now: float) -> TimetableRemoved:
        removed = self.store.remove_lectures(params, now)
        log.info("timetable.remove by %s: %d lectures of %s", request.sender, removed, params.uid or params.course)
        return TimetableRemoved(removed)

    # --- firmware images --------------------------------------------------------------------------

    def firmware_add(self, params: FirmwareAddParams, request: Request, now: float) -> FirmwareAdded:
        added = self.store.firmware.add(params, request.sender, now)
        log.info("firmware.add by %s: %s %s (%d bytes)%s", request.sender, params.version, params.sha256[:12],
                 params.size, "" if added.added else ", already there")
        return added

    def firmware_list(self, _params: NoParams, _request: Request, _now: float) -> FirmwareList:
        return self.store.firmware.images()

    def _inventory_changed(self, method: str, row: DeviceEntry) -> DeviceUpdated:
        self.fleet.set_info(row.id, row.info)
        log.info("%s %s: name=%r room=%r retired=%s approved=%s", method, row.id, row.name, row.room, row.retired,
                 row.approved)
        return views.device_updated(row)


# --- firmware rollouts: answered by daemon/rollout.py --------------------------------------------------


def rollout_start(r: Requests, params: RolloutStartParams, request: Request, now: float) -> RolloutStatus:
    return r.rollouts.start(params, request.sender, now)


def rollout_status(r: Requests, params: RolloutStatusParams, _request: Request, now: float) -> RolloutStatus:
    return r.rollouts.status(params, now)


def rollout_list(r: Requests, params: NoParams, _request: Request, _now: float) -> RolloutList:
    return r.rollouts.listed(params)


def rollout_pause(r: Requests, params: RolloutParams, request: Request, now: float) -> RolloutChanged:
    return r.rollouts.pause(params, request.sender, now)


def rollout_resume(r: Requests, params: RolloutParams, request: Request, now: float) -> RolloutChanged:
    return r.rollouts.resume(params, request.sender, now)


def rollout_abort(r: Requests, params: RolloutParams, request: Request, now: float) -> RolloutChanged:
    return r.rollouts.abort(params, request.sender, now)



@dataclass(frozen=True, slots=True)
class Route(Generic[P, R]):
    """A method of the request API and the handler that answers it with the method's own types."""

    method: Method[P, R]
    handler: Callable[[Requests, P, Request, float], R | None]
    """Answers `params` of `request` at `now`; None when the answer comes later (`session.wait`)."""
    flush_first: bool = False
    """Write pending liveness to the database first, so that devices seen since the last flush exist
    as rows (to be claimed, listed, named, retired, approved or forgotten)."""


TABLE: Mapping[str, Route[Any, Any]] = {route.method.name: route for route in (
    Route(requests.SESSION_START, Requests.session_start, flush_first=True),
    Route(requests.SESSION_WAIT, Requests.session_wait),
    Route(requests.SESSION_END, Requests.session_end),
    Route(requests.SESSION_SCALE, Requests.session_scale, flush_first=True),
    Route(requests.SESSION_SHOW, Requests.session_show),
    Route(requests.SESSION_EXTEND, Requests.session_extend),
    Route(requests.SESSION_LIST, Requests.session_list),
    Route(requests.DEVICES_LIST, Requests.devices_list),
    Route(requests.STATS, Requests.stats_report),
    Route(requests.ATTENDANCE_LIST, Requests.attendance_list),
    Route(requests.ATTENDANCE_REPORT, Requests.attendance_report),
    Route(requests.COURSES_LIST, Requests.courses_list),
    Route(requests.ATTENDANCE_MARK, Requests.attendance_mark),
    Route(requests.ROSTER_IMPORT, Requests.roster_import),
    Route(requests.ROSTER_LIST, Requests.roster_list),
    Route(requests.COURSE_SET, Requests.course_set),
    Route(requests.DEVICE_LIST, Requests.device_list, flush_first=True),
    Route(requests.DEVICE_SET, Requests.device_set, flush_first=True),
    Route(requests.DEVICE_RETIRE, Requests.device_retire, flush_first=True),
    Route(requests.DEVICE_RESTORE, Requests.device_restore, flush_first=True),
    Route(requests.DEVICE_APPROVE, Requests.device_approve, flush_first=True),
    Route(requests.DEVICE_FORGET, Requests.device_forget, flush_first=True),
    Route(requests.TIMETABLE_IMPORT, Requests.timetable_import),
    Route(requests.TIMETABLE_LIST, Requests.timetable_list),
    Route(requests.TIMETABLE_REMOVE, Requests.timetable_remove),
    Route(requests.FIRMWARE_ADD, Requests.firmware_add),
    Route(requests.FIRMWARE_LIST, Requests.firmware_list),
    Route(requests.ROLLOUT_START, rollout_start, flush_first=True),
    Route(requests.ROLLOUT_STATUS, rollout_status),
    Route(requests.ROLLOUT_LIST, rollout_list),
    Route(requests.ROLLOUT_PAUSE, rollout_pause),
    Route(requests.ROLLOUT_RESUME, rollout_resume),
    Route(requests.ROLLOUT_ABORT, rollout_abort),
)}
"""Every method of the request API and its handler (a test holds it equal to `requests.METHODS`)."""
