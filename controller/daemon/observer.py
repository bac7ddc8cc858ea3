"""The daemon as operators see it: its metrics read at scrape time, `/healthz` and `/readyz`, and
systemd's notifications (READY once the first republish is done, a watchdog ping each tick,
STOPPING at the stop).

A scrape reads the fleet and the counters under the controller's lock, so it agrees with
`fleet devices --json` and `fleet stats --json` answered at the same instant; the session counts
are read from the database before the lock is taken, so a slow database never stalls heartbeats
behind a scrape. The health checks take no lock: a wedged loop holding it must still be reported,
not waited for.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controller import __version__
from controller.adapters.metrics import Metrics, Reading
from controller.adapters.metrics_http import MetricsServer, Probes
from controller.adapters.store import Store
from controller.adapters.systemd import Notifier
from controller.contract.requests import METHODS
from controller.core import census, health
from controller.core.fleet import Fleet
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import FleetError, StoreError

log = logging.getLogger(__name__)

SCRAPE_LOCK_S = 5.0
"""A scrape waits this long for the controller's lock, then fails (the loop is stuck: /healthz says so)."""


class Observer:
    """Metrics, health and systemd for one controller."""

    def __init__(self, settings: ControllerSettings, *, fleet: Fleet, stats: Stats, store: Store,
                 connected: Callable[[], bool], lock: threading.Lock, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._fleet = fleet
        self._stats = stats
        self._store = store
        self._connected = connected
        self._lock = lock
        self._clock = clock
        self.metrics = Metrics(self._reading, version=__version__, controller_id=settings.controller_id,
                               methods=METHODS)
        self.notifier = Notifier()
        self.last_tick: float | None = None
        self.synced = False
        self.server: MetricsServer | None = None

    def serve(self) -> None:
        """Start the HTTP endpoint when `metrics_port` is set (before connecting: /readyz says so)."""
        port = self._settings.metrics_port
        if port is None:
            return
        try:
            self.server = MetricsServer(self._settings.metrics_host, port,
                                        Probes(self.metrics.registry, self.alive, self.ready,
                                               self._settings.images_dir))
        except OSError as exc:
            raise FleetError(f"cannot serve metrics on {self._settings.metrics_host}:{port}: "
                             f"{exc.strerror or exc}") from exc
        self.server.start()

    def image_url_base(self) -> str | None:
        """Where devices fetch images: as configured, else this controller's own endpoint when it serves them."""
        if self._settings.image_url_base is not None:
            return self._settings.image_url_base
        server, host = self.server, self._settings.metrics_host
        if server is None or self._settings.images_dir is None or host in ("", "0.0.0.0", "::"):
            return None  # no endpoint, or one on every address: which of them reaches the devices is not known
        return f"http://{f'[{host}]' if ':' in host else host}:{server.port}/firmware/"

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def ticked(self, now: float) -> None:
        """The ticker completed a tick (called under the lock): ready once the first republish after
        connecting is done, and alive for the watchdog."""
        self.last_tick = now
        if not self.synced and self._fleet.republish_at is None and self._connected():
            self.synced = True
            self.notifier.ready()
            log.info("ready: connected, resynced and republished")
        self.notifier.watchdog()

    # --- what the endpoint serves (its threads) ---------------------------------------------------

    def _facts(self) -> health.Facts:
        return health.Facts(last_tick=self.last_tick, connected=self._connected(),
                            database_ok=self._store.answered, synced=self.synced)

    def alive(self) -> list[str]:
        problem = health.alive_problem(self._facts(), self._clock(), self._settings.health_stale_s)
        return [] if problem is None else [problem]

    def ready(self) -> list[str]:
        return health.ready_problems(self._facts())

    def _reading(self) -> Reading:
        # the database is read before the lock is taken: a slow one must not hold heartbeats up
        try:
            sessions: census.SessionCounts | None = census.session_counts(self._store.sessions(active_only=True))
            lectures: dict[str, int] | None = self._store.lecture_counts(self._clock())
            rollouts: dict[str, int] | None = self._store.rollouts.rollout_counts()
            rollout_devices: dict[str, int] | None = self._store.rollouts.device_counts()
        except StoreError as exc:
            log.warning("metrics without session, lecture and rollout counts: %s", exc)
            sessions = lectures = rollouts = rollout_devices = None
        if not self._lock.acquire(timeout=SCRAPE_LOCK_S):
            raise FleetError(f"the controller's lock was not free within {SCRAPE_LOCK_S:g} s")
        try:
            now, fleet = self._clock(), self._fleet
            devices = census.device_counts(list(fleet.live), fleet.live.online_ids(now), fleet.busy(),
                                           fleet.inventory(), now)
            return Reading(devices, sessions, self._stats.result(), self._connected(), self.last_tick, lectures,
                           rollouts, rollout_devices, dict(self._stats.update_failures))
        finally:
            self._lock.release()
