"""What each phase's result says in the table: rows with their baseline and target, and notes."""

from __future__ import annotations

import statistics

from bench.amqttcap import HEARTBEAT_S, AmqttResult
from bench.fleet import FleetResult, ProbeResult
from bench.ingest import IngestResult
from bench.results import Row, duration, percentile, rate, size, verdict

INGEST_TARGET = 0.6
P99_TARGET_S = 0.100
BYTES_PER_DEVICE_TARGET = 2048
RESTART_TARGET_S = 5.0
AMQTT_FLEET_TARGET = 50_000


def ingest_rows(r: IngestResult) -> list[Row]:
    others = r.machine_busy_cores - (r.controller_cpu_share + r.raw_cpu_share + r.mosquitto_cpu_share
                                     + r.bench_cpu_share)
    return [
        Row(f"Heartbeat ingest, sustained ({r.devices:,} device ids, {r.offered_rate:,.0f} msg/s offered, "
            f"{r.window_s:.0f} s window{', py-spy attached' if r.profiled else ''})",
            f"`fleet controller`: {rate(r.controller_rate)}", f"raw paho subscriber + JSON parse: {rate(r.raw_rate)}",
            f"{r.ratio:.2f}×", f"≥ {INGEST_TARGET}×", verdict(r.ratio >= INGEST_TARGET)),
        Row("Heartbeat ingest per CPU-second (same window)",
            f"{r.controller_per_cpu_s:,.0f} msg per CPU-s ({r.controller_cpu_share:.0%} of a core)",
            f"{r.raw_per_cpu_s:,.0f} msg per CPU-s ({r.raw_cpu_share:.0%} of a core)",
            f"{r.ratio_per_cpu_s:.2f}× (machine: {r.machine_busy_cores:.2f} cores busy, {max(0.0, others):.2f} "
            "of them not this benchmark's)", "", ""),
    ]


def _applied_rows(r: FleetResult) -> list[Row]:
    applied, confirmed, seed = r.start_to_applied_s, r.start_to_confirmed_s, r.seed_baseline_s
    p50, p99 = percentile(applied, 50), percentile(applied, 99)
    s50, s99 = percentile(seed, 50), percentile(seed, 99)
    n = f"n={len(applied)}, {r.devices:,} devices online"
    seed_text = "seed: config rides the next 30 s HTTP heartbeat"
    rows = [
        Row(f"Session start → device applied, p50 ({n})", duration(p50), f"{seed_text}: p50 {duration(s50)}",
            f"{s50 / p50:,.0f}× sooner", "", ""),
        Row(f"Session start → device applied, p99 ({n})", duration(p99), f"{seed_text}: p99 {duration(s99)}",
            f"{s99 / p99:,.0f}× sooner", f"≤ {P99_TARGET_S * 1000:.0f} ms", verdict(p99 <= P99_TARGET_S)),
        Row("Session start → lecturer sees \"applied\" (`session.wait` reply), p50 / p99",
            f"{duration(percentile(confirmed, 50))} / {duration(percentile(confirmed, 99))}",
            f"seed: p50 {duration(s50)} / p99 {duration(s99)}", "", "", ""),
    ]
    if r.session_errors:
        rows.append(Row("Sessions that failed", str(len(r.session_errors)), "", "; ".join(r.session_errors[:3]), "0",
                        verdict(False)))
    return rows


def _median(values: list[float | None]) -> float:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else float("nan")


def _offline_rows(r: FleetResult) -> list[Row]:
    def of(kind: str) -> list[ProbeResult]:
        return [p for p in r.probes if p.kind == kind]

    loss, silent, zombie = of("loss"), of("silent"), of("zombie")
    rows = []
    if loss:
        worst = max((p.detected_after_s or float("inf")) for p in loss)
        rows.append(Row(
            f"Offline detection, socket loss (n={len(loss)})",
            f"median {duration(_median([p.detected_after_s for p in loss]))}, max {duration(worst)}",
            f"broker published the will after {duration(_median([p.wire_will_after_s for p in loss]))}",
            "upper bound: the first fleet-table reply after the drop", "", ""))
    if silent:
        keepalive = 1.5 * r.keepalive_s
        rows.append(Row(
            f"Offline detection, silent device, socket left open (keepalive {r.keepalive_s} s, n={len(silent)})",
            f"median {duration(_median([p.detected_after_s for p in silent]))}",
            f"broker's will (1.5 × keepalive = {keepalive:g} s) after "
            f"{duration(_median([p.wire_will_after_s for p in silent]))}",
            "detected when the will arrives", "", ""))
    if zombie:
        rows.append(Row(
            f"Offline detection, zombie: keepalive pings, no heartbeats (n={len(zombie)})",
            f"median {duration(_median([p.detected_after_s for p in zombie]))} after its last heartbeat",
            f"controller's heartbeat TTL: {r.heartbeat_ttl_s:g} s (no will: the broker sees a live client)",
            "TTL + poll interval", "", ""))
    return rows


def fleet_rows(r: FleetResult, registry_bytes: float) -> list[Row]:
    held = r.sim_connected_min >= r.devices
    rows = [
        Row(f"`fleet simulate {r.devices}`: connections held on Mosquitto",
            f"min {r.sim_connected_min:,} / max {r.sim_connected_max:,} over {r.sim_hold_s:.0f} s "
            f"(all up in {r.ramp_s:.0f} s)",
            f"the controller counted {r.heartbeats_per_s:.0f} heartbeats/s (expected {r.devices / 30:.0f})",
            f"simulator: {r.sim_cpu_share:.1%} of one core, RSS {r.sim_rss_bytes / 1e6:.0f} MB",
            f"{r.devices:,} held", verdict(held)),
        *_applied_rows(r),
        *_offline_rows(r),
        Row(f"Controller memory per tracked device (RSS, 0 → {r.devices:,} devices)", size(r.bytes_per_device),
            f"idle controller {r.controller_rss_idle_bytes / 1e6:.0f} MB; registry alone (tracemalloc) "
            f"{size(registry_bytes)}/device",
            f"{r.controller_rss_fleet_bytes / 1e6:.0f} MB with {r.devices:,} devices",
            f"≤ {size(BYTES_PER_DEVICE_TARGET)}", verdict(r.bytes_per_device <= BYTES_PER_DEVICE_TARGET)),
    ]
    restart_ok = r.cold_restart_s is not None and r.cold_restart_s <= RESTART_TARGET_S and r.restart_online_ids_equal
    rows.append(Row(
        f"Cold restart after SIGKILL to a correct fleet table ({r.devices:,} devices"
        f"{', py-spy attached' if r.profiled else ''})",
        duration(r.cold_restart_s) if r.cold_restart_s is not None else "never correct",
        f"same controller on an empty database: {duration(r.cold_start_empty_s)} to its first answer",
        "table equal to the one before the kill" + ("" if r.restart_online_ids_equal else " — NOT equal"),
        f"≤ {RESTART_TARGET_S:g} s", verdict(restart_ok)))
    return rows


def amqtt_rows(r: AmqttResult, ingest: IngestResult | None) -> list[Row]:
    baseline = (f"Mosquitto in this run: {rate(ingest.offered_rate)} in, to 2 subscribers, at "
                f"{ingest.mosquitto_cpu_share:.0%} of a core" if ingest else "")
    top = next((s for s in r.steps if s.rate == r.max_rate), None)
    cpu = f", broker at {top.broker_cpu_share:.0%} of a core" if top else ""
    at_least = "" if r.limit_found else "≥ "
    return [Row(
        f"Embedded amqtt broker: fleet carried at a {HEARTBEAT_S:g} s heartbeat without loss",
        f"{at_least}{r.fleet_at_30s:,} devices ({at_least}{rate(r.max_rate)}{cpu})", baseline,
        f"{r.fleet_at_30s / AMQTT_FLEET_TARGET:.1f}× the target", f"≥ {AMQTT_FLEET_TARGET:,} devices (≈ 1.7k msg/s)",
        verdict(r.fleet_at_30s >= AMQTT_FLEET_TARGET))]


def notes(devices: int) -> list[str]:
    """How each figure was measured, one paragraph per phase."""
    return [" ".join(note.split()).replace("{devices}", f"{devices:,}") for note in _NOTES]


_NOTES = [
    """Ingest: one Mosquitto with unbounded per-client queues; {devices} devices each sent a retained birth and a
    heartbeat first (and the controller flushed them to SQLite), then a stream of contract heartbeats, pre-encoded and
    written over a raw socket, was offered faster than either consumer could take it. `fleet controller` and a raw
    paho subscriber (paho's loop, `json.loads`, nothing else) consumed it at the same time. The controller's count is
    `received.heartbeat` from the request API (what `fleet stats --json` prints), sampled every 0.1 s; rates are taken
    over the same window for both.""",
    """Sessions: `fleet simulate N` ({devices} devices, 30 s heartbeats, ±10 % jitter) on Mosquitto, sessions started
    one at a time at random gaps through the request API; "device applied" is the device's retained `state` with the
    new version as seen on the wire. The seed baseline is the seed's design simulated: the config is picked up by the
    device's next 30 s HTTP heartbeat, uniform on 0–30 s (mean 15 s).""",
    """Offline: probe devices written with raw MQTT (keepalive 15 s, the firmware's). Socket loss drops the TCP
    connection; a silent device stops sending with its socket open; a zombie keeps answering keepalive but sends no
    heartbeat. Detection is dated by the first fleet-table reply (`devices.list`, polled) that shows it offline.""",
    """Memory: controller RSS with 0 and with {devices} devices tracked (online, flushed); tracemalloc of the same
    state built in-process gives the registry's own share. Restart: SIGKILL (no final flush), then a new `fleet
    controller` on the same database and broker; timed from spawn to the first fleet table whose totals equal those
    before the kill (the online sets are compared too).""",
    """amqtt: `fleet broker` as its own process, 500 device connections with wills and retained births, one raw
    subscriber; the offered rate rises in 8 s steps until the last message of a step arrives more than 0.25 s after
    the step ends. Fleet = largest carried rate × 30 s.""",
]
