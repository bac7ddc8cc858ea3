"""Firmware rollouts in the request API: the params of `rollout.start`, `rollout.status`,
`rollout.pause|resume|abort` and `rollout.list`, and their results (a rollout's summary, its waves
counted by state, the devices that failed or wait). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self

from controller.contract.fields import bad, int_map, integer, number, object_list, opt_text, text
from controller.contract.firmware import APP_DESC_VERSION_SIZE, check_version
from controller.contract.messages import JsonObject, boolean, drop_none, is_int
from controller.contract.readers import MAX_STORED_ID, ROOM_RE, flag, missing, opt_int, opt_str, required_str
from controller.contract.topics import valid_device_id
from controller.errors import BadRequest, UnknownRollout

MAX_TARGET_DEVICES: Final = 64
"""Devices named one by one in a start request (a room or `all` for more): it stays under the payload limit."""
MAX_RATE: Final = 10_000.0
"""Commands a minute, at most."""


def _fraction(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    if type(value) not in (int, float) or not 0 <= value <= 1:
        raise BadRequest(f"{key!r} must be a fraction in 0-1 (5% is 0.05)")
    return float(value)


def rollout_id(params: Mapping[str, Any], *, required: bool = True) -> int | None:
    value = opt_int(params, "rollout_id")
    if value is None and required:
        raise missing("rollout_id")
    if value is not None and value > MAX_STORED_ID:
        raise UnknownRollout(f"no rollout {value}")
    return value


@dataclass(frozen=True, slots=True)
class RolloutStartParams:
    """rollout.start: a version kept by `firmware.add` to one room's devices, named devices or all of
    them (exactly one), a canary fraction first, then `rate_per_min` commands a minute; halted when
    failures pass `max_failures` of at least `min_sample` finished devices."""

    version: str
    room: str | None = None
    devices: tuple[str, ...] | None = None
    all: bool = False
    canary: float = 0.05
    rate_per_min: float = 20.0
    max_failures: float = 0.1
    min_sample: int = 5
    allow_downgrade: bool = False

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        room = opt_str(params, "room", hi=32)
        if room is not None and ROOM_RE.fullmatch(room) is None:
            raise BadRequest(f"room {room!r} must be letters, digits, spaces, '.', '_' or '-'")
        devices = _devices(params)
        everything = flag(params, "all")
        if (room is not None) + (devices is not None) + everything != 1:
            raise BadRequest("give exactly one target: 'room', 'devices' or 'all'")
        rate = params.get("rate_per_min", 20.0)
        if type(rate) not in (int, float) or not 0 < rate <= MAX_RATE:
            raise BadRequest(f"'rate_per_min' must be a number of commands a minute in (0, {MAX_RATE:g}]")
        return cls(check_version(required_str(params, "version", hi=APP_DESC_VERSION_SIZE - 1)), room, devices,
                   everything, _fraction(params, "canary", 0.05), float(rate),
                   _fraction(params, "max_failures", 0.1), opt_int(params, "min_sample", hi=100_000) or 5,
                   flag(params, "allow_downgrade"))

    def to_obj(self) -> JsonObject:
        obj: JsonObject = {"version": self.version, "canary": self.canary, "rate_per_min": self.rate_per_min,
                           "max_failures": self.max_failures, "min_sample": self.min_sample,
                           "allow_downgrade": self.allow_downgrade}
        if self.room is not None:
            obj["room"] = self.room
        if self.devices is not None:
            obj["devices"] = list(self.devices)
        if self.all:
            obj["all"] = True
        return obj

    @property
    def target(self) -> str:
        """The target as status shows it."""
        if self.room is not None:
            return f"room {self.room}"
        if self.devices is not None:
            return f"devices {','.join(self.devices)}"[:128]
        return "all"


def _devices(params: Mapping[str, Any]) -> tuple[str, ...] | None:
    value = params.get("devices")
    if value is None:
        return None
    if type(value) is not list or not 1 <= len(value) <= MAX_TARGET_DEVICES or any(
            type(d) is not str or not valid_device_id(d) for d in value):
        raise BadRequest(f"'devices' must be a list of 1-{MAX_TARGET_DEVICES} device ids")
    return tuple(sorted(set(value)))


@dataclass(frozen=True, slots=True)
class RolloutParams:
    """rollout.pause, rollout.resume and rollout.abort: one rollout."""

    rollout_id: int

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(rollout_id(params) or 0)

    def to_obj(self) -> JsonObject:
        return {"rollout_id": self.rollout_id}


@dataclass(frozen=True, slots=True)
class RolloutStatusParams:
    """rollout.status: one rollout, or (without an id) the latest."""

    rollout_id: int | None = None

    @classmethod
    def from_obj(cls, params: Mapping[str, Any]) -> Self:
        return cls(rollout_id(params, required=False))

    def to_obj(self) -> JsonObject:
        return drop_none({"rollout_id": self.rollout_id})


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RolloutSummary:
    """A rollout: what, to whom, how, where it stands (`reason`: why it halted), and its devices
    counted by state."""

    id: int
    version: str
    target: str
    state: str
    reason: str
    canary: float
    rate_per_min: float
    max_failures: float
    min_sample: int
    allow_downgrade: bool
    created_by: str
    created_at: float
    updated_at: float
    counts: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        min_sample = obj.get("min_sample")
        if not is_int(min_sample, 1, 100_000):
            raise bad("min_sample", "an integer")
        return cls(integer(obj, "id"), text(obj, "version"), text(obj, "target"), text(obj, "state"),
                   text(obj, "reason"), number(obj, "canary"), number(obj, "rate_per_min"),
                   number(obj, "max_failures"), min_sample, boolean(obj, "allow_downgrade"),
                   text(obj, "created_by"), number(obj, "created_at"), number(obj, "updated_at"),
                   int_map(obj, "counts"))

    def to_obj(self) -> JsonObject:
        return {"id": self.id, "version": self.version, "target": self.target, "state": self.state,
                "reason": self.reason, "canary": self.canary, "rate_per_min": self.rate_per_min,
                "max_failures": self.max_failures, "min_sample": self.min_sample,
                "allow_downgrade": self.allow_downgrade, "created_by": self.created_by,
                "created_at": self.created_at, "updated_at": self.updated_at, "counts": dict(self.counts)}

    @property
    def devices(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class WaveCounts:
    """One wave (0: the canary) counted by state, with `waiting` its pending devices held back now."""

    wave: int
    counts: Mapping[str, int]
    waiting: int = 0

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(integer(obj, "wave"), int_map(obj, "counts"), integer(obj, "waiting"))

    def to_obj(self) -> JsonObject:
        return {"wave": self.wave, "counts": dict(self.counts), "waiting": self.waiting}

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class DeviceNote:
    """A device worth naming in a status: failed (with the reason) or waiting (session, lecture, offline)."""

    device: str
    state: str
    reason: str | None = None

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "device"), text(obj, "state"), opt_text(obj, "reason"))

    def to_obj(self) -> JsonObject:
        return drop_none({"device": self.device, "state": self.state, "reason": self.reason})


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """rollout.status (and rollout.start's answer): the rollout, its waves, and the devices that
    failed or wait (at most `MAX_NOTES` of them)."""

    rollout: RolloutSummary
    waves: tuple[WaveCounts, ...] = ()
    notes: tuple[DeviceNote, ...] = ()

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        rollout = obj.get("rollout")
        if type(rollout) is not dict:
            raise bad("rollout", "an object")
        return cls(RolloutSummary.from_obj(rollout), tuple(WaveCounts.from_obj(w) for w in object_list(obj, "waves")),
                   tuple(DeviceNote.from_obj(n) for n in object_list(obj, "notes")))

    def to_obj(self) -> JsonObject:
        return {"rollout": self.rollout.to_obj(), "waves": [w.to_obj() for w in self.waves],
                "notes": [n.to_obj() for n in self.notes]}


MAX_NOTES: Final = 50


@dataclass(frozen=True, slots=True)
class RolloutChanged:
    """rollout.pause, rollout.resume, rollout.abort: the rollout after the change."""

    rollout: RolloutSummary

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        rollout = obj.get("rollout")
        if type(rollout) is not dict:
            raise bad("rollout", "an object")
        return cls(RolloutSummary.from_obj(rollout))

    def to_obj(self) -> JsonObject:
        return {"rollout": self.rollout.to_obj()}


@dataclass(frozen=True, slots=True)
class RolloutList:
    """rollout.list: every rollout, the newest first."""

    rollouts: tuple[RolloutSummary, ...]

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(tuple(RolloutSummary.from_obj(r) for r in object_list(obj, "rollouts")))

    def to_obj(self) -> JsonObject:
        return {"rollouts": [r.to_obj() for r in self.rollouts]}
