"""The fleet as one controller holds it: one record per device and one per active session, with the
decisions that change them (settling, session start and end, failover), each returning effects.

Pure: `now` is a parameter and nothing here does I/O; the daemon gathers inputs (the database, the
wire), calls these and applies the effects they return (`daemon/effects.py`). Liveness stays in
`liveness.Registry`, which the fleet holds: the heartbeat path updates it with a few operations
and no second lookup, and forgetting a device here forgets it there too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from controller.core import reconcile, selection
from controller.core.effects import (
    BumpVersion,
    ClearRetained,
    Effect,
    Log,
    MarkDegraded,
    MarkSession,
    PublishConfig,
    Reconcile,
    SettleWaiters,
)
from controller.core.liveness import DeviceLive, Registry
from controller.core.reconcile import Applied, Bump, Publish, Published, RejectedByDevice
from controller.core.values import Desired, DeviceInfo, SessionRecord
from controller.core.versions import reported_version
from controller.errors import NoDeviceAvailable
from controller.logtext import shown

DEFAULT_GRACE_S = 60.0
"""A session's failover grace when this controller has not loaded it yet (the API's default)."""


@dataclass(slots=True)
class DeviceRecord:
    """Everything the controller holds about one device besides its liveness."""

    device_id: str
    desired: Desired | None = None
    """Its desired config and session, as the database has them (None: it never had a config)."""
    serving: int | None = None
    """The session it counts as busy with: the desired config's, until a failover finds that
    session gone (ended or moved by another controller); then None until the next resync."""
    info: DeviceInfo | None = None
    """What an operator set (the inventory); None when the database has no row for it."""
    published: Published | None = None
    """The config this controller published on the current connection, and when."""
    settled: int | None = None
    """The version whose outcome (applied or rejected) has been recorded."""
    offline_since: float | None = None
    """When it was first seen offline while serving a session (failover counts from there)."""


@dataclass(slots=True)
class SessionState:
    """An active session's failover policy and state."""

    grace_s: float = DEFAULT_GRACE_S
    degraded: bool = False
    first: str | None = None
    """Its first device (the session row's `device_id`): the one whose outcome is the session's
    (applied, rejected; what `session.wait` answers). None: not known here, any device's counts."""


@dataclass(frozen=True, slots=True)
class ReportedVersions(Mapping[str, int]):
    """The highest config version each device has reported, read when asked: a claim asks about
    the device it takes, not about the thousands it might have taken (a dict of them all cost a
    session start 3.5 ms with 10,000 devices)."""

    devices: Mapping[str, DeviceLive]

    def __getitem__(self, device_id: str) -> int:
        return reported_version(self.devices[device_id].reported)

    def __iter__(self) -> Iterator[str]:
        return iter(self.devices)

    def __len__(self) -> int:
        return len(self.devices)


@dataclass(frozen=True, slots=True)
class Move:
    """A session to fail over: its device has been offline for `offline_s`, past the grace period."""

    session_id: int
    device_id: str
    offline_s: float


@dataclass
class Fleet:
    """Every device and active session this controller knows, kept consistent by its methods."""

    live: Registry
    devices: dict[str, DeviceRecord] = field(default_factory=dict)
    sessions: dict[int, SessionState] = field(default_factory=dict)
    republish_at: float | None = None
    """After a (re)connect: no config is reconciled before then (retained states arrive first)."""
    _online: set[str] = field(default_factory=set)
    """Devices online as of the last tick (transitions are logged, reconcile resends, failover):
    a set, not a flag on each record, so a tick compares two sets instead of building one."""

    # --- records ----------------------------------------------------------------------------------

    def get(self, device_id: str) -> DeviceRecord | None:
        return self.devices.get(device_id)

    def record(self, device_id: str) -> DeviceRecord:
        """The device's record, created empty when there is none."""
        device = self.devices.get(device_id)
        if device is None:
            device = self.devices[device_id] = DeviceRecord(device_id)
        return device

    def load(self, desired: Iterable[Desired], inventory: Mapping[str, DeviceInfo],
             sessions: Iterable[SessionRecord]) -> None:
        """Take what the database holds (another controller may have written it): desired configs
        and assignments, the inventory, and the active sessions (their grace and degraded flag).
        What this controller saw and sent (published, settled, online, offline since) is kept."""
        for device in self.devices.values():
            device.desired = device.info = device.serving = None
        for device_id, info in inventory.items():
            self.record(device_id).info = info
        for one in desired:
            device = self.record(one.device_id)
            device.desired, device.serving = one, one.session_id
        self.sessions = {session.id: SessionState(session.failover_grace_s, session.degraded, session.device_id)
                         for session in sessions}

    def set_desired(self, desired: Desired) -> None:
        self.record(desired.device_id).desired = desired

    def set_info(self, device_id: str, info: DeviceInfo) -> None:
        self.record(device_id).info = info

    def register_pending(self, device_id: str) -> bool:
        """Approval is on and an unknown device spoke: note it as pending; False if already known."""
        device = self.record(device_id)
        if device.info is not None:
            return False
        device.info = DeviceInfo(approved=False)
        return True

    def forget(self, device_id: str) -> list[Effect]:
        """Drop every trace of a device, its liveness and its retained topics included."""
        self.devices.pop(device_id, None)
        self._online.discard(device_id)
        self.live.forget(device_id)
        return [ClearRetained(device_id)]

    def published(self, device_id: str, version: int, now: float) -> None:
        self.record(device_id).published = Published(version, now)

    def reconnected(self, republish_at: float) -> None:
        """A new connection: what the broker held may be gone, so every config is published again
        once retained states are in (at `republish_at`)."""
        for device in self.devices.values():
            device.published = None
        self.republish_at = republish_at

    # --- views ------------------------------------------------------------------------------------

    def approved(self, device_id: str) -> bool:
        device = self.devices.get(device_id)
        return device is not None and device.info is not None and device.info.approved

    def serving(self, device_id: str) -> int | None:
        device = self.devices.get(device_id)
        return None if device is None else device.serving

    def busy(self) -> dict[str, int]:
        """Device → the session it serves."""
        return {d.device_id: d.serving for d in self.devices.values() if d.serving is not None}

    def desired(self) -> dict[str, Desired]:
        return {d.device_id: d.desired for d in self.devices.values() if d.desired is not None}

    def inventory(self) -> dict[str, DeviceInfo]:
        return {d.device_id: d.info for d in self.devices.values() if d.info is not None}

    def online(self) -> set[str]:
        """Devices online as of the last `note_online`."""
        return set(self._online)

    def excluded(self) -> set[str]:
        """Devices never to choose: retired or not approved."""
        return {d.device_id for d in self.devices.values()
                if d.info is not None and (d.info.retired or not d.info.approved)}

    def in_room(self, room: str) -> list[str]:
        return [d.device_id for d in self.devices.values() if d.info is not None and d.info.room == room]

    def reported(self) -> ReportedVersions:
        """The highest config version each device has reported (for the version rule)."""
        return ReportedVersions(self.live.devices)

    def serving_session(self, session_id: int) -> list[str]:
        """The devices counted busy with a session."""
        return [d.device_id for d in self.devices.values() if d.serving == session_id]

    def pick(self, now: float, room: str | None = None) -> list[str]:
        """Free devices to try for a session, freshest first (in `room`, when given)."""
        return selection.candidates(
            self.live, busy=self.busy(), excluded=self.excluded(), now=now, ttl=self.live.ttl, room=room,
            rooms={d.device_id: d.info.room for d in self.devices.values() if d.info is not None})

    def candidates(self, room: str | None, any_room: bool, device: str | None, now: float) -> list[str]:
        """Free devices to try for a session, in order: none when it names its `device` (the claim
        checks that one alone); else those in `room` first, then, if there are none and `any_room`
        allows it, any free one. NoDeviceAvailable when `room` has none and no other may do."""
        if device is not None:
            return []
        if room is None:
            return self.pick(now)
        in_room = self.pick(now, room=room)
        if in_room or any_room:
            return in_room or self.pick(now)
        raise NoDeviceAvailable(self.describe_room(room))

    def describe_room(self, room: str) -> str:
        """Why `room` has no free device."""
        return selection.describe_room(room, self.in_room(room), online=self._online, busy=self.busy(),
                                       excluded=self.excluded())

    # --- liveness transitions and failover --------------------------------------------------------

    def note_online(self, online: set[str]) -> tuple[set[str], set[str]]:
        """Record which devices are online now: (those that came online, those that went offline)."""
        came, went = online - self._online, self._online - online
        self._online = online
        return came, went

    def due_moves(self, now: float) -> list[Move]:
        """Sessions whose device has been offline past their grace period, by session id. Notes
        first when each busy device was first seen offline, and forgets it for those back or free."""
        moves = []
        for device in self.devices.values():
            if device.serving is None or device.device_id in self._online:
                device.offline_since = None
                continue
            if device.offline_since is None:
                device.offline_since = now
            grace = self.sessions.get(device.serving, SessionState()).grace_s
            if now - device.offline_since >= grace:
                moves.append(Move(device.serving, device.device_id, now - device.offline_since))
        return sorted(moves, key=lambda m: (m.session_id, m.device_id))

    def takeover_order(self, move: Move, now: float) -> list[str]:
        """Devices to move a session to: free ones in its device's room first, then any free one."""
        info = self.record(move.device_id).info
        room = (info.room or None) if info is not None else None
        return self.candidates(room, True, None, now)

    def moved(self, move: Move, to: Desired, idle: Desired) -> list[Effect]:
        """The database moved the session to `to.device_id`; the old device goes idle."""
        old = self.record(move.device_id)
        old.offline_since = old.serving = None
        session = self.sessions.setdefault(move.session_id, SessionState())
        session.degraded = False
        if session.first == move.device_id:
            session.first = to.device_id
        self.record(to.device_id).serving = move.session_id
        effects: list[Effect] = [Log(logging.WARNING, "session %d moved from %s (offline %.0f s) to %s as config "
                                     "version %d", (move.session_id, move.device_id, move.offline_s, to.device_id,
                                                    to.config.version))]
        return effects + self._assign(to) + self._assign(idle)

    def move_gone(self, move: Move) -> None:
        """The session ended, or another controller moved it: stop counting its device busy (the
        next resync shows where it went)."""
        device = self.record(move.device_id)
        device.offline_since = device.serving = None

    def no_takeover(self, move: Move) -> list[Effect]:
        """No device is free to take the session over: it is degraded (said once) until one is."""
        session = self.sessions.setdefault(move.session_id, SessionState())
        if session.degraded:
            return []
        session.degraded = True
        return [MarkDegraded(move.session_id),
                Log(logging.WARNING, "session %d is degraded: its device %s has been offline %.0f s and no device "
                    "is free to take over; it moves as soon as one is", (move.session_id, move.device_id,
                                                                         move.offline_s))]

    # --- sessions ---------------------------------------------------------------------------------

    def started(self, desired: Sequence[Desired], grace_s: float) -> list[Effect]:
        """A session was created and each of `desired`'s devices claimed for it."""
        effects: list[Effect] = []
        for one in desired:
            if one.session_id is None:
                raise ValueError("a started session's config names its session")
            self.sessions.setdefault(one.session_id, SessionState(grace_s, first=one.device_id))
            self.record(one.device_id).serving = one.session_id
            effects.extend(self._assign(one))
        return effects

    def ended(self, session_id: int, idle: Sequence[Desired]) -> list[Effect]:
        """A session ended; each device it still had goes back to its idle config."""
        effects: list[Effect] = [Log(logging.INFO, "session %d ended", (session_id,))]
        for one in idle:
            self.record(one.device_id).serving = None
            effects.extend(self._assign(one))
        effects.append(SettleWaiters(session_id, "ended", None))
        return effects

    def release_order(self, session_id: int) -> list[str]:
        """The session's devices in the order a scale-down releases them: offline ones, then those
        with the fewest phones on their access point now (the fewest students cut off mid-check-in)."""
        def phones(device_id: str) -> int:
            live = self.live.devices.get(device_id)
            heartbeat = live.heartbeat if live is not None else None
            return (heartbeat.stations or 0) if heartbeat is not None else 0

        return sorted(self.serving_session(session_id), key=lambda d: (d in self._online, phones(d), d))

    def scaled(self, session_id: int, added: Sequence[Desired], released: Sequence[Desired]) -> list[Effect]:
        """A running session got devices (`added`, its config each) and lost some (`released`, idle)."""
        effects: list[Effect] = [Log(logging.INFO, "session %d scaled: added %s, released %s",
                                     (session_id, ", ".join(d.device_id for d in added) or "none",
                                      ", ".join(d.device_id for d in released) or "none"))]
        for one in added:
            self.record(one.device_id).serving = session_id
            effects.extend(self._assign(one))
        for one in released:
            device = self.record(one.device_id)
            device.serving = device.offline_since = None
            effects.extend(self._assign(one))
        return effects

    def _assign(self, desired: Desired) -> list[Effect]:
        device = self.record(desired.device_id)
        device.desired, device.settled = desired, None
        return [Reconcile(desired.device_id)]

    # --- reconcile and settling -------------------------------------------------------------------

    def reconcile(self, device_id: str, now: float, resend_after: float) -> list[Effect]:
        """Desired against reported for one device (`reconcile.reconcile`), as effects; nothing
        while configs wait for retained states after a reconnect."""
        device = self.devices.get(device_id)
        if device is None or device.desired is None or self.republish_at is not None:
            return []
        live = self.live.devices.get(device_id)
        action = reconcile.reconcile(device_id, device.desired.config, live.reported if live else None,
                                     device.published, online=device_id in self._online, now=now,
                                     resend_after=resend_after)
        if isinstance(action, Publish):
            return [PublishConfig(device_id, action.config)]
        if isinstance(action, Bump):
            return [BumpVersion(device_id, action.version, device.desired.session_id)]
        if action is None:
            return []
        return self.settle(device.desired, action, now)

    def settle(self, desired: Desired, action: Applied | RejectedByDevice, now: float) -> list[Effect]:
        """The device reported the outcome of its desired config: logged once per version, and the
        session's outcome when it is the session's first device (the others' show in session.show)."""
        device = self.record(desired.device_id)
        if device.settled == action.version:
            return []
        device.settled = action.version
        error = action.error if isinstance(action, RejectedByDevice) else None
        effects: list[Effect] = [
            Log(logging.INFO, "device %s applied config version %d", (desired.device_id, action.version))
            if error is None else
            Log(logging.WARNING, "device %s rejected config version %d: %s", (desired.device_id, action.version,
                                                                                  shown(error)))
        ]
        session = self.sessions.get(desired.session_id) if desired.session_id is not None else None
        if desired.session_id is not None and (session is None or session.first in (None, desired.device_id)):
            effects.append(MarkSession(desired.session_id, None if error else now, error))
            effects.append(SettleWaiters(desired.session_id, "rejected" if error else "applied", error))
        return effects
