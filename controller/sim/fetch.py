"""Firmware images fetched over real HTTP for the simulated devices, once per URL: thousands of
devices updating to one image share one download (`Fetches`), each device then checks the bytes
itself (`controller.sim.update`). A download that breaks resumes where it stopped with an HTTP
`Range` request, as a device does; a server that ignores the range (200, not 206) is read again
from the start.

Downloads run on a small pool of worker threads (never one per device); the simulator's thread
reads each `Fetch`'s progress and outcome, which the worker publishes as plain values.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Final

log = logging.getLogger(__name__)

WORKERS: Final = 2
TIMEOUT_S: Final = 10.0
ATTEMPTS: Final = 5
"""Broken connections in a row without progress before a download fails."""
RETRY_S: Final = 0.2
CHUNK: Final = 64 * 1024
CACHED: Final = 8
"""Finished downloads kept (newest first); a failed one is forgotten, so the next device tries again."""


class Fetch:
    """One URL's download: `received` bytes so far of `size`; then `data` (done) or `error`."""

    __slots__ = ("data", "error", "received", "resumed", "size", "url")

    def __init__(self, url: str, size: int) -> None:
        self.url = url
        self.size = size
        self.received = 0
        self.resumed = 0  # Range requests that continued a broken download
        self.data: bytes | None = None
        self.error: str | None = None

    @property
    def finished(self) -> bool:
        return self.data is not None or self.error is not None

    def fraction(self) -> float:
        if self.data is not None:
            return 1.0
        return min(1.0, self.received / self.size) if self.size else 0.0


class Fetches:
    """The simulator's downloads by URL. `get` on the simulator's thread; `close` at the end."""

    def __init__(self) -> None:
        self._fetches: OrderedDict[str, Fetch] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = threading.Event()

    def get(self, url: str, size: int) -> Fetch:
        """The download of `url`, started now unless one is running or done for the same size."""
        fetch = self._fetches.get(url)
        if fetch is not None and fetch.error is None and fetch.size == size:
            self._fetches.move_to_end(url)
            return fetch
        fetch = self._fetches[url] = Fetch(url, size)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="fleet-sim-fetch")
        self._pool.submit(self._run, fetch)
        while len(self._fetches) > CACHED:
            oldest = next(iter(self._fetches.values()))
            if not oldest.finished:
                break
            self._fetches.popitem(last=False)
        return fetch

    def close(self) -> None:
        self._closed.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, fetch: Fetch) -> None:
        try:
            fetch.data = download(fetch, self._closed)
        except FetchError as exc:
            log.warning("download of %s failed: %s", fetch.url, exc)
            fetch.error = str(exc)
        except Exception as exc:  # a worker must report every outcome, or devices wait forever
            log.exception("download of %s failed", fetch.url)
            fetch.error = f"internal: {exc}"


class FetchError(Exception):
    """A download that failed for good."""


def download(fetch: Fetch, closed: threading.Event) -> bytes:
    """Read `fetch.url`: at most `fetch.size` + 1 bytes (a longer body is the device's `bad_image`),
    resuming a broken connection with `Range: bytes=N-`; ATTEMPTS broken connections in a row
    without progress fail it (the firmware's `kUpdateMaxAttempts`)."""
    data = bytearray()
    fruitless = 0
    while fruitless < ATTEMPTS:
        if closed.is_set():
            raise FetchError("the simulator stopped")
        before = len(data)
        headers = {"Range": f"bytes={before}-"} if data else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(fetch.url, headers=headers),
                                        timeout=TIMEOUT_S) as response:
                if data:
                    if response.status == 206:
                        fetch.resumed += 1
                    else:
                        data.clear()  # the server ignored the range: the body is the whole image
                if _read(response, data, fetch, closed):
                    return bytes(data)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            log.info("download of %s broke after %d bytes (%s); resuming", fetch.url, len(data), exc)
        fruitless = 0 if len(data) > before else fruitless + 1
        time.sleep(RETRY_S)
    raise FetchError(f"still {fetch.size - len(data)} bytes short after {ATTEMPTS} broken connections in a row")


def _read(response: http.client.HTTPResponse, data: bytearray, fetch: Fetch, closed: threading.Event) -> bool:
    """Append the body to `data`; True when it ended whole (or passed the expected size), False when
    the connection broke before the length the server declared."""
    while not closed.is_set():
        chunk = response.read(min(CHUNK, fetch.size + 1 - len(data)))
        if not chunk:
            return not response.length  # http.client counts down the declared bytes still to come
        data += chunk
        fetch.received = len(data)
        if len(data) > fetch.size:
            return True
    raise FetchError("the simulator stopped")
