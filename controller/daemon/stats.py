"""Counters of what the controller received and rejected, with one log line per new reason."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from controller.contract.results import StatsResult
from controller.logtext import shown

log = logging.getLogger(__name__)


@dataclass
class Stats:
    received: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    checkins: Counter[str] = field(default_factory=Counter)
    unsent: Counter[str] = field(default_factory=Counter)
    """Messages the controller did not send, per reason (a bad topic, too large, the queue full)."""
    connections: int = 0
    """Connections made to the broker (the first and every reconnect)."""
    update_failures: Counter[str] = field(default_factory=Counter)
    """Firmware updates that failed, by reason (the device's, or the controller's `timeout`)."""
    broker: dict[str, int] = field(default_factory=dict)
    """What the broker says of itself ($SYS), e.g. `dropped`: messages it dropped for full queues."""

    def reject(self, reason: str, topic: str, detail: str) -> None:
        """Count a dropped message; the first of each reason is logged as a warning, the rest at debug."""
        level = _counted(self.rejected, reason, 1)
        if level is not None:
            log.log(level, "rejected message on %s: %s (%s) [further %s rejections are logged at debug]",
                    shown(topic), reason, detail, reason)

    def reject_checkins(self, reason: str, count: int, topic: str, detail: str) -> None:
        """Check-in events refused inside an accepted (and acknowledged) batch: counted per event
        under `checkins`, beside `stored` and `duplicate`; the first of each reason is a warning."""
        level = _counted(self.checkins, reason, count)
        if level is not None:
            log.log(level, "rejected %d check-in(s) on %s: %s (%s) [further %s rejections are logged at debug]",
                    count, shown(topic), reason, detail, reason)

    def result(self) -> StatsResult:
        """The `stats` answer: a copy of the counters as they are now."""
        return StatsResult(dict(self.received), dict(self.rejected), dict(self.checkins), dict(self.unsent),
                           self.connections, dict(self.broker))


def _counted(counter: Counter[str], reason: str, count: int) -> int | None:
    """Add `count` rejections of `reason`: the level to log them at (a warning for the first of the
    reason, debug after), or None when that level is off (a flood costs a count each, not a
    formatted line)."""
    counter[reason] += count
    level = logging.WARNING if counter[reason] == count else logging.DEBUG
    return level if log.isEnabledFor(level) else None
