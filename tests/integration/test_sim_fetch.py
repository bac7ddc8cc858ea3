"""The simulator's image downloads (`controller.sim.fetch`) against small real HTTP servers: a broken
body resumed with Range, a server that ignores Range read again from the start, a longer body cut
at size + 1, errors that fail at once or after ATTEMPTS fruitless connections in a row, and one download per URL."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator

import pytest

from controller.sim.fetch import ATTEMPTS, Fetch, FetchError, Fetches, download
from tests.integration.test_simulator import wait_until

DATA = bytes(range(256)) * 64  # 16384 bytes


Behaviour = Callable[[http.server.BaseHTTPRequestHandler, int], None]
Serve = Callable[[Behaviour], tuple[str, list[str | None]]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(behaviour: Behaviour) -> tuple[str, list[str | None]]:
        ranges: list[str | None] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ranges.append(self.headers.get("Range"))
                behaviour(self, len(ranges))

            def log_message(self, *_: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/image.bin", ranges

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def body(handler: http.server.BaseHTTPRequestHandler, data: bytes, *, status: int = 200, cut: bool = False) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data[: len(data) // 3] if cut else data)


def test_a_server_that_ignores_the_range_is_read_again_from_the_start(serve: Serve) -> None:
    url, ranges = serve(lambda h, n: body(h, DATA, cut=n == 1))
    fetch = Fetch(url, len(DATA))
    assert download(fetch, threading.Event()) == DATA
    assert ranges == [None, f"bytes={len(DATA) // 3}-"] and fetch.resumed == 0


def test_a_ranged_resume_is_counted(serve: Serve) -> None:
    def ranged(h: http.server.BaseHTTPRequestHandler, n: int) -> None:
        start = int(h.headers["Range"][6:-1]) if h.headers.get("Range") else 0
        body(h, DATA[start:], status=206 if start else 200, cut=n == 1)

    url, _ = serve(ranged)
    fetch = Fetch(url, len(DATA))
    assert download(fetch, threading.Event()) == DATA
    assert fetch.resumed == 1 and fetch.received == len(DATA)


def test_a_longer_body_stops_one_byte_past_the_size(serve: Serve) -> None:
    url, _ = serve(lambda h, n: body(h, DATA + b"extra"))
    assert download(Fetch(url, len(DATA)), threading.Event()) == DATA + b"e"  # the device's bad_image


def test_http_errors_fail_at_once_and_broken_bodies_after_the_last_attempt(
        serve: Serve) -> None:
    url, ranges = serve(lambda h, n: h.send_error(404))
    with pytest.raises(FetchError, match="404"):
        download(Fetch(url, len(DATA)), threading.Event())
    assert len(ranges) == 1
    url, ranges = serve(lambda h, n: body(h, DATA, cut=True))
    with pytest.raises(FetchError, match="short"):
        download(Fetch(url, len(DATA)), threading.Event())
    assert len(ranges) == 1 + ATTEMPTS  # the first gets a third; then ATTEMPTS in a row get no further


def test_one_download_per_url_and_a_failed_one_is_tried_again(serve: Serve) -> None:
    url, ranges = serve(lambda h, n: h.send_error(503) if n == 1 else body(h, DATA))
    fetches = Fetches()
    try:
        first = fetches.get(url, len(DATA))
        wait_until(lambda: first.finished, 10.0, "the first download")
        assert first.error is not None and "503" in first.error
        second = fetches.get(url, len(DATA))
        assert second is not first
        wait_until(lambda: second.finished, 10.0, "the second download")
        assert second.data == DATA and fetches.get(url, len(DATA)) is second
        assert len(ranges) == 2
    finally:
        fetches.close()
