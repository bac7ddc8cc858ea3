"""What the embedded broker writes to the log: amqtt's own lines bounded, client text kept away from
rich's highlighter, and each kind of denial logged once per client and window, then counted.

One refusal per packet would flood any log: `DenialLog` lets through the first line per (client,
reason) in each window and counts the rest; `flush` then gives one count per key, so the operator
sees every kind of trouble once, and how often, without a line per packet. Its memory is bounded by
`max_keys`; it is pure (`now` is a parameter), `Denials` runs it on the broker's event loop.

Client-supplied text (client ids, usernames, topics: up to 65,535 bytes each) reaches the log
bounded and escaped by `controller.logtext.shown`, and every such line carries `UNTRUSTED` as its
`extra`. Importing this module quiets amqtt's INFO chatter and installs `AmqttRecords` on its
loggers, before any amqtt broker exists.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

DENIAL_WINDOW_S = 60.0
"""Each kind of denial is logged once per client in this window, then counted (read when a
`Denials` is made, so a test may shorten it)."""
DENIAL_MAX_KEYS: Final = 200
"""Clients whose denials are told apart in one window: at most this many full lines a minute."""
UNTRUSTED: Final = {"highlighter": None}
"""`extra` of a log line holding client-supplied text: rich's RichHandler must not highlight it
(its highlighter took 45 s over a 65,535-character topic); other handlers ignore the attribute."""

_NOISY_LOGGERS = ("amqtt", "transitions")
_AMQTT_LOGGERS = ("amqtt.broker", "amqtt.broker.plugins", "amqtt.mqtt.protocol.handler", "amqtt.adapters",
                  "amqtt.session")
_AMQTT_LINE_LIMIT = 300
_REPEATED_BY_US = ("Broker startup failed", "Failed to initialize client session")


class AmqttRecords(logging.Filter):
    """amqtt's own log lines embed client ids and topics unbounded (f-strings): cut them, keep rich's
    highlighter off them, and drop the two that we report ourselves as one line ("Broker startup
    failed", which `EmbeddedBroker.start()` raises; a refused CONNECT, logged once per client with
    its reason)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_REPEATED_BY_US):
            return False
        if len(message) > _AMQTT_LINE_LIMIT:
            record.msg, record.args = f"{message[:_AMQTT_LINE_LIMIT]}... ({len(message):,} characters)", None
        record.highlighter = None
        return True


def quiet_amqtt_logging() -> None:
    """Keep amqtt's INFO chatter off the console unless the application set its level itself, and
    filter amqtt's lines through `AmqttRecords` (once per logger)."""
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    for name in _AMQTT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, AmqttRecords) for f in logger.filters):
            logger.addFilter(AmqttRecords())


quiet_amqtt_logging()


@dataclass(frozen=True, slots=True)
class Suppressed:
    """Denials not logged one by one since the last flush: `count` more of `reason` from `who`."""

    who: str
    reason: str
    count: int


class DenialLog:
    """Which denial lines to log: the first per (who, reason) in each window; the rest are counted."""

    def __init__(self, window_s: float = DENIAL_WINDOW_S, max_keys: int = DENIAL_MAX_KEYS) -> None:
        self.window_s = window_s
        self._max_keys = max_keys
        self._counts: dict[tuple[str, str], int] = {}  # logged key -> denials since, not logged
        self._unlisted = 0  # denials of keys that did not fit
        self._started: float | None = None

    def admit(self, who: str, reason: str, now: float) -> bool:
        """Record one denial; True if it is the first of its key in this window (log it in full)."""
        if self._started is None:
            self._started = now
        key = (who, reason)
        count = self._counts.get(key)
        if count is not None:
            self._counts[key] = count + 1
            return False
        if len(self._counts) >= self._max_keys:
            self._unlisted += 1
            return False
        self._counts[key] = 0
        return True

    def due(self, now: float) -> bool:
        """Whether the window has passed (call `flush`)."""
        return self._started is not None and now - self._started >= self.window_s

    def flush(self) -> tuple[list[Suppressed], int]:
        """The counts not logged since the window began, and the denials of clients that did not
        fit in the table; starts a new window (the next denial of any key is logged again)."""
        suppressed = [Suppressed(who, reason, count) for (who, reason), count in self._counts.items() if count]
        unlisted = self._unlisted
        self._counts.clear()
        self._unlisted = 0
        self._started = None
        return suppressed, unlisted


class Denials:
    """The broker's denial lines (refused CONNECTs, closed connections, denied PUBLISHes, dropped
    messages): the first per (client, kind) in each window in full, then one count per key."""

    def __init__(self) -> None:
        self._log = DenialLog(DENIAL_WINDOW_S)

    def deny(self, who: str, kind: str, message: str, *args: object, level: int = logging.WARNING) -> None:
        """Log `message % args` unless `who` had a denial of `kind` in this window already."""
        if self._log.admit(who, kind, asyncio.get_running_loop().time()):
            log.log(level, message, *args, extra=UNTRUSTED)

    async def summarize(self) -> None:
        """Every window, one line per (client, kind of denial) for the denials not logged one by one."""
        while True:
            await asyncio.sleep(min(1.0, self._log.window_s))
            if not self._log.due(asyncio.get_running_loop().time()):
                continue
            suppressed, unlisted = self._log.flush()
            for item in suppressed:
                log.warning("client %s: %d more %s in the last %g s", item.who, item.count, item.reason,
                            self._log.window_s, extra=UNTRUSTED)
            if unlisted:
                log.warning("%d more denials of other clients in the last %g s", unlisted, self._log.window_s)
