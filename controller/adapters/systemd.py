"""systemd's service notification protocol (sd_notify), for a `Type=notify` unit with `WatchdogSec=`.

One datagram per state change to the AF_UNIX socket `$NOTIFY_SOCKET` names (a leading '@' is
Linux's abstract namespace). Without the variable (not under systemd) every call does nothing.
Written here rather than taken from PyPI: the protocol is a few lines, and `sdnotify` (last released
2017) neither checks `WATCHDOG_PID` nor is typed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Tells systemd the controller is ready, alive (watchdog) and stopping."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + path[1:] if path.startswith("@") else path
        watchdog_pid = env.get("WATCHDOG_PID", "")
        self.watchdog_on = bool(self._address and env.get("WATCHDOG_USEC")) and (
            not watchdog_pid.isdigit() or int(watchdog_pid) == os.getpid())
        """Whether systemd expects watchdog pings from this process."""
        self._warned = False

    def ready(self) -> None:
        self._send("READY=1")

    def watchdog(self) -> None:
        if self.watchdog_on:
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def _send(self, state: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(state.encode(), self._address)
        except OSError as exc:  # systemd gone or the socket unwritable: the service itself goes on
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "cannot notify systemd (%s) on %r: %s", state, self._address, exc)
