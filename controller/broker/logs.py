"""What the embedded broker writes to the log: amqtt's own lines bounded, client text kept away from
rich's highlighter, and each kind of denial logged once per client and window, then counted.

Client-supplied text (client ids, usernames, topics: up to 65,535 bytes each) reaches the log
bounded and escaped by `controller.logtext.shown`, and every such line carries `UNTRUSTED` as its
`extra`. Importing this module quiets amqtt's INFO chatter and installs `AmqttRecords` on its
loggers, before any amqtt broker exists.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from controller import logtext
from controller.logtext import DenialLog

log = logging.getLogger(__name__)

DENIAL_WINDOW_S = logtext.DENIAL_WINDOW_S
"""Each kind of denial is logged once per client in this window, then counted (read when a
`Denials` is made, so a test may shorten it)."""
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
