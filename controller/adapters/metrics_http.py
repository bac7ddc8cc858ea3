"""The operators' HTTP endpoint, on a thread: `/metrics` (prometheus_client's exposition of the
controller's registry), `/healthz` and `/readyz` (200 "ok", or 503 naming what is wrong)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Probes:
    """What the endpoint serves: the registry, and the health checks (each lists its problems)."""

    registry: CollectorRegistry
    alive: Callable[[], list[str]]
    ready: Callable[[], list[str]]


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
