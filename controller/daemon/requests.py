"""The request API: the envelope checked, clients rate limited, and each method answered by the
handler the TABLE names for it (sessions, the fleet, attendance, reports, the inventory).

Read requests (`session.list`, `devices.list`, `device.list`, `stats`, `attendance.*`, `courses.list`)
answer from the present and change no state: `device.list` only writes pending liveness to the
database first (a flush, as the ticker's), so that devices seen since the last one are listed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from controller.adapters.store import Store
from controller.contract.decode import request_envelope
from controller.contract.messages import (
    MAX_REQUEST_PAYLOAD,
    MAX_REQUEST_READ,
    JsonObject,
    Request,
    encode,
    reply_error,
    reply_ok,
)
from controller.contract.topics import Topics
from controller.core import report
from controller.core.fleet import Fleet
from controller.core.ratelimit import Buckets
from controller.core.values import DeviceEntry, StartRequest
from controller.core.waiters import wait_result
from controller.daemon import api, failpoints
from controller.daemon.effects import Applier
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import ApiError, NoDeviceAvailable, Rejected, StoreError

log = logging.getLogger(__name__)

Handler = Callable[["Requests", Request, float], JsonObject | None]
"""Answers one request at `now`; None when the answer comes later (`session.wait`)."""


class Requests:
    """Answers requests from `{root}/controller/requests` on their reply topics."""

    def __init__(self, applier: Applier, *, settings: ControllerSettings, topics: Topics, stats: Stats,
                 clock: Callable[[], float]) -> None:
        self.applier = applier
        self.fleet: Fleet = applier.fleet
        self.store: Store = applier.store
        self.stats = stats
        self._settings = settings
        self._topics = topics
        self._clock = clock
        self._buckets = Buckets(settings.request_rate, settings.request_burst)

    def handle(self, topic: str, payload: bytes | bytearray) -> None:
        """Answer a request, or count why it cannot be. Once its id and reply topic are known, every
        fault is answered (`bad_request`, `rate_limited`, ...), so no client waits for nothing."""
        outbox = self.applier.outbox
        try:
            envelope = request_envelope(self._topics, payload, max_bytes=MAX_REQUEST_READ)
        except Rejected as exc:
            self.stats.reject(exc.reason, topic, exc.detail)
            return
        request_id, reply_to = envelope.request_id, envelope.reply_to
        verdict = self._buckets.take(reply_to, self._clock())
        if not verdict.allowed:
            self.stats.reject("rate_limited", reply_to, "a client over its request rate")
            if verdict.answer:
                outbox.send(reply_to, encode(reply_error(
                    request_id, "rate_limited", f"more than {self._settings.request_rate:g} requests/s; slow down")))
            return
        try:
            if len(payload) > MAX_REQUEST_PAYLOAD:
                raise ApiError(f"a request is at most {MAX_REQUEST_PAYLOAD} bytes, not {len(payload)}", "bad_request")
            try:
                request = Request.from_obj(envelope.obj)
            except Rejected as exc:
                raise ApiError(exc.detail or exc.reason, "bad_request") from exc
            result = self._call(request)
        except ApiError as exc:
            self.stats.rejected[f"request_{exc.code}"] += 1
            outbox.send(reply_to, encode(reply_error(request_id, exc.code, exc.message)))
            return
        except StoreError:
            outbox.send(reply_to, encode(reply_error(request_id, "internal", "the database failed; try again")))
            raise
        except Exception:
            outbox.send(reply_to, encode(reply_error(request_id, "internal", "the controller failed; see its log")))
            raise
        if result is not None:
            outbox.reply(request, reply_ok(request.id, result))

    def _call(self, request: Request) -> JsonObject | None:
        handler = TABLE.get(request.method)
        if handler is None:
            raise ApiError(f"unknown method {request.method!r}", "unknown_method")
        return handler(self, request, self._clock())

    # --- sessions ---------------------------------------------------------------------------------

    def session_start(self, request: Request, now: float) -> JsonObject:
        start = api.parse_start(request.params)
        self.applier.flush(now)  # newly seen devices must exist as rows before they can be claimed
        self.applier.note_transitions(now)
        order = self._candidates(start, now)
        asked = order if start.device is None else [start.device]
        started = self.store.start_session(start, order, self.fleet.reported(asked), now)
        failpoints.hit("after_claim_commit")
        row, desired = started.session, started.desired
        log.info("session %d (%s %s %s) started on %s as %s, config version %d", row.id, row.course_code,
                 row.academic_session, row.semester, desired.device_id, row.ssid, desired.config.version)
        self.applier.apply(self.fleet.started(desired, start.failover_grace_s), now)
        return {"session_id": row.id, "device": desired.device_id, "config": desired.config.to_obj()}

    def _candidates(self, start: StartRequest, now: float) -> list[str]:
        """Devices to try, in order; with a room, only that room's unless `any_room` allows a fallback."""
        if start.room is None or start.device is not None:
            return self.fleet.pick(now)
        in_room = self.fleet.pick(now, room=start.room)
        if in_room or start.any_room:
            return in_room or self.fleet.pick(now)
        raise NoDeviceAvailable(self.fleet.describe_room(start.room))

    def session_end(self, request: Request, now: float) -> JsonObject:
        session_id = api.parse_session_id(request.params)
        ended = self.store.end_session(session_id, self.fleet.reported(self.fleet.serving_session(session_id)), now)
        idle = ended.idle
        self.applier.apply(self.fleet.ended(session_id, idle), now)
        return {"session_id": session_id, "device": ended.session.device_id,
                "config": idle.config.to_obj() if idle else None}

    def session_wait(self, request: Request, now: float) -> JsonObject | None:
        session_id, timeout = api.parse_wait(request.params)
        row = self.store.get_session(session_id)
        if row.applied_at is not None or row.error is not None or not row.active:
            return wait_result(session_id, "applied" if row.applied_at else "rejected" if row.error else "ended",
                               row.error)
        self.applier.waiters.park(request, session_id, now + timeout)
        return None

    def session_list(self, request: Request, _now: float) -> JsonObject:
        counts = self.store.attendance_counts()
        rows = self.store.sessions(active_only=api.parse_active(request.params))
        return {"sessions": [api.session_row(r, counts.get(r.id, 0)) for r in rows]}

    # --- the fleet, attendance, reports -----------------------------------------------------------

    def devices_list(self, request: Request, now: float) -> JsonObject:
        # the online set as of now, without recording transitions (the ticker does)
        fleet = self.fleet
        return api.devices_result(list(fleet.live), fleet.desired(), fleet.live.online_ids(now), fleet.busy(),
                                  api.parse_devices(request.params), fleet.inventory(), now)

    def stats_(self, _request: Request, _now: float) -> JsonObject:
        return self.stats.as_obj()

    def attendance_list(self, request: Request, _now: float) -> JsonObject:
        session_id = api.parse_session_id(request.params)
        return api.attendance_result(session_id, *self.store.attendance(session_id))

    def attendance_report(self, request: Request, _now: float) -> JsonObject:
        query = api.parse_report(request.params)
        held = self.store.course_sessions(query.course, query.session, query.semester)
        checkins = [report.Checkin(r.session_id, r.student_id, r.station_mac)
                    for r in self.store.records_of([h.id for h in held])]
        result = report.build([report.Held(h.id, h.started_at, h.device_id) for h in held], checkins)
        return {"course": query.course, "session": query.session, "semester": query.semester} | result

    def courses_list(self, _request: Request, _now: float) -> JsonObject:
        return {"courses": [{"code": c.code, "title": c.title} for c in self.store.courses()]}

    # --- the inventory ----------------------------------------------------------------------------

    def device_list(self, _request: Request, now: float) -> JsonObject:
        self.applier.flush(self._clock())  # devices seen since the last flush are listed as rows too
        fleet = self.fleet
        return api.inventory_result(fleet.live.devices, self.store.load_devices(), fleet.desired(),
                                    fleet.live.online_ids(now), now)

    def device_set(self, request: Request, _now: float) -> JsonObject:
        device_id, name, room = api.parse_device_set(request.params)
        self.applier.flush(self._clock())  # the device must exist as a row
        return self._inventory_changed("device.set", self.store.set_device(device_id, name=name, room=room))

    def device_retire(self, request: Request, _now: float) -> JsonObject:
        return self._set_retired(request, retired=True)

    def device_restore(self, request: Request, _now: float) -> JsonObject:
        return self._set_retired(request, retired=False)

    def _set_retired(self, request: Request, *, retired: bool) -> JsonObject:
        device_id = api.parse_device(request.params)
        self.applier.flush(self._clock())
        return self._inventory_changed(request.method, self.store.set_retired(device_id, retired))

    def device_approve(self, request: Request, _now: float) -> JsonObject:
        device_id = api.parse_device(request.params)
        self.applier.flush(self._clock())
        return self._inventory_changed("device.approve", self.store.approve(device_id))

    def device_forget(self, request: Request, now: float) -> JsonObject:
        device_id = api.parse_device(request.params)
        self.applier.flush(self._clock())
        live = self.fleet.live.devices.get(device_id)
        if live is not None and live.online(now, self._settings.heartbeat_ttl_s):
            # it would reappear at once, with no birth, looking offline while it heartbeats
            raise ApiError(f"device {device_id} is online; revoke it (`fleet device revoke`) or power it off "
                           "first", "device_online")
        self.store.forget(device_id)
        self.applier.apply(self.fleet.forget(device_id), now)
        return {"device": device_id, "forgotten": True}

    def _inventory_changed(self, method: str, row: DeviceEntry) -> JsonObject:
        self.fleet.set_info(row.id, row.info)
        log.info("%s %s: name=%r room=%r retired=%s approved=%s", method, row.id, row.name, row.room, row.retired,
                 row.approved)
        return {"device": row.id, "name": row.name, "room": row.room, "retired": row.retired,
                "approved": row.approved}


TABLE: Mapping[str, Handler] = {
    "session.start": Requests.session_start,
    "session.wait": Requests.session_wait,
    "session.end": Requests.session_end,
    "session.list": Requests.session_list,
    "devices.list": Requests.devices_list,
    "stats": Requests.stats_,
    "attendance.list": Requests.attendance_list,
    "attendance.report": Requests.attendance_report,
    "courses.list": Requests.courses_list,
    "device.list": Requests.device_list,
    "device.set": Requests.device_set,
    "device.retire": Requests.device_retire,
    "device.restore": Requests.device_restore,
    "device.approve": Requests.device_approve,
    "device.forget": Requests.device_forget,
}
"""Every method of the request API and its handler."""
