"""What the core's decisions ask the daemon to do: frozen effect values, applied in one place.

A decision (`core.fleet`) changes the in-memory fleet and returns these; the daemon's applier
(`daemon/effects.py`) turns each into a publish, a database write, a reply or a log line. Nothing
here does any of that.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.contract.messages import Config


@dataclass(frozen=True, slots=True)
class PublishConfig:
    """Publish `config` retained on the device's config topic (it is then recorded as published)."""

    device_id: str
    config: Config


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Run the reconcile decision for a device whose desired config just changed."""

    device_id: str


@dataclass(frozen=True, slots=True)
class BumpVersion:
    """The device is ahead of the database: store `version` as its desired version, then publish."""

    device_id: str
    version: int
    session_id: int | None


@dataclass(frozen=True, slots=True)
class MarkSession:
    """Record a session's outcome: applied (at `applied_at`) or rejected with `error`."""

    session_id: int
    applied_at: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class MarkDegraded:
    """Record that a session has lost its device and no other is free to take over."""

    session_id: int


@dataclass(frozen=True, slots=True)
class SettleWaiters:
    """Answer every `session.wait` parked on the session: it reached `status`."""

    session_id: int
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class ClearRetained:
    """Clear a forgotten device's retained topics (status, state, config) on the broker."""

    device_id: str


@dataclass(frozen=True, slots=True)
class Log:
    """One log line: a `logging` level, a %-style message and its arguments."""

    level: int
    message: str
    args: tuple[object, ...] = ()


Effect = PublishConfig | Reconcile | BumpVersion | MarkSession | MarkDegraded | SettleWaiters | ClearRetained | Log
