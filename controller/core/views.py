"""The request API's answers, built from the controller's state: the typed results of read requests.

Pure: the shell hands in the registry's devices, desired configs, the online set, the inventory and
the stored values it read; these functions choose, sort and shape, and change nothing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Final

from controller.contract.report import DEFAULT_LATE_AFTER_S, AttendanceReport, MarkRow
from controller.contract.requests import AttendanceReportParams, DevicesListParams
from controller.contract.results import (
    AttendanceList,
    CheckinRow,
    CourseRow,
    CoursesList,
    DeviceInventory,
    DeviceRow,
    DevicesList,
    DeviceUpdated,
    InventoryRow,
    RejectedRow,
    SessionList,
    SessionRow,
    SessionWaited,
)
from controller.contract.rosters import RosterEntry
from controller.contract.session_detail import ServedRow, SessionShown
from controller.core import census, report
from controller.core.attendance import Rules
from controller.core.liveness import DeviceLive
from controller.core.values import (
    NO_INFO,
    CheckinRecord,
    CourseRecord,
    Desired,
    DeviceEntry,
    DeviceInfo,
    RejectedRecord,
    ServedRecord,
    SessionRecord,
)
from controller.core.versions import applied_version


def device_row(device: DeviceLive, desired: Desired | None, info: DeviceInfo, *, online: bool,
               now: float) -> DeviceRow:
    session = desired.config.session if desired is not None else None
    reported, heartbeat = device.reported, device.heartbeat
    return DeviceRow(
        id=device.device_id, online=online, last_seen=device.last_seen,
        name=session.device_name if session else info.name, ssid=session.ssid if session else None,
        location=session.location if session else None, room=info.room,
        session_id=desired.session_id if desired else None,
        config_version=desired.config.version if desired else None,
        applied_version=applied_version(reported),
        boot=device.boot if device.boot >= 0 else None, fw=device.fw,
        rssi=heartbeat.rssi if heartbeat else None, heap=heartbeat.heap if heartbeat else None,
        uptime_s=heartbeat.uptime_s if heartbeat else None, stations=heartbeat.stations if heartbeat else None,
        stations_peak=heartbeat.stations_peak if heartbeat else None,
        stations_refused=heartbeat.stations_refused if heartbeat else None,
        checkins_served=heartbeat.checkins_served if heartbeat else None,
        retired=info.retired, approved=info.approved, flags=tuple(device.flags(now)),
    )


def devices_result(
    devices: Sequence[DeviceLive], desired: Mapping[str, Desired], online: Collection[str], busy: Mapping[str, int],
    *, query: DevicesListParams, inventory: Mapping[str, DeviceInfo], now: float,
) -> DevicesList:
    """The fleet table: totals like the seed's status display, then the (filtered) rows.
    Retired devices are left out of both."""
    chosen = census.in_service(devices, inventory)
    counts = census.counts_in_service(chosen, online, busy, inventory, now)
    if query.session_id is not None:
        chosen = [d for d in chosen if busy.get(d.device_id) == query.session_id]
    key = (lambda d: (d.device_id in online, d.device_id)) if query.offline_first else (lambda d: (False, d.device_id))
    chosen = sorted(chosen, key=key)
    matched = len(chosen)
    if query.limit is not None:
        chosen = chosen[: query.limit]
    rows = tuple(device_row(d, desired.get(d.device_id), inventory.get(d.device_id, NO_INFO),
                            online=d.device_id in online, now=now) for d in chosen)
    return DevicesList(counts.total, counts.online, counts.offline, counts.available, matched, rows)


def inventory_result(devices: Mapping[str, DeviceLive], entries: Sequence[DeviceEntry],
                     desired: Mapping[str, Desired], online: Collection[str], now: float) -> DeviceInventory:
    """Every known device, including never-seen, retired and unapproved ones."""
    rows = []
    for entry in sorted(entries, key=lambda e: e.id):
        live = devices.get(entry.id) or DeviceLive(entry.id, last_seen=entry.last_seen, fw=entry.fw)
        row = device_row(live, desired.get(entry.id), entry.info, online=entry.id in online, now=now)
        rows.append(InventoryRow(row, entry.first_seen, entry.name))
    return DeviceInventory(tuple(rows))


def device_updated(entry: DeviceEntry) -> DeviceUpdated:
    """device.set, retire, restore and approve: the device's inventory after the change."""
    return DeviceUpdated(entry.id, entry.name, entry.room, entry.retired, entry.approved)


def session_row(record: SessionRecord, checkins: int) -> SessionRow:
    r = record
    return SessionRow(
        session_id=r.id, course=r.course_code, title=r.course_title, session=r.academic_session,
        semester=r.semester, lecturer=r.lecturer, device=r.device_id, ssid=r.ssid, active=r.active,
        applied=r.applied_at is not None, error=r.error, config_version=r.config_version, started_at=r.started_at,
        ended_at=r.ended_at, room=r.room, moves=r.moves, moved_from=r.moved_from, degraded=r.degraded,
        failover_grace_s=r.failover_grace_s, checkins=checkins, devices=r.devices, ends_at=r.ends_at,
    )


def sessions_result(records: Sequence[SessionRecord], counts: Mapping[int, int]) -> SessionList:
    """session.list: each session with its stored check-ins."""
    return SessionList(tuple(session_row(r, counts.get(r.id, 0)) for r in records))


MAX_BUCKETS: Final = 60
"""The most bars session.show's timeline has: buckets are whole minutes, as many as fit."""


def timeline(times: Sequence[float], start: float, end: float) -> tuple[int, tuple[int, ...]]:
    """Check-ins counted per bucket from `start` to `end` (one bucket at least): (bucket seconds,
    counts). A time outside the span (a device's clock, a check-in stored after the end) counts in
    the nearest bucket."""
    span = max(0.0, end - start)
    width = 60 * max(1, math.ceil(span / 60 / MAX_BUCKETS))
    counts = [0] * max(1, math.ceil(span / width))
    for t in times:
        counts[min(len(counts) - 1, max(0, int((t - start) // width)))] += 1
    return width, tuple(counts)


def session_shown(record: SessionRecord, history: Sequence[ServedRecord], checkins: Sequence[CheckinRecord],
                  rejected: int, *, devices: Mapping[str, DeviceLive], desired: Mapping[str, Desired],
                  online: Collection[str], now: float) -> SessionShown:
    """session.show: the session, each device's time serving it (the slot counts of those serving it
    now, from their heartbeats; its check-ins on its latest row), and its check-ins over time."""
    per_device = Counter(c.device_id for c in checkins)
    latest = {h.device_id: i for i, h in enumerate(history)}
    rows = []
    for i, h in enumerate(history):
        serving = h.left_at is None
        heartbeat = devices[h.device_id].heartbeat if serving and h.device_id in devices else None
        wanted = desired.get(h.device_id)
        applied = (serving and wanted is not None and wanted.session_id == record.id and h.device_id in devices
                   and applied_version(devices[h.device_id].reported) == wanted.config.version)
        rows.append(ServedRow(
            h.device_id, h.joined_at, h.left_at, h.left_why, serving and h.device_id in online, applied,
            heartbeat.stations if heartbeat else None, heartbeat.stations_peak if heartbeat else None,
            heartbeat.stations_refused if heartbeat else None,
            per_device[h.device_id] if latest[h.device_id] == i else 0))
    width, counts = timeline([c.received_at for c in checkins], record.started_at, record.ended_at or now)
    return SessionShown(session_row(record, len(checkins)), tuple(rows), width, counts, rejected)


def wait_result(record: SessionRecord) -> SessionWaited | None:
    """session.wait answered at once when the session has settled; None: park the request."""
    status = census.config_outcome(record)
    if status == "pending":
        if record.active:
            return None
        status = "ended"
    return SessionWaited(record.id, status, record.error)


def attendance_result(session_id: int, records: Sequence[CheckinRecord], rejected: Sequence[RejectedRecord],
                      roster: Collection[str] = ()) -> AttendanceList:
    """A session's check-ins, each marked on the course's `roster` or not (None: it has no roster)."""
    return AttendanceList(
        session_id,
        tuple(CheckinRow(r.student_id, r.device_id, r.seq, r.station_mac, r.received_at,
                         (r.student_id in roster) if roster else None) for r in records),
        tuple(RejectedRow(r.student_id, r.device_id, r.seq, r.reason, r.received_at) for r in rejected),
    )


def report_result(query: AttendanceReportParams, held: Sequence[SessionRecord], checkins: Sequence[CheckinRecord],
                  *, roster: Sequence[RosterEntry] = (), marks: Sequence[MarkRow] = (),
                  late_after_s: float = DEFAULT_LATE_AFTER_S) -> AttendanceReport:
    """A course's semester: `held` its sessions, `checkins` and `marks` theirs, `roster` the course's
    (core.report counts, flags and warns)."""
    rules = Rules(late_after_s, query.threshold, query.consecutive)
    students, sessions = report.build(held, checkins, roster=roster, marks=marks, rules=rules)
    held_ids = {h.id for h in held}
    return AttendanceReport(query.course, query.session, query.semester, len(held), students, sessions,
                            len(roster), late_after_s, query.threshold, query.consecutive,
                            tuple(m for m in marks if m.session_id in held_ids))


def courses_result(courses: Sequence[CourseRecord]) -> CoursesList:
    return CoursesList(tuple(CourseRow(c.code, c.title) for c in courses))
