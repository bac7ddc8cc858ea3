"""session.show's result: one session as a lecturer follows it — each device that served it (slots,
refusals, check-ins), and its check-ins over time. Pure: no I/O; the other results are in `results`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from controller.contract.fields import bad, integer, number, object_list, opt_int, opt_number, opt_text, text
from controller.contract.messages import JsonObject, boolean
from controller.contract.results import SessionRow


@dataclass(frozen=True, slots=True)
class ServedRow:
    """One device's time serving the session; the slot counts are from its last heartbeat, while it serves."""

    device: str
    joined_at: float
    left_at: float | None
    left_why: str | None
    """ended, moved (failed over) or released (scaled down); None while it serves."""
    online: bool
    applied: bool
    """It runs the session's config (while it serves)."""
    stations: int | None
    stations_peak: int | None
    stations_refused: int | None
    checkins: int
    """Check-ins stored from it for this session."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        return cls(text(obj, "device"), number(obj, "joined_at"), opt_number(obj, "left_at"), opt_text(obj, "left_why"),
                   boolean(obj, "online"), boolean(obj, "applied"), opt_int(obj, "stations"),
                   opt_int(obj, "stations_peak"), opt_int(obj, "stations_refused"), integer(obj, "checkins"))

    def to_obj(self) -> JsonObject:
        return {"device": self.device, "joined_at": self.joined_at, "left_at": self.left_at,
                "left_why": self.left_why, "online": self.online, "applied": self.applied,
                "stations": self.stations, "stations_peak": self.stations_peak,
                "stations_refused": self.stations_refused, "checkins": self.checkins}


@dataclass(frozen=True, slots=True)
class SessionShown:
    """session.show: the session's row, its devices, and its check-ins counted per `bucket_s` seconds
    from its start (to its end, or to now)."""

    session: SessionRow
    devices: tuple[ServedRow, ...]
    bucket_s: int
    timeline: tuple[int, ...]
    rejected: int
    """Check-ins refused (unknown session, bad student id)."""

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Self:
        session = obj.get("session")
        timeline = obj.get("timeline")
        if type(session) is not dict:
            raise bad("session", "a session object")
        if type(timeline) is not list or any(type(n) is not int for n in timeline):
            raise bad("timeline", "a list of integers")
        return cls(SessionRow.from_obj(session), tuple(ServedRow.from_obj(d) for d in object_list(obj, "devices")),
                   integer(obj, "bucket_s"), tuple(timeline), integer(obj, "rejected"))

    def to_obj(self) -> JsonObject:
        return {"session": self.session.to_obj(), "devices": [d.to_obj() for d in self.devices],
                "bucket_s": self.bucket_s, "timeline": list(self.timeline), "rejected": self.rejected}
