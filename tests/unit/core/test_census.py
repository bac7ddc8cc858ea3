"""The fleet and its sessions counted by state (the controller's metrics), from plain values."""

from __future__ import annotations

import dataclasses

from controller.contract.requests import DevicesListParams
from controller.core import census, views
from controller.core.liveness import FLAG_HOLD_S, DeviceLive
from controller.core.values import DeviceInfo, SessionRecord

NOW = 1_000.0


def live(device_id: str, *, flagged_until: float | None = None) -> DeviceLive:
    return DeviceLive(device_id, boot=1, last_seen=NOW,
                      flagged=None if flagged_until is None else {"flapping": flagged_until})


DEVICES = [live("dev-a"), live("dev-b", flagged_until=NOW + FLAG_HOLD_S), live("dev-c"),
           live("dev-d", flagged_until=NOW - 1), live("dev-r", flagged_until=NOW + 1)]
ONLINE = {"dev-a", "dev-b", "dev-d", "dev-r"}
BUSY = {"dev-a": 7, "dev-c": 8, "dev-gone": 9}
INVENTORY = {"dev-r": DeviceInfo(retired=True), "dev-b": DeviceInfo(approved=False),
             "dev-x": DeviceInfo(retired=True)}


def test_devices_are_counted_by_state_with_the_retired_left_out_of_the_rest() -> None:
    counts = census.device_counts(DEVICES, ONLINE, BUSY, INVENTORY, NOW)
    assert counts == census.DeviceCounts(total=4, online=3, offline=1, available=1, busy=3, retired=2, flagged=1)


def test_the_totals_are_those_devices_list_answers_with() -> None:
    counts = census.device_counts(DEVICES, ONLINE, BUSY, INVENTORY, NOW)
    listed = views.devices_result(DEVICES, {}, ONLINE, BUSY, query=DevicesListParams(), inventory=INVENTORY, now=NOW)
    assert (listed.total, listed.online, listed.offline, listed.available) == (
        counts.total, counts.online, counts.offline, counts.available)
    assert counts.flagged == sum(1 for row in listed.devices if row.flags)


def record(**changes: object) -> SessionRecord:
    """A session record with every field at a plain default, `changes` applied."""
    defaults = {f.name: None for f in dataclasses.fields(SessionRecord)}
    defaults |= {"id": 1, "degraded": False, "active": True, "started_at": NOW, "moves": 0}
    return SessionRecord(**(defaults | changes))  # type: ignore[arg-type]


def test_each_active_session_is_in_exactly_one_state_degraded_first() -> None:
    sessions = [record(), record(applied_at=NOW + 2), record(error="bad ssid"), record(applied_at=NOW, degraded=True),
                record(error="x", degraded=True), record()]
    assert [census.session_state(s) for s in sessions] == [
        "pending", "applied", "rejected", "degraded", "degraded", "pending"]
    assert census.session_counts(sessions) == census.SessionCounts(pending=2, applied=1, rejected=1, degraded=2)
    assert census.session_counts([]) == census.SessionCounts(0, 0, 0, 0)
