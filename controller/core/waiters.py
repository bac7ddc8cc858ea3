"""Long-polls of `session.wait`: requests parked until their session settles or their deadline.

Pure: the controller parks a request, then asks which parked requests a settled session (or the
clock) answers, and sends the replies itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.contract.messages import Request
from controller.contract.results import SessionWaited


@dataclass(slots=True)
class _Parked:
    request: Request
    session_id: int
    deadline: float


@dataclass
class Waiters:
    _parked: list[_Parked] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self._parked)

    def park(self, request: Request, session_id: int, deadline: float) -> None:
        self._parked.append(_Parked(request, session_id, deadline))

    def settle(self, session_id: int, status: str, error: str | None) -> list[tuple[Request, SessionWaited]]:
        """The session reached `status`: every request waiting on it, with its answer."""
        done = [p for p in self._parked if p.session_id == session_id]
        self._parked = [p for p in self._parked if p.session_id != session_id]
        return [(p.request, SessionWaited(session_id, status, error)) for p in done]

    def expire(self, now: float) -> list[tuple[Request, SessionWaited]]:
        """Requests whose deadline has passed, answered `pending`."""
        done = [p for p in self._parked if p.deadline <= now]
        self._parked = [p for p in self._parked if p.deadline > now]
        return [(p.request, SessionWaited(p.session_id, "pending", None)) for p in done]
