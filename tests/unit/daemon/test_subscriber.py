"""The controller's subscriber: a filter the broker refused in its SUBACK is subscribed again."""

from __future__ import annotations

from typing import Any

from controller.daemon.connection import Subscriber


class _Client:
    """What Subscriber uses of a paho client: subscribe (rc, mid), is_connected, on_subscribe."""

    def __init__(self) -> None:
        self.sent: list[list[tuple[str, int]]] = []
        self.connected = True
        self.on_subscribe: Any = None

    def subscribe(self, filters: list[tuple[str, int]]) -> tuple[int, int]:
        self.sent.append(filters)
        return 0, len(self.sent)

    def is_connected(self) -> bool:
        return self.connected


def _suback(client: _Client, mid: int, refused: list[bool]) -> None:
    class Code:
        def __init__(self, failure: bool) -> None:
            self.is_failure = failure

    client.on_subscribe(client, None, mid, [Code(r) for r in refused], None)


def test_a_refused_filter_is_subscribed_again_and_a_granted_one_is_not() -> None:
    client = _Client()
    subscriber = Subscriber(client)  # type: ignore[arg-type]
    subscriber.subscribe([("a/+", 0), ("r/+", 1)])
    subscriber.retry()
    assert len(client.sent) == 1  # no answer yet: nothing to retry
    _suback(client, 1, [False, True])
    subscriber.retry()
    assert client.sent[-1] == [("r/+", 1)]
    _suback(client, 2, [False])
    subscriber.retry()
    assert len(client.sent) == 2


def test_forgotten_or_disconnected_refusals_are_not_retried() -> None:
    client = _Client()
    subscriber = Subscriber(client)  # type: ignore[arg-type]
    subscriber.subscribe([("r/+", 1), ("s", 1)])
    _suback(client, 1, [True, True])
    subscriber.forget(["r/+"])  # unsubscribed (stood down)
    subscriber.retry()
    assert client.sent[-1] == [("s", 1)]
    _suback(client, 2, [True])
    client.connected = False
    subscriber.retry()  # the reconnect subscribes to everything
    client.connected = True
    subscriber.retry()
    assert len(client.sent) == 2
