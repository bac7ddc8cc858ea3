"""End to end: `fleet simulate` as a process with its update options, the images served over HTTP by
the controller's endpoint and the retained update commands published by the test: a bad build
(`--crash-version`) rolls back while another version confirms; an unreadable key is one line."""

from __future__ import annotations

import base64
import hashlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from controller.adapters import signing
from controller.adapters.images import store_image
from controller.adapters.metrics_http import MetricsServer, Probes
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand
from controller.core.firmware import build_image
from tests.brokers import RunningBroker
from tests.contract import validate_publish
from tests.e2e.test_cli import Fleet, one_line_error
from tests.integration.test_simulator import Seen, Watcher, status_of

WAIT_S = 30.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[MetricsServer]:
    server = MetricsServer("127.0.0.1", 0, Probes(CollectorRegistry(), list, list, tmp_path / "images"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def released(server: MetricsServer, images: Path, key: Path, version: str) -> UpdateCommand:
    data = build_image(version, version.encode() * 1000)
    store_image(images, data)
    digest = hashlib.sha256(data)
    signature = base64.b64encode(signing.sign_digest(signing.load_private(key), digest.digest())).decode()
    url = f"http://{server.host}:{server.port}/firmware/{digest.hexdigest()}.bin"
    return UpdateCommand(version, url, len(data), digest.hexdigest(), signature)


def update_state(device_id: str, state: str) -> Callable[[Seen], bool]:
    def match(m: Seen) -> bool:
        return (m.device_id == device_id and m.channel == "update/state"
                and validate_publish(m.topic, m.payload, m.topic.split("/")[0])["state"] == state)
    return match


def test_a_bad_build_rolls_back_and_a_good_one_confirms(amqtt_broker: RunningBroker, root: str, tmp_path: Path,
                                                        served: MetricsServer) -> None:
    keys = signing.generate(tmp_path / "keys")
    fleet = Fleet(amqtt_broker, root)
    watcher = Watcher(amqtt_broker.url, root)
    sim = fleet.spawn("simulate", "2", "--seed", "1", "--update-key", str(keys.public), "--crash-version", "1.3.0",
                      "--download-s", "0.2", "--rollback-s", "1", log=tmp_path / "sim.log")
    try:
        for device_id in ("sim-00001", "sim-00002"):
            watcher.wait_for(status_of(device_id, True, 1), timeout=WAIT_S)
        topics = Topics(root)
        bad = released(served, tmp_path / "images", keys.private, "1.3.0")
        good = released(served, tmp_path / "images", keys.private, "1.2.0")
        watcher.publish(topics.update("sim-00001"), bad.to_obj())
        watcher.publish(topics.update("sim-00002"), good.to_obj())
        watcher.wait_for(update_state("sim-00001", "rolled_back"), timeout=WAIT_S)
        watcher.wait_for(update_state("sim-00002", "confirmed"), timeout=WAIT_S)
        back = watcher.wait_for(status_of("sim-00001", True, 3), timeout=WAIT_S)[0]
        updated = watcher.wait_for(status_of("sim-00002", True, 2), timeout=WAIT_S)[0]
        assert back.obj is not None and back.obj["fw"] == "1.0.0"
        assert updated.obj is not None and updated.obj["fw"] == "1.2.0"
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=15)
        watcher.close()
    watcher.assert_clean()


def test_an_unreadable_update_key_is_one_line(amqtt_broker: RunningBroker, root: str, tmp_path: Path) -> None:
    done = Fleet(amqtt_broker, root)("simulate", "1", "--update-key", str(tmp_path / "missing.pem"), timeout=30)
    one_line_error(done, "missing.pem")
