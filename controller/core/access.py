"""Who may call which method of the request API: the role table's permissions and the ownership rule.

Pure. The user is the one the broker authenticated (the last level of the requests topic, which
the ACL lets each account write only under its own name); its role comes from the secure
profile's ACL file. Without a role table (the open quick-start profile, no accounts) everyone
may do everything, and this module is not asked.

- operator: the fleet's health, read only: `devices.list`, `stats`, `session.list` (what `fleet
  devices` and `fleet watch` call), `session.show` (devices, slots and check-in counts, no student
  ids), `courses.list` and the inventory `device.list`. No student data (`attendance.*`), as the
  ACL gives operators no check-in topic either. The timetable (`timetable.list`), the firmware images
  (`firmware.list`), the rollouts (`rollout.status`, `rollout.list`).
- lecturer: starts sessions; waits on, ends, extends, scales, shows and reads the check-ins of the
  sessions it owns (OWN: those it started, and the timetable's sessions of a course it owns); marks a
  student's status (excused, or any override) in them; for the courses it owns (an admin makes a
  user a course's owner: `fleet course set CS101 --owner alice`), imports and reads the roster, sets
  the late rule and reads the attendance report; reads the fleet (`devices.list`, `session.list`:
  which devices and rooms are busy, no student ids), the courses and the timetable. Not `stats` nor
  the inventory.
- admin: every method, the inventory's changes and the timetable's (`timetable.import`, `.remove`) too, and
  adds firmware images (`firmware.add`) and starts, pauses, resumes and aborts rollouts (`rollout.*`).
- controller: nothing (the daemon's own account sends no requests).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import Enum
from typing import Final

from controller.contract import requests as api
from controller.contract.roles import Role


class Grant(Enum):
    """What a role may do with one method."""

    NONE = "none"
    OWN = "own"  # only on sessions the user started
    ANY = "any"


_FLEET_READS: Final = (api.DEVICES_LIST, api.SESSION_LIST, api.COURSES_LIST, api.TIMETABLE_LIST)

PERMISSIONS: Final[Mapping[Role, Mapping[str, Grant]]] = {
    Role.OPERATOR: {m.name: Grant.ANY for m in (*_FLEET_READS, api.SESSION_SHOW, api.STATS, api.DEVICE_LIST,
                                                 api.FIRMWARE_LIST, api.ROLLOUT_STATUS, api.ROLLOUT_LIST)},
    Role.LECTURER: {
        **{m.name: Grant.ANY for m in (*_FLEET_READS, api.SESSION_START)},
        **{m.name: Grant.OWN for m in (api.SESSION_WAIT, api.SESSION_END, api.SESSION_SCALE, api.SESSION_SHOW,
                                       api.SESSION_EXTEND, api.ATTENDANCE_LIST, api.ATTENDANCE_REPORT,
                                       api.ATTENDANCE_MARK, api.ROSTER_IMPORT, api.ROSTER_LIST, api.COURSE_SET)},
    },
    Role.ADMIN: {name: Grant.ANY for name in api.METHODS},
    Role.CONTROLLER: {},
}
"""Each role's methods; a method not named is refused (`forbidden`)."""


def grant(role: Role | None, method: str) -> Grant:
    """What a user of `role` may do with `method`; a user without a role may do nothing."""
    if role is None:
        return Grant.NONE
    return PERMISSIONS[role].get(method, Grant.NONE)


def owns(user: str, owners: Collection[str]) -> bool:
    """The ownership rule of an OWN grant: `owners` are who owns what a request touches (a session's
    `started_by`, a course's owner; "" is nobody). An empty set means nothing to hide."""
    return not owners or user in owners


def refusal(user: str, role: Role | None, method: str, granted: Grant) -> str:
    """The one line a `forbidden` reply carries."""
    if role is None:
        return (f"user {user!r} has no role on this controller; an admin gives it one with "
                f"`fleet user add {user} --role ...`")
    if granted is Grant.OWN:
        return f"{role.value}s may call {method} only for sessions they started (user {user}, role {role.value})"
    return f"{role.value}s cannot call {method} (user {user}, role {role.value})"
