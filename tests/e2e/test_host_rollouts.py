"""End to end through the rollout engine (issue 16's "done when" on real devices): a controller on
SQLite serving the images from its own endpoint, and host devices under their supervisor
(`fleet-device --supervise`) with the fleet key. A signed build reaches every device, across a
controller restart mid-rollout; an image whose bytes do not match its record is refused by the
device and recorded failed; a build that never confirms is rolled back and halts the rollout."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from controller.adapters.client import FleetClient
from controller.adapters.images import store_image
from controller.contract.firmware import FirmwareAddParams
from controller.contract.rollouts import RolloutStartParams, RolloutStatus
from controller.daemon.controller import Controller
from controller.daemon.settings import ControllerSettings
from tests.brokers import RunningBroker
from tests.conftest import fast_settings
from tests.hostupdates import Image, Signer, SupervisedDevice, pack, script, stripped_device
from tests.waiting import eventually

FACTORY = "1.0.0"  # FLEET_FW_VERSION of the host build
WAIT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    """The controller (restartable on its database and port), its client, the images it serves,
    the fleet key and the supervised devices."""

    settings: ControllerSettings
    controllers: list[Controller]
    client: FleetClient
    signer: Signer
    tmp_path: Path
    devices: list[SupervisedDevice]

    def restart(self) -> None:
        self.controllers[-1].stop()
        ctl = Controller(self.settings)
        ctl.start()
        self.controllers.append(ctl)
        eventually(self.client.controller_online, WAIT_S, "the new controller online")

    def add(self, version: str, executable: Path | None = None) -> Image:
        """What `fleet firmware add` does: the packed, signed build into the images directory, its record kept."""
        built = executable or stripped_device(self.tmp_path)
        image = self.signer.image(pack(built, version, self.tmp_path / f"{version}.bin"), version)
        assert self.settings.images_dir is not None
        store_image(self.settings.images_dir, image.data)
        self.client.add_firmware(FirmwareAddParams(version, image.sha256, len(image.data), image.signature))
        return image

    def start(self, version: str, canary: float) -> int:
        return self.client.start_rollout(RolloutStartParams(version, all=True, canary=canary, rate_per_min=60,
                                                            max_failures=0.1, min_sample=1)).rollout.id

    def status(self, rollout_id: int) -> RolloutStatus:
        return self.client.rollout(rollout_id)

    def fw(self) -> dict[str, object]:
        return {d["id"]: d.get("fw") for d in self.client.call("devices.list")["devices"]}


@pytest.fixture
def site(amqtt_broker: RunningBroker, root: str, tmp_path: Path) -> Iterator[Callable[..., Site]]:
    made: list[Site] = []

    def make(n: int, confirm_s: int = 60) -> Site:
        settings = replace(fast_settings(amqtt_broker.url, root, f"sqlite:///{tmp_path / 'fleet.db'}"),
                           rollout_s=0.2, update_timeout_s=600.0, images_dir=tmp_path / "images",
                           metrics_port=free_port(), metrics_host="127.0.0.1")
        ctl = Controller(settings)
        ctl.start()
        signer = Signer(tmp_path / "keys")
        devices = []
        for i in range(n):
            device = SupervisedDevice(f"esp32-0000000000c{i}", amqtt_broker.url, root, tmp_path / f"d{i}", ())
            device.confirm_s = confirm_s
            device.provision_key(signer.public_base64)
            device.start()
            devices.append(device)
        client = FleetClient(amqtt_broker.url, root).__enter__()  # left in the teardown
        made.append(Site(settings, [ctl], client, signer, tmp_path, devices))
        eventually(lambda: client.call("devices.list")["online"] == n, WAIT_S, f"{n} devices online")
        return made[-1]

    yield make
    for s in made:
        s.client.__exit__(None, None, None)
        for device in s.devices:
            device.stop()
        for ctl in s.controllers:
            ctl.stop()


def db_rows(site: Site, rollout_id: int) -> list[tuple[str, str]]:
    """(rollout state, device state) of the rollout's rollout_device rows, read from the database."""
    with sqlite3.connect(str(site.settings.db_url).removeprefix("sqlite:///")) as db:
        return list(db.execute("SELECT r.state, d.state FROM rollout r JOIN rollout_device d ON d.rollout_id = r.id "
                               "WHERE r.id = ?", (rollout_id,)))


def test_host_devices_update_through_a_rollout_across_a_controller_restart(site: Callable[..., Site]) -> None:
    s = site(3)
    assert set(s.fw().values()) == {FACTORY}
    s.add("1.1.0")
    rollout_id = s.start("1.1.0", canary=0.3)
    eventually(lambda: any(state != "pending" for _, state in db_rows(s, rollout_id)), WAIT_S, "the canary commanded")
    s.restart()
    stopped_at = db_rows(s, rollout_id)
    assert {r for r, _ in stopped_at} == {"running"} and [d for _, d in stopped_at].count("confirmed") < 3
    eventually(lambda: s.status(rollout_id).rollout.state == "completed", WAIT_S, "completed after the restart")
    assert s.status(rollout_id).rollout.counts == {"confirmed": 3}
    eventually(lambda: set(s.fw().values()) == {"1.1.0"}, WAIT_S, "every device born on 1.1.0")
    assert {d.boot_slot() for d in s.devices} == {"1"}


def test_a_tampered_image_is_refused_by_the_device_and_recorded_failed(site: Callable[..., Site]) -> None:
    s = site(1)
    image = s.add("1.1.0")
    assert s.settings.images_dir is not None
    served = s.settings.images_dir / f"{image.sha256}.bin"
    tampered = bytearray(served.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    served.write_bytes(bytes(tampered))  # the controller now serves bytes its record does not describe
    rollout_id = s.start("1.1.0", canary=0)
    eventually(lambda: s.status(rollout_id).rollout.state == "halted", WAIT_S, "halted on the failure")
    status = s.status(rollout_id)
    assert status.rollout.counts == {"failed": 1}
    assert [(n.device, n.state, n.reason) for n in status.notes] == [(s.devices[0].id, "failed", "bad_sha256")]
    assert s.fw() == {s.devices[0].id: FACTORY} and s.devices[0].boot_slot() == "0"


def test_a_build_that_never_confirms_is_rolled_back_and_halts_the_rollout(site: Callable[..., Site]) -> None:
    s = site(3, confirm_s=3)
    s.add("1.2.0", script(s.tmp_path, "hang.sh", "exec sleep 600"))
    rollout_id = s.start("1.2.0", canary=0.3)
    eventually(lambda: s.status(rollout_id).rollout.state == "halted", WAIT_S, "halted after the canary")
    status = s.status(rollout_id)
    assert (status.rollout.reason or "").startswith("canary wave: 1 of 1 updates failed")
    assert status.rollout.counts == {"rolled_back": 1, "pending": 2}
    [canary] = [n.device for n in status.notes if n.state == "rolled_back"]
    assert [(n.state, n.reason) for n in status.notes if n.device == canary] == [("rolled_back", "not_confirmed")]
    eventually(lambda: set(s.fw().values()) == {FACTORY}, WAIT_S, "the canary back on the old version")
    assert {d.boot_slot() for d in s.devices} == {"0"}
