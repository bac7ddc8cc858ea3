"""The controller's rollouts over simulated devices (issue 16's "done when", at test size): a real
controller on SQLite serving the images from its own endpoint, the embedded broker, and `Simulator`
devices verifying with the fleet key. A good build reaches every device; a build that crashes after
boot (`crash_versions`) halts the rollout after its canaries, which are back on the old version,
and the rest of the fleet is never commanded."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from controller.adapters import signing
from controller.adapters.client import FleetClient
from controller.adapters.images import store_image
from controller.contract.firmware import FirmwareAddParams
from controller.contract.rollouts import RolloutStartParams, RolloutStatus
from controller.core.firmware import build_image
from controller.daemon.controller import Controller
from controller.sim.simulator import SimConfig, Simulator, UpdateSettings
from controller.sim.update import UpdateFaults
from tests.brokers import RunningBroker
from tests.conftest import fast_settings
from tests.waiting import eventually

N = 20
WAIT_S = 60.0


@pytest.fixture
def keys(tmp_path: Path) -> signing.KeyFiles:
    return signing.generate(tmp_path / "keys")


@pytest.fixture
def controller(amqtt_broker: RunningBroker, root: str, db_url: str, tmp_path: Path) -> Iterator[Controller]:
    settings = replace(fast_settings(amqtt_broker.url, root, db_url), rollout_s=0.2, update_timeout_s=600.0,
                       images_dir=tmp_path / "images", metrics_port=0, metrics_host="127.0.0.1")
    ctl = Controller(settings)
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture
def fleet(amqtt_broker: RunningBroker, root: str, keys: signing.KeyFiles) -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def start(faults: UpdateFaults) -> Simulator:
        update = UpdateSettings(keys.public, faults, download_s=0.2, progress_s=0.1, rollback_s=2.0)
        sim = Simulator(SimConfig(broker_url=amqtt_broker.url, root=root, count=N, seed=5, heartbeat_s=2.0,
                                  id_prefix=f"r{uuid.uuid4().hex[:6]}-", fw="1.2.0", update=update))
        started.append(sim)
        sim.start()
        assert sim.wait_connected(N, WAIT_S)
        return sim

    yield start
    for sim in started:
        sim.stop()


@dataclass
class Site:
    """The controller's side: a client, the images directory it serves, the fleet key."""

    client: FleetClient
    images: Path
    keys: signing.KeyFiles


@pytest.fixture
def site(amqtt_broker: RunningBroker, root: str, tmp_path: Path, keys: signing.KeyFiles,
         controller: Controller) -> Iterator[Site]:
    with FleetClient(amqtt_broker.url, root) as client:
        yield Site(client, tmp_path / "images", keys)


def publish(client: FleetClient, images: Path, private: Path, version: str) -> None:
    """What `fleet firmware add` does: the image into the directory, its signed record to the controller."""
    data = build_image(version, version.encode() * 2000)
    store_image(images, data)
    digest = hashlib.sha256(data)
    signature = base64.b64encode(signing.sign_digest(signing.load_private(private), digest.digest())).decode()
    client.add_firmware(FirmwareAddParams(version, digest.hexdigest(), len(data), signature))


def rollout(site: Site, version: str) -> int:
    client = site.client
    publish(client, site.images, site.keys.private, version)
    eventually(lambda: client.call("devices.list")["online"] == N, timeout=WAIT_S, what=f"{N} devices online")
    return client.start_rollout(RolloutStartParams(version, all=True, canary=0.1, rate_per_min=600,
                                                   max_failures=0.1, min_sample=2)).rollout.id


def status(client: FleetClient, rollout_id: int) -> RolloutStatus:
    return client.rollout(rollout_id)


def test_a_good_build_reaches_every_simulated_device(site: Site, fleet: Callable[..., Simulator]) -> None:
    sim = fleet(UpdateFaults())
    rollout_id = rollout(site, "1.3.0")
    eventually(lambda: status(site.client, rollout_id).rollout.state == "completed", timeout=WAIT_S,
               what="the rollout completed")
    assert status(site.client, rollout_id).rollout.counts == {"confirmed": N}
    assert {v.fw for v in sim.devices.values()} == {"1.3.0"}
    assert sim.stats().updates_confirmed == N


def test_a_build_that_crashes_after_boot_halts_after_the_canaries(site: Site,
                                                                  fleet: Callable[..., Simulator]) -> None:
    sim = fleet(UpdateFaults(crash_versions=frozenset({"1.3.0"})))
    rollout_id = rollout(site, "1.3.0")
    eventually(lambda: status(site.client, rollout_id).rollout.state == "halted", timeout=WAIT_S, what="halted")
    halted = status(site.client, rollout_id)
    canaries = halted.waves[0]
    assert canaries.counts == {"rolled_back": 2} and halted.rollout.counts == {"rolled_back": 2, "pending": N - 2}
    assert {n.reason for n in halted.notes if n.state == "rolled_back"} == {"not_confirmed"}
    views = sim.devices.values()
    assert {v.fw for v in views} == {"1.2.0"}  # the canaries back on the old version, the rest never left it
    assert sorted(v.boot for v in views) == [1] * (N - 2) + [3, 3]  # only the canaries rebooted: in and back
    assert sim.stats().updates_started == 2 and sim.stats().updates_rolled_back == 2
