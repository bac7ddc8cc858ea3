"""Desired config against reported state: a pure decision, one device at a time.

Level-triggered, as in controller-runtime: the answer depends only on what is desired (the
database), what the device last reported (its retained state) and what this controller last
published, never on which event woke the loop, so a missed or repeated event cannot leave a
device wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.contract.messages import Config, State
from controller.core.versions import applied_version, next_version


@dataclass(frozen=True, slots=True)
class Published:
    """The last config this controller published for a device, and when."""

    version: int
    at: float


@dataclass(frozen=True, slots=True)
class Publish:
    """(Re)publish the desired config as it is."""

    device_id: str
    config: Config


@dataclass(frozen=True, slots=True)
class Bump:
    """The device is ahead of the database (reset database, reflashed device, another
    controller): store `version` as the desired version, then publish."""

    device_id: str
    version: int


@dataclass(frozen=True, slots=True)
class Applied:
    device_id: str
    version: int


@dataclass(frozen=True, slots=True)
class RejectedByDevice:
    device_id: str
    version: int
    error: str


Action = Publish | Bump | Applied | RejectedByDevice


def matches(desired: Config, state: State) -> bool:
    """Does an `applied` report describe this desired config?"""
    if desired.session is None:
        return state.active_session is False
    return state.active_session is True and state.session_id == desired.session.session_id and (
        state.ssid == desired.session.ssid
    )


def reconcile(
    device_id: str,
    desired: Config,
    reported: State | None,
    published: Published | None,
    *,
    online: bool,
    now: float,
    resend_after: float,
) -> Action | None:
    """What to do for one device, or None when it is in sync.

    A config not yet published on this connection (`published` is None: the controller started
    or reconnected) is published before anything is settled, even when the device reports it
    applied: the broker may have come back empty, and a device that then reboots with erased flash
    must find its config retained. The device ignores a version it has applied.
    """
    if reported is not None:
        floor = applied_version(reported) or 0  # what it compares new configs against
        if floor > desired.version:
            return Bump(device_id, next_version(desired.version, floor))
        if reported.config_version == desired.version and reported.applied and not matches(desired, reported):
            # same number, other content: a forked history
            return Bump(device_id, next_version(desired.version, reported.config_version))
    if published is None or published.version != desired.version:
        return Publish(device_id, desired)
    if reported is not None:
        if reported.config_version == desired.version:
            if not reported.applied:
                return RejectedByDevice(device_id, desired.version, reported.error or "")
            return Applied(device_id, desired.version)
        if not reported.applied and applied_version(reported) == desired.version:
            return None  # it runs our config and turned down someone else's newer one
    if online and now - published.at >= resend_after:
        return Publish(device_id, desired)
    return None
