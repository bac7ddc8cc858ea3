"""The controller's Prometheus metrics on a registry of its own (never the global one: tests run
several controllers in one process). With `metrics_http.py`, the only user of prometheus_client.

Counters and gauges are read at scrape time from one `Reading` the daemon takes under its lock, so a
scrape agrees exactly with `fleet stats --json` and `fleet devices --json` at that instant; the
histograms are observed by the daemon as things happen. No label names a device (cardinality): the
per-device view is `fleet devices`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.contract.results import StatsResult
from controller.contract.timetable import LECTURE_STATES
from controller.core.census import DeviceCounts, SessionCounts
from controller.core.rollout import DEVICE_STATES, ROLLOUT_STATES

CHECKIN_RESULTS = ("stored", "duplicate")
"""`Stats.checkins` keys counted by `fleet_checkins_total`; every other key is a refusal's reason."""
UNKNOWN_METHOD = "unknown"
_FLUSH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_APPLY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Session start → applied: seconds when the device is online, minutes when it must come back first."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What a scrape reports besides the histograms, taken at one instant."""

    devices: DeviceCounts
    sessions: SessionCounts | None
    """None when the database could not say (the scrape goes on without `fleet_sessions`)."""
    stats: StatsResult
    connected: bool
    last_tick: float | None
    lectures: Mapping[str, int] | None = None
    """Timetabled lectures not yet over, by state (None: the database could not say)."""
    rollouts: Mapping[str, int] | None = None
    """Firmware rollouts by state (None: the database could not say)."""
    rollout_devices: Mapping[str, int] | None = None
    """The devices of rollouts not yet ended, by update state."""
    update_failures: Mapping[str, int] = field(default_factory=dict)
    """Firmware updates that failed since the start, by reason."""


class Metrics:
    """The registry, and the histograms the daemon observes."""

    def __init__(self, read: Callable[[], Reading], *, version: str, controller_id: str,
                 methods: Iterable[str]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_FleetCollector(read, version, controller_id))
        self._methods = frozenset(methods)
        self._flush = Histogram("fleet_liveness_flush_duration_seconds", "Each liveness flush to the database.",
                                registry=self.registry, buckets=_FLUSH_BUCKETS)
        self._requests = Histogram("fleet_request_duration_seconds", "Each request handled, by method.",
                                   ["method"], registry=self.registry)
        self._apply = Histogram("fleet_session_apply_seconds", "A session's start to its device applying its config.",
                                registry=self.registry, buckets=_APPLY_BUCKETS)
        for method in (*sorted(self._methods), UNKNOWN_METHOD):  # every series from the start, at zero
            self._requests.labels(method)

    def observe_flush(self, seconds: float) -> None:
        self._flush.observe(seconds)

    def observe_request(self, method: str, seconds: float) -> None:
        """`method` as the client sent it: anything not a known method counts as `unknown`."""
        self._requests.labels(method if method in self._methods else UNKNOWN_METHOD).observe(seconds)

    def observe_apply(self, seconds: float) -> None:
        self._apply.observe(max(seconds, 0.0))


class _FleetCollector(Collector):
    """The counters and gauges, from one `Reading` per scrape."""

    def __init__(self, read: Callable[[], Reading], version: str, controller_id: str) -> None:
        self._read = read
        self._version = version
        self._controller_id = controller_id

    def describe(self) -> Iterable[Metric]:
        return []  # not read at registration: the daemon is not running yet

    def collect(self) -> Iterator[Metric]:
        reading = self._read()
        yield _labelled(GaugeMetricFamily("fleet_devices", "Devices by state (retired ones only under retired).",
                                          labels=["state"]), _fields(reading.devices, exclude="total"))
        if reading.sessions is not None:
            yield _labelled(GaugeMetricFamily("fleet_sessions", "Active sessions by state.", labels=["state"]),
                            _fields(reading.sessions))
        if reading.lectures is not None:
            yield _labelled(GaugeMetricFamily("fleet_lectures", "Timetabled lectures not yet over, by state "
                                              "(no_device: due, and no device free in its room).", labels=["state"]),
                            {state: reading.lectures.get(state, 0) for state in sorted(LECTURE_STATES)})
        if reading.rollouts is not None:
            yield _labelled(GaugeMetricFamily("fleet_rollouts", "Firmware rollouts by state (halted: stopped by "
                                              "failures, see fleet rollout status).", labels=["state"]),
                            {state: reading.rollouts.get(state, 0) for state in ROLLOUT_STATES})
        if reading.rollout_devices is not None:
            yield _labelled(GaugeMetricFamily("fleet_rollout_devices", "Devices of the rollouts not yet ended, by "
                                              "update state.", labels=["state"]),
                            {state: reading.rollout_devices.get(state, 0) for state in DEVICE_STATES})
        yield _labelled(CounterMetricFamily("fleet_update_failures_total", "Firmware updates that failed, by reason "
                                            "(the device's, or timeout: the controller gave up).", labels=["reason"]),
                        reading.update_failures)
        yield from _stats(reading.stats)
        yield GaugeMetricFamily("fleet_broker_connected", "1 while connected to the broker.",
                                value=1 if reading.connected else 0)
        if reading.last_tick is not None:
            yield GaugeMetricFamily("fleet_last_tick_timestamp_seconds",
                                    "Wall clock of the ticker's last completed tick.", value=reading.last_tick)
        info = GaugeMetricFamily("fleet_controller_info", "This controller (always 1).",
                                 labels=["version", "controller_id"])
        info.add_metric([self._version, self._controller_id], 1)
        yield info


def _stats(stats: StatsResult) -> Iterator[Metric]:
    checkins = stats.checkins
    yield _labelled(CounterMetricFamily("fleet_checkins_total", "Check-in events stored or found duplicate.",
                                        labels=["result"]),
                    {result: checkins.get(result, 0) for result in CHECKIN_RESULTS})
    yield _labelled(CounterMetricFamily("fleet_checkins_refused_total", "Check-in events refused, by reason.",
                                        labels=["reason"]),
                    {k: v for k, v in checkins.items() if k not in CHECKIN_RESULTS})
    yield _labelled(CounterMetricFamily("fleet_messages_received_total", "Messages received, by channel.",
                                        labels=["channel"]), stats.received)
    yield _labelled(CounterMetricFamily("fleet_messages_rejected_total", "Messages dropped, by reason.",
                                        labels=["reason"]), stats.rejected)
    yield _labelled(CounterMetricFamily("fleet_messages_unsent_total", "Messages the controller did not send, "
                                        "by reason.", labels=["reason"]), stats.unsent)
    yield CounterMetricFamily("fleet_broker_connections_total", "Connections made to the broker (reconnects are "
                              "this minus 1).", value=stats.connections)
    if "dropped" in stats.broker:
        yield GaugeMetricFamily("fleet_broker_dropped_messages", "Messages the broker says it dropped "
                                "($SYS/broker/publish/messages/dropped).", value=stats.broker["dropped"])


def _labelled(family: GaugeMetricFamily | CounterMetricFamily, values: Mapping[str, int]) -> Metric:
    for label, value in sorted(values.items()):
        family.add_metric([label], value)
    return family


def _fields(counts: DeviceCounts | SessionCounts, exclude: str = "") -> dict[str, int]:
    return {name: value for name, value in asdict(counts).items() if name != exclude}
