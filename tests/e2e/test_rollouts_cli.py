"""End to end: `fleet rollout` as an operator types it, against a `fleet controller` process that
serves the image, with a scripted device (tests/integration/test_rollouts.py) that installs it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from controller.core.firmware import build_image
from tests.brokers import RunningBroker
from tests.e2e.test_cli import Fleet, one_line_error
from tests.e2e.test_firmware_images import controller, fleet
from tests.integration.test_rollouts import Clock, ScriptedDevice

__all__ = ["controller", "fleet"]  # the fixtures, shared with the image tests


def test_start_watch_and_list_a_rollout_and_bad_flags_are_one_line_errors(
    fleet: Fleet, controller: int, amqtt_broker: RunningBroker, root: str, tmp_path: Path,
) -> None:
    for args, needle in ((("--all", "--canary", "500"), "--canary '500'"), (("--all", "--rate", "fast"), "--rate"),
                         ((), "exactly one of"), (("--room", "LT1", "--all"), "exactly one of")):
        one_line_error(fleet("rollout", "start", "1.3.0", *args), needle)
    one_line_error(fleet("rollout", "start", "1.3.0", "--all"), "no firmware image 1.3.0", "unknown_version")
    one_line_error(fleet("rollout", "status"), "no rollout has been started", "unknown_rollout")

    assert fleet("firmware", "keygen").returncode == 0
    image = tmp_path / "fleet-1.3.0.bin"
    image.write_bytes(build_image("1.3.0", body=bytes(range(256)) * 40))
    sha256 = fleet.json("firmware", "add", str(image), "--version", "1.3.0")["image"]["sha256"]  # type: ignore[index]
    device = ScriptedDevice(amqtt_broker, root, "esp32-00000000000a", Clock())
    try:
        deadline = time.monotonic() + 30
        while fleet.json("devices")["online"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        started = fleet("rollout", "start", "1.3.0", "--all", "--canary", "0%", "--rate", "1/s")
        assert started.returncode == 0, started.stderr
        assert "rollout 1  1.3.0 → all  running" in started.stdout
        assert "fleet rollout status 1 --watch" in started.stdout
        watched = fleet("rollout", "status", "--watch", "--interval", "0.3", timeout=60)  # returns once it ends
        assert watched.returncode == 0, watched.stderr
        assert "completed" in watched.stdout and "1/1" in watched.stdout
        assert device.fw == "1.3.0"
        assert device.commands[0]["url"] == f"http://127.0.0.1:{controller}/firmware/{sha256}.bin"
        listed = json.loads(fleet("rollout", "list", "--json").stdout)["rollouts"]
        assert [(r["id"], r["state"], r["counts"]) for r in listed] == [(1, "completed", {"confirmed": 1})]
        one_line_error(fleet("rollout", "pause", "1"), "rollout 1 is completed", "rollout_state")
    finally:
        device.close()
