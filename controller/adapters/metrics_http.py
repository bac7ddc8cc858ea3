"""The operators' HTTP endpoint, on a thread: `/metrics` (prometheus_client's exposition of the
controller's registry), `/healthz` and `/readyz` (200 "ok", or 503 naming what is wrong), and
`/firmware/<sha256>.bin` from the images directory, with byte ranges (RFC 9110: one range per request,
206 with Content-Range, 416 for one past the end) so a device resumes a broken download."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from controller.adapters.images import find_image

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probes:
    """What the endpoint serves: the registry, and the health checks (each lists its problems)."""

    registry: CollectorRegistry
    alive: Callable[[], list[str]]
    ready: Callable[[], list[str]]
    images: Path | None = None  # serve /firmware/<sha256>.bin from here; None: no images


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class MetricsServer:
    """`/metrics`, `/healthz`, `/readyz` on `host:port` (port 0: a free one, then `port` says which)."""

    def __init__(self, host: str, port: int, probes: Probes) -> None:
        self._probes = probes
        self._exposition = make_wsgi_app(probes.registry)
        self._server = make_server(host, port, self._app, server_class=_Server, handler_class=_QuietHandler)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fleet-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("metrics and health on http://%s:%d/metrics (/healthz, /readyz)", self.host, self.port)

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/firmware/") and self._probes.images is not None:
            return _firmware(environ, start_response, self._probes.images, path.removeprefix("/firmware/"))
        if path == "/metrics":
            exposition: Iterable[bytes] = self._exposition(environ, start_response)
            return exposition
        checks = {"/healthz": self._probes.alive, "/readyz": self._probes.ready}
        check = checks.get(path)
        if check is None:
            return _text(start_response, "404 Not Found", "not found: /metrics, /healthz or /readyz\n")
        problems = check()
        if problems:
            return _text(start_response, "503 Service Unavailable", "".join(f"{p}\n" for p in problems))
        return _text(start_response, "200 OK", "ok\n")


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]


_CHUNK = 64 * 1024


def _firmware(environ: WSGIEnvironment, start_response: StartResponse, images: Path, name: str) -> Iterable[bytes]:
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        return _text(start_response, "405 Method Not Allowed", "GET or HEAD\n")
    found = find_image(images, name)
    if found is None:
        return _text(start_response, "404 Not Found", "no such image: /firmware/<sha256>.bin\n")
    size = found.stat().st_size
    wanted = parse_range(environ.get("HTTP_RANGE"), size)
    headers = [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
               ("ETag", f'"{found.stem}"'), ("Cache-Control", "public, max-age=31536000, immutable")]
    if isinstance(wanted, str):
        start_response("416 Range Not Satisfiable", [*headers, ("Content-Range", f"bytes */{size}"),
                                                     ("Content-Length", "0")])
        return [b""]
    first, last, status = 0, size - 1, "200 OK"
    if wanted is not None:
        first, last = wanted
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    start_response(status, [*headers, ("Content-Length", str(last - first + 1))])
    if environ.get("REQUEST_METHOD") == "HEAD":
        return [b""]
    return _read(found, first, last - first + 1)


def _read(path: Path, offset: int, length: int) -> Iterable[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """A `Range` header against a file of `size` bytes: (first, last) inclusive, "unsatisfiable", or
    None (no header, or one we ignore and answer with the whole file: several ranges, other units,
    bad syntax, as RFC 9110 allows)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, dash, last_text = header.removeprefix("bytes=").strip().partition("-")
    if not dash or not (first_text + last_text).isdigit() or not (first_text.isdigit() or last_text.isdigit()):
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        return (max(size - suffix, 0), size - 1) if suffix > 0 and size > 0 else "unsatisfiable"
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size:
        return "unsatisfiable"
    if last < first:
        return None
    return first, last
