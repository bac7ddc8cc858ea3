"""End to end, a release as an operator makes it: `fleet firmware keygen`, a host build packed with
`fleet-device --pack`, `fleet firmware add` (which takes the host image as it takes an ESP32
image), the image served by `fleet controller` itself, and a supervised host device provisioned
with the public key that updates to it; the operator sees the new version in `devices.list`."""

from __future__ import annotations

import base64
from pathlib import Path

from controller.adapters.client import FleetClient
from tests.brokers import RunningBroker
from tests.e2e.test_cli import Fleet
from tests.e2e.test_firmware_images import controller, fleet  # noqa: F401 (fixtures)
from tests.hostupdates import SupervisedDevice, pack, publish_update, stripped_device
from tests.waiting import eventually


def _fw(client: FleetClient, device_id: str) -> object:
    rows = client.call("devices.list")["devices"]
    assert isinstance(rows, list)
    return next((row.get("fw") for row in rows if row["id"] == device_id and row["online"]), None)


def test_a_release_added_with_the_cli_and_served_by_the_controller_reaches_a_host_device(
    fleet: Fleet, controller: int, amqtt_broker: RunningBroker, root: str, tmp_path: Path,  # noqa: F811
) -> None:
    assert fleet("firmware", "keygen").returncode == 0
    public = tmp_path / "config" / "fleet" / "firmware-signing.pub"
    release = pack(stripped_device(tmp_path), "1.4.0", tmp_path / "fleet-1.4.0.bin")
    record = fleet.json("firmware", "add", str(tmp_path / "fleet-1.4.0.bin"), "--version", "1.4.0")["image"]
    assert isinstance(record, dict) and record["size"] == len(release)
    assert len(base64.b64decode(str(record["signature"]))) <= 72

    device = SupervisedDevice("esp32-0000000000b1", amqtt_broker.url, root, tmp_path / "dev",
                              ("--update-key", str(public)))
    device.start()
    try:
        with FleetClient(amqtt_broker.url, root) as client:
            eventually(lambda: _fw(client, device.id) == "1.0.0", 15, "the factory version online")
            command = {"v": 1, "version": "1.4.0", "size": record["size"], "sha256": record["sha256"],
                       "signature": record["signature"],
                       "url": f"http://127.0.0.1:{controller}/firmware/{record['sha256']}.bin"}
            publish_update(amqtt_broker, root, device.id, command)
            eventually(lambda: _fw(client, device.id) == "1.4.0", 60, "the release running")
        # No config is retained for it: it confirms once connected for the settle time (5 s).
        eventually(lambda: "update to 1.4.0 confirmed" in device.log(), 30, "confirmed")
        assert device.boot_slot() == "1"
        assert not (device.state_dir / "ota" / "trial").exists()
    finally:
        device.stop()
