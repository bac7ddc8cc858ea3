"""`python -m bench`: run every phase and write bench/results/latest.md and latest.json.

Phases: ingest (controller vs raw subscriber), fleet (10k simulated devices: sessions, offline
detection, memory, restart), amqtt (the embedded broker's capacity), capacity (simulated lectures
through 10-slot devices, no broker: bench/results/capacity.md; alone, `--only capacity` writes only
that file and leaves latest.md and latest.json as they are). `--only` picks some;
`--profile` attaches py-spy to the controller during the ingest window and to the restarted
controller, writing profile-ingest.txt and profile-restart.txt (it perturbs those figures).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import amqttcap, capacity, fleet, ingest, procs, table
from bench.results import Environment, Row, write

RESULTS = Path(__file__).resolve().parent / "results"
PHASES = ("ingest", "fleet", "amqtt", "capacity")

log = logging.getLogger("bench")


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=procs.SOURCE_ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "controller", "cli.py")
    return commit + ("+uncommitted controller changes" if dirty else "")


def _mosquitto_version() -> str:
    out = subprocess.run([str(procs.MOSQUITTO), "-h"], capture_output=True, text=True).stdout
    return out.splitlines()[0].removeprefix("mosquitto version ").strip() if out else "unknown"


def _environment(started: datetime, seconds: float) -> Environment:
    return Environment(
        started_utc=started.strftime("%Y-%m-%d %H:%M UTC"), commit=_commit(), cores=os.cpu_count() or 0,
        python=platform.python_version(), mosquitto=_mosquitto_version(),
        paho=importlib.metadata.version("paho-mqtt"), amqtt=importlib.metadata.version("amqtt"),
        sqlalchemy=importlib.metadata.version("SQLAlchemy"), duration_s=seconds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases (default: all)")
    parser.add_argument("--devices", type=int, default=10_000, help="fleet size for ingest and fleet")
    parser.add_argument("--sessions", type=int, default=100, help="sessions started in the fleet phase")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where latest.md and latest.json go")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy on the controller during ingest and after the restart (perturbs both)")
    args = parser.parse_args()
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("controller").setLevel(logging.WARNING)
    if phases == ["capacity"]:
        log.info("wrote %s", capacity.write(args.out, capacity.run()))
        return
    limit = procs.raise_fd_limit()
    if "fleet" in phases and limit < args.devices + 500:  # the simulator and Mosquitto each hold one per device
        sys.exit(f"the open-file limit is {limit}; {args.devices} devices need {args.devices + 500}")
    started, t0 = datetime.now(UTC), time.monotonic()
    rows: list[Row] = []
    results: dict[str, object] = {}
    ingest_result = None
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        work = Path(tmp)
        log.info("work directory %s (logs of every process are there while it runs)", work)
        if "ingest" in phases:
            profile_to = args.out / "profile-ingest.txt" if args.profile else None
            ingest_result = ingest.run(work / "ingest", ingest.IngestSettings(devices=args.devices,
                                                                              profile_to=profile_to))
            results["ingest"] = ingest_result
            rows += table.ingest_rows(ingest_result)
            log.info("ingest: controller %.0f msg/s, raw %.0f msg/s, ratio %.2f", ingest_result.controller_rate,
                     ingest_result.raw_rate, ingest_result.ratio)
        if "fleet" in phases:
            fleet_result = fleet.run(work / "fleet", fleet.FleetSettings(
                devices=args.devices, sessions=args.sessions,
                profile_to=args.out / "profile-restart.txt" if args.profile else None))
            registry_bytes = fleet.registry_bytes_per_device(args.devices)
            results["fleet"] = fleet_result
            results["registry_bytes_per_device"] = registry_bytes
            rows += table.fleet_rows(fleet_result, registry_bytes)
        if "amqtt" in phases:
            amqtt_result = amqttcap.run(work / "amqtt", amqttcap.AmqttSettings())
            results["amqtt"] = amqtt_result
            rows += table.amqtt_rows(amqtt_result, ingest_result)
    if "capacity" in phases:
        capacity_result = capacity.run()
        log.info("wrote %s", capacity.write(args.out, capacity_result))
        results["capacity"] = capacity_result
        rows += capacity.rows(capacity_result)
    env = _environment(started, time.monotonic() - t0)
    md, js = write(args.out, env, rows, table.notes(args.devices), results)
    print(md.read_text(encoding="utf-8"))
    log.info("wrote %s and %s", md, js)


if __name__ == "__main__":
    main()
