"""Many paho clients moved from one thread over a `Reactor`, through paho's external-loop API:
`socket()`, `loop_read/loop_write/loop_misc()`, `want_write()` and the `on_socket_*` callbacks.
No thread per client: N clients are N sockets in one selector. What a client's messages mean is
not known here; each client's paho user data is its link, which names it for the log.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import TYPE_CHECKING, Final, Generic, Protocol, TypeVar

import paho.mqtt.client as paho

from controller.sim.reactor import READ, WRITE, Reactor

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger(__name__)

MISC_PERIOD_S: Final = 1.0
"""Every client's `loop_misc()` (keepalive, CONNACK timeout) runs at least this often."""
_ABORT_READS: Final = 16


class Pumped(Protocol):
    """A client slot: its paho client (None until one is made) and a name for the log."""

    @property
    def client(self) -> paho.Client | None: ...

    @property
    def name(self) -> str: ...


L = TypeVar("L", bound=Pumped)


class ClientPump(Generic[L]):
    """Reads, writes and keeps alive the clients of `links` on the thread that calls it."""

    def __init__(self, reactor: Reactor[L], links: list[L], now: float) -> None:
        self.reactor = reactor
        self._links = links
        self._dirty: set[L] = set()  # paho has bytes to send: try a write before the next select
        self._armed: set[L] = set()  # a write would block: registered for WRITE
        self._misc_credit = 0.0
        self._misc_at = now
        self._misc_cursor = 0

    def attach(self, client: paho.Client) -> None:
        """Hand `client`'s socket to the pump (its user data must be its link)."""
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write

    def poll(self, timeout: float) -> None:
        """Wait up to `timeout` s and read or write what is ready; a client whose network loop
        fails is cut off (`abort`)."""
        for link, mask in self.reactor.select(timeout):
            client = link.client
            if client is None:
                continue
            try:
                if mask & READ:
                    client.loop_read()
                if mask & WRITE and client.socket() is not None:
                    client.loop_write()
            except Exception:
                log.exception("%s: its network loop failed; dropping the connection", link.name)
                self.abort(link)

    def flush(self) -> None:
        """Write what paho queued; a socket that would block is left to the selector."""
        if not self._dirty:
            return
        for link in list(self._dirty):
            client = link.client
            if client is None or client.socket() is None:
                self._dirty.discard(link)
                continue
            try:
                client.loop_write()
            except Exception:
                log.exception("%s: write failed", link.name)
            if link in self._dirty:  # still bytes left: wait until the socket is writable
                self._dirty.discard(link)
                sock = client.socket()
                if sock is not None and link not in self._armed:
                    self.reactor.watch_writes(sock, link, True)
                    self._armed.add(link)

    def misc(self, now: float) -> None:
        """`loop_misc()` for a slice of the clients, so each gets one every MISC_PERIOD_S."""
        links = self._links
        if not links:
            return
        self._misc_credit += len(links) * (now - self._misc_at) / MISC_PERIOD_S
        self._misc_at = now
        n = min(len(links), int(self._misc_credit))
        self._misc_credit -= n
        for _ in range(n):
            link = links[self._misc_cursor]
            self._misc_cursor = (self._misc_cursor + 1) % len(links)
            client = link.client
            if client is not None and client.socket() is not None:
                try:
                    client.loop_misc()
                except Exception:
                    log.exception("%s: loop_misc failed", link.name)

    def abort(self, link: L) -> None:
        """Close the socket with no DISCONNECT, as a device losing power; paho then notices the
        end of stream and runs its disconnect path (its `on_disconnect`)."""
        client = link.client
        sock = None if client is None else client.socket()
        if client is None or sock is None:
            return
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _ in range(_ABORT_READS):
            if client.socket() is None:
                return
            try:
                client.loop_read()
            except Exception:
                log.exception("%s: failed while closing", link.name)
                break
        log.warning("%s: socket still open after an abort", link.name)

    def close_all(self) -> None:
        """Close every client's socket and the reactor, with no more paho calls."""
        for link in self._links:
            client = link.client
            sock = None if client is None else client.socket()
            if sock is not None:
                sock.close()
        self.reactor.close()

    # --- paho's socket callbacks (inside loop_read/loop_write/loop_misc/reconnect) ---

    def _on_socket_open(self, client: paho.Client, link: L, sock: SocketLike) -> None:
        self.reactor.register(sock, link)

    def _on_socket_close(self, client: paho.Client, link: L, sock: SocketLike) -> None:
        self._dirty.discard(link)
        self._armed.discard(link)
        self.reactor.unregister(sock)

    def _on_socket_register_write(self, client: paho.Client, link: L, sock: SocketLike) -> None:
        self._dirty.add(link)

    def _on_socket_unregister_write(self, client: paho.Client, link: L, sock: SocketLike) -> None:
        self._dirty.discard(link)
        if link in self._armed:
            self._armed.discard(link)
            with contextlib.suppress(KeyError, ValueError):
                self.reactor.watch_writes(sock, link, False)
