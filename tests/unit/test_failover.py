"""The failover decision."""

from __future__ import annotations

from controller.core.failover import due, track_offline


def test_a_busy_device_offline_past_its_grace_is_due() -> None:
    busy = {"dev-a": 1, "dev-b": 2, "dev-c": 3}
    since: dict[str, float] = {}
    track_offline(busy, online={"dev-c"}, offline_since=since, now=100.0)
    assert since == {"dev-a": 100.0, "dev-b": 100.0}
    track_offline(busy, online={"dev-c"}, offline_since=since, now=130.0)
    assert since == {"dev-a": 100.0, "dev-b": 100.0}  # first seen offline, not last
    assert due(busy, since, {1: 60.0, 2: 20.0}, now=130.0) == [(2, "dev-b")]
    assert due(busy, since, {1: 60.0, 2: 20.0}, now=160.0) == [(1, "dev-a"), (2, "dev-b")]


def test_a_device_back_online_or_freed_is_forgotten() -> None:
    since = {"dev-a": 1.0, "dev-b": 1.0}
    track_offline({"dev-a": 1}, online={"dev-a"}, offline_since=since, now=5.0)
    assert since == {}
    assert due({"dev-a": 1}, since, {}, now=500.0) == []
