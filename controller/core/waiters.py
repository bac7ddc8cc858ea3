"""Long-polls of `session.wait`: requests parked until their session settles or their deadline.

Pure: the controller parks a request, then asks which parked requests a settled session (or the
clock) answers, and sends the replies itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.contract.messages import JsonObject, Request


def wait_result(session_id: int, status: str, error: str | None = None) -> JsonObject:
    """The `session.wait` answer: status is applied, rejected, ended, or pending (timed out)."""
    return {"session_id": session_id, "status": status, "error": error}


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

    def settle(self, session_id: int, status: str, error: str | None) -> list[tuple[Request, JsonObject]]:
        """The session reached `status`: every request waiting on it, with its answer."""
        done = [p for p in self._parked if p.session_id == session_id]
        self._parked = [p for p in self._parked if p.session_id != session_id]
        return [(p.request, wait_result(session_id, status, error)) for p in done]

    def expire(self, now: float) -> list[tuple[Request, JsonObject]]:
        """Requests whose deadline has passed, answered `pending`."""
        done = [p for p in self._parked if p.deadline <= now]
        self._parked = [p for p in self._parked if p.deadline > now]
        return [(p.request, wait_result(p.session_id, "pending")) for p in done]
