"""The baseline consumer: a raw paho-mqtt subscriber that only parses each payload's JSON.

Run as its own process (`python -m bench.rawsub URL FILTER WORKDIR`), with paho's own loop in the
main thread, as lean as a Python MQTT consumer gets. It notes the monotonic arrival time of every
message (CLOCK_MONOTONIC is system-wide, so the parent compares them with its own clock), writes
its running count to `WORKDIR/rawsub.count` a few times a second, and on SIGTERM (or after
`--expect` messages) writes every arrival time to `WORKDIR/rawsub.times` (float64 array).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time
from array import array
from pathlib import Path
from typing import Final

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from controller.adapters.mqtt import parse_broker_url

COUNT_FILE: Final = "rawsub.count"
TIMES_FILE: Final = "rawsub.times"
READY_FILE: Final = "rawsub.ready"
_PROGRESS_EVERY_S: Final = 0.2


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_count(workdir: Path) -> int:
    try:
        return int((workdir / COUNT_FILE).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def read_times(workdir: Path) -> array[float]:
    times = array("d")
    data = (workdir / TIMES_FILE).read_bytes()
    times.frombytes(data)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("filter")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--expect", type=int, default=0, help="stop after this many messages (0: on SIGTERM)")
    args = parser.parse_args()
    workdir: Path = args.workdir
    address = parse_broker_url(args.url)
    times = array("d")
    monotonic, loads = time.monotonic, json.loads
    expect: int = args.expect
    stop: list[bool] = []

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"rawsub-{os.getpid()}", protocol=paho.MQTTv311)

    def on_connect(c: paho.Client, _u: object, _f: object, _rc: object, _p: object) -> None:
        c.subscribe(args.filter, 0)

    def on_subscribe(*_: object) -> None:
        _write_atomic(workdir / READY_FILE, "1")

    def on_message(c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        loads(message.payload)
        times.append(monotonic())
        if expect and len(times) >= expect:
            stop.append(True)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))  # the loop below notices it
    client.connect(address.host, address.port, keepalive=60)
    written, next_progress = -1, 0.0
    while not stop:  # what loop_forever() does: one select and one packet at a time
        rc = client.loop(_PROGRESS_EVERY_S)
        if rc != paho.MQTT_ERR_SUCCESS:  # the broker is gone: its run is over (and loop() would spin)
            raise SystemExit(f"rawsub: lost the broker ({paho.error_string(rc)})")
        now = monotonic()
        if now >= next_progress and len(times) != written:
            written, next_progress = len(times), now + _PROGRESS_EVERY_S
            _write_atomic(workdir / COUNT_FILE, str(written))
    client.disconnect()
    (workdir / TIMES_FILE).write_bytes(times.tobytes())
    _write_atomic(workdir / COUNT_FILE, str(len(times)))


if __name__ == "__main__":
    main()
