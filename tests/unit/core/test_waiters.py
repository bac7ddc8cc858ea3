"""session.wait long-polls: answered when their session settles, or `pending` at their deadline."""

from __future__ import annotations

from controller.contract.messages import Request
from controller.contract.results import SessionWaited
from controller.core.waiters import Waiters


def request(n: int) -> Request:
    return Request(f"r{n}", f"fleet/clients/c{n}/replies", "session.wait", {})


def test_a_settled_session_answers_every_request_waiting_on_it_and_only_those() -> None:
    waiters = Waiters()
    waiters.park(request(1), 7, deadline=100.0)
    waiters.park(request(2), 8, deadline=100.0)
    waiters.park(request(3), 7, deadline=100.0)
    answered = waiters.settle(7, "applied", None)
    assert [(r.id, result) for r, result in answered] == [
        ("r1", SessionWaited(7, "applied", None)), ("r3", SessionWaited(7, "applied", None))]
    assert len(waiters) == 1
    assert waiters.settle(7, "applied", None) == []  # answered once


def test_a_rejection_carries_the_devices_error() -> None:
    waiters = Waiters()
    waiters.park(request(1), 7, deadline=100.0)
    [(_, result)] = waiters.settle(7, "rejected", "ssid too long")
    assert result.to_obj() == {"session_id": 7, "status": "rejected", "error": "ssid too long"}


def test_requests_past_their_deadline_are_answered_pending_and_the_rest_keep_waiting() -> None:
    waiters = Waiters()
    waiters.park(request(1), 7, deadline=10.0)
    waiters.park(request(2), 8, deadline=20.0)
    assert waiters.expire(9.9) == []
    assert [(r.id, result.status) for r, result in waiters.expire(10.0)] == [("r1", "pending")]
    assert len(waiters) == 1
    assert [r.id for r, _ in waiters.settle(8, "ended", None)] == ["r2"]
