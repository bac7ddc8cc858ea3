"""Firmware updates of simulated devices over the embedded broker, with images served over real HTTP
by the controller's endpoint (`/firmware/<sha256>.bin`): the test publishes the retained update
commands itself, as the rollout will, and watches what the devices report (contract-checked).

Covered: the success path (steps in order, a power cycle with the will, the new version in the
birth), the same version confirmed at once, downgrade refusal and `allow_downgrade`, each failure
mode (download error, bad signature, crash after boot with rollback, per version), a tampered image,
no key, deferral while a session is served, a broken download resumed with Range, and 200 devices.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from controller.adapters import signing
from controller.adapters.images import sha256_of, store_image
from controller.adapters.metrics_http import MetricsServer, Probes
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand
from controller.core.firmware import build_image
from controller.sim.simulator import SimConfig, Simulator, UpdateSettings
from controller.sim.update import UpdateFaults
from tests.brokers import AmqttBroker, start_amqtt
from tests.contract import validate_publish
from tests.integration.test_simulator import Seen, Watcher, active_config, idle_config, status_of, wait_until

WAIT_S = 15.0
FAST = {"download_s": 0.3, "progress_s": 0.1, "rollback_s": 0.6}


@dataclass
class Release:
    """Images served over HTTP and signed with the fleet key (`key_dir` holds its PEM files)."""

    key: signing.KeyFiles
    images: Path
    server: MetricsServer

    def add(self, version: str, body: bytes = b"\x5a" * 4096) -> UpdateCommand:
        data = build_image(version, body)
        store_image(self.images, data)
        return self.command(version, data)

    def command(self, version: str, data: bytes, *, signed_by: Path | None = None,
                allow_downgrade: bool = False) -> UpdateCommand:
        sha = sha256_of(data)
        private = signing.load_private(signed_by or self.key.private)
        signature = base64.b64encode(signing.sign_digest(private, bytes.fromhex(hashlib.sha256(data).hexdigest())))
        url = f"http://{self.server.host}:{self.server.port}/firmware/{sha}.bin"
        return UpdateCommand(version, url, len(data), sha, signature.decode(), allow_downgrade)


@pytest.fixture(scope="module")
def broker() -> Iterator[AmqttBroker]:
    running = start_amqtt()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def root() -> str:
    return f"updtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def watcher(broker: AmqttBroker, root: str) -> Iterator[Watcher]:
    watching = Watcher(broker.url, root)
    yield watching
    watching.close()
    watching.assert_clean()


@pytest.fixture
def release(tmp_path: Path) -> Iterator[Release]:
    images = tmp_path / "images"
    images.mkdir()
    server = MetricsServer("127.0.0.1", 0, Probes(CollectorRegistry(), list, list, images))
    server.start()
    try:
        yield Release(signing.generate(tmp_path / "keys"), images, server)
    finally:
        server.stop()


@pytest.fixture
def make_sim(broker: AmqttBroker, root: str, release: Release) -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(count: int = 1, *, key: Path | bool | None = True, faults: UpdateFaults | None = None,
             download_s: float = FAST["download_s"], rollback_s: float = FAST["rollback_s"],
             **overrides: Any) -> Simulator:
        settings = UpdateSettings(key=release.key.public if key is True else (key or None),
                                  faults=faults or UpdateFaults(),
                                  **{**FAST, "download_s": download_s, "rollback_s": rollback_s})
        config = SimConfig(**{"broker_url": broker.url, "root": root, "count": count, "seed": 3, "heartbeat_s": 5.0,
                              "suback_timeout_s": 2.0, "id_prefix": f"u{uuid.uuid4().hex[:8]}-", "update": settings,
                              **overrides})
        sim = Simulator(config)
        started.append(sim)
        sim.start()
        assert sim.wait_connected(count, WAIT_S)
        return sim

    yield make
    for sim in started:
        sim.stop()


def send(watcher: Watcher, root: str, device_id: str, command: UpdateCommand) -> None:
    watcher.publish(Topics(root).update(device_id), command.to_obj())


def update_states(watcher: Watcher, device_id: str) -> list[dict[str, Any]]:
    states = []
    for m in watcher.of(device_id, "update/state"):
        states.append(validate_publish(m.topic, m.payload, watcher.root))
    return states


def final(state: str, device_id: str, version: str | None = None) -> Callable[[Seen], bool]:
    def match(m: Seen) -> bool:
        if m.device_id != device_id or m.channel != "update/state":
            return False
        obj = validate_publish(m.topic, m.payload, m.topic.split("/")[0])
        return obj["state"] == state and (version is None or obj["version"] == version)
    return match


def refused_once(device_id: str) -> Callable[[Seen], bool]:
    def match(m: Seen) -> bool:
        return (m.device_id == device_id and m.channel == "heartbeat" and m.obj is not None
                and m.obj.get("images_refused") == 1)
    return match


def steps(states: list[dict[str, Any]]) -> list[str]:
    """The states in order, consecutive repeats folded (downloading 0, 40, 100 -> downloading)."""
    out: list[str] = []
    for s in states:
        if not out or out[-1] != s["state"]:
            out.append(s["state"])
    return out


# --- the success path ----------------------------------------------------------------------------


def test_an_update_downloads_verifies_reboots_and_confirms(watcher: Watcher, root: str, release: Release,
                                                            make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()
    (device_id,) = sim.devices
    send(watcher, root, device_id, release.add("1.3.0"))
    watcher.wait_for(final("confirmed", device_id, "1.3.0"), timeout=WAIT_S)
    states = update_states(watcher, device_id)
    assert steps(states) == ["downloading", "verifying", "rebooting", "confirmed"]
    percents = [s["percent"] for s in states if s["state"] == "downloading"]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(set(percents))
    assert all(p % 10 == 0 for p in percents)  # every further 10 %, as the firmware
    assert all(s["running"] == "1.0.0" for s in states[:-1]) and states[-1]["running"] == "1.3.0"
    # the reboot is a power cycle: the will (boot 1), then a birth with boot 2 and the new version
    watcher.wait_for(status_of(device_id, False, 1))
    (birth,) = watcher.matching(status_of(device_id, True, 2))
    assert birth.obj is not None and birth.obj["fw"] == "1.3.0"
    order = watcher.seen.index(birth) < watcher.seen.index(watcher.matching(final("confirmed", device_id))[0])
    assert order, "confirmed only once connected again on the new image"
    view = sim.device(device_id)
    assert (view.fw, view.boot) == ("1.3.0", 2)
    assert sim.stats().updates_confirmed == 1


def test_a_command_for_the_version_it_runs_is_left_alone(watcher: Watcher, root: str, release: Release,
                                                          make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(fw="1.3.0")
    (device_id,) = sim.devices
    send(watcher, root, device_id, release.add("1.3.0"))
    # a config after the command: once its state is back, the command was read
    watcher.publish(Topics(root).config(device_id), idle_config(1))
    watcher.wait_for(lambda m: m.device_id == device_id and m.channel == "state", timeout=WAIT_S)
    assert update_states(watcher, device_id) == []
    assert sim.device(device_id).boot == 1 and sim.stats().updates_started == 0


def test_a_broken_download_resumes_with_a_range(watcher: Watcher, root: str, release: Release, tmp_path: Path,
                                                make_sim: Callable[..., Simulator]) -> None:
    data = build_image("1.3.0", bytes(range(256)) * 400)
    ranges: list[str | None] = []

    class Flaky(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the first answer breaks off halfway, the rest honour Range
            ranges.append(self.headers.get("Range"))
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-")) if self.headers.get("Range") else 0
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            self.wfile.write(body[: len(body) // 2] if len(ranges) == 1 else body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        command = release.command("1.3.0", data)
        command = UpdateCommand(command.version, f"http://127.0.0.1:{server.server_address[1]}/image.bin",
                                command.size, command.sha256, command.signature)
        sim = make_sim()
        (device_id,) = sim.devices
        send(watcher, root, device_id, command)
        watcher.wait_for(final("confirmed", device_id, "1.3.0"), timeout=WAIT_S)
    finally:
        server.shutdown()
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-"


def test_an_image_that_is_not_there_fails_the_download(watcher: Watcher, root: str, release: Release,
                                                       make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()
    (device_id,) = sim.devices
    command = release.add("1.3.0")
    (release.images / f"{command.sha256}.bin").unlink()  # 404
    send(watcher, root, device_id, command)
    m = watcher.wait_for(final("failed", device_id), timeout=WAIT_S)[0]
    assert validate_publish(m.topic, m.payload, root)["reason"] == "download_error"
    assert steps(update_states(watcher, device_id)) == ["downloading", "failed"]
    assert sim.device(device_id).fw == "1.0.0"


# --- refusals ------------------------------------------------------------------------------------


def test_a_lower_version_is_refused_unless_downgrade_is_allowed(watcher: Watcher, root: str, release: Release,
                                                                make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(fw="1.3.0")
    (device_id,) = sim.devices
    older = release.add("1.2.0")
    send(watcher, root, device_id, older)
    failed = watcher.wait_for(final("failed", device_id))[0]
    state = validate_publish(failed.topic, failed.payload, root)
    assert (state["reason"], state["running"]) == ("downgrade", "1.3.0")
    send(watcher, root, device_id, UpdateCommand(older.version, older.url, older.size, older.sha256,
                                                 older.signature, allow_downgrade=True))
    watcher.wait_for(final("confirmed", device_id, "1.2.0"), timeout=WAIT_S)
    assert sim.device(device_id).fw == "1.2.0"


def test_a_tampered_image_is_refused_and_the_old_version_kept(watcher: Watcher, root: str, release: Release,
                                                               tmp_path: Path,
                                                               make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(count=3)
    first, second, third = sim.devices
    good = release.add("1.3.0")
    evil = build_image("1.3.0", b"\x66" * 4096)
    store_image(release.images, evil)
    # the served bytes are not the ones named: bad_sha256
    send(watcher, root, first, UpdateCommand("1.3.0", good.url.replace(good.sha256, sha256_of(evil)), good.size,
                                             good.sha256, good.signature))
    # the right hash, signed by another key: bad_signature
    other = signing.generate(tmp_path / "other")
    send(watcher, root, second, release.command("1.3.0", evil, signed_by=other.private))
    # not an image of the version it says it is: bad_image
    mislabelled = build_image("1.4.0", b"\x66" * 4096)
    store_image(release.images, mislabelled)
    send(watcher, root, third, release.command("1.3.0", mislabelled))
    reasons = {}
    for device_id in (first, second, third):
        m = watcher.wait_for(final("failed", device_id), timeout=WAIT_S)[0]
        reasons[device_id] = validate_publish(m.topic, m.payload, root)["reason"]
    assert reasons == {first: "bad_sha256", second: "bad_signature", third: "bad_image"}
    assert all(v.fw == "1.0.0" and v.boot == 1 for v in sim.devices.values())
    for device_id in (first, second, third):  # counted in the heartbeat, as the firmware counts them
        watcher.wait_for(refused_once(device_id), timeout=WAIT_S)


def test_without_the_fleet_key_every_update_is_refused(watcher: Watcher, root: str, release: Release,
                                                       make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(key=None)
    (device_id,) = sim.devices
    send(watcher, root, device_id, release.add("1.3.0"))
    m = watcher.wait_for(final("failed", device_id))[0]
    assert validate_publish(m.topic, m.payload, root)["reason"] == "no_key"
    assert steps(update_states(watcher, device_id)) == ["failed"]


def test_a_malformed_command_is_counted_and_dropped(watcher: Watcher, root: str, release: Release,
                                                    make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()
    (device_id,) = sim.devices
    bad = {**release.add("1.3.0").to_obj(), "sha256": "not-hex"}
    watcher.publish(Topics(root).update(device_id), bad)
    wait_until(lambda: sim.stats().bad_inbound == 1, WAIT_S, "the bad command counted")
    send(watcher, root, device_id, release.add("1.3.0"))  # the device goes on with the next one
    watcher.wait_for(final("confirmed", device_id, "1.3.0"), timeout=WAIT_S)


# --- failure modes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("faults", "reason"), [
    (UpdateFaults(download_error=1.0), "download_error"),
    (UpdateFaults(bad_signature=1.0), "bad_signature"),
])
def test_failure_modes_report_failed_and_keep_the_old_version(
    watcher: Watcher, release: Release, make_sim: Callable[..., Simulator], faults: UpdateFaults, reason: str,
) -> None:
    root = watcher.root
    sim = make_sim(count=2, faults=faults)
    command = release.add("1.3.0")
    for device_id in sim.devices:
        send(watcher, root, device_id, command)
    for device_id in sim.devices:
        m = watcher.wait_for(final("failed", device_id), timeout=WAIT_S)[0]
        state = validate_publish(m.topic, m.payload, root)
        assert (state["reason"], state["running"]) == (reason, "1.0.0")
    assert all(v.fw == "1.0.0" and v.boot == 1 for v in sim.devices.values())
    assert sim.stats().updates_failed == 2


def test_a_build_that_crashes_after_boot_is_rolled_back(watcher: Watcher, root: str, release: Release,
                                                        make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(count=2, faults=UpdateFaults(crash_versions=frozenset({"1.3.0"})))
    canary, other = sim.devices
    send(watcher, root, canary, release.add("1.3.0"))
    send(watcher, root, other, release.add("1.2.0"))
    watcher.wait_for(final("rolled_back", canary, "1.3.0"), timeout=WAIT_S)
    watcher.wait_for(final("confirmed", other, "1.2.0"), timeout=WAIT_S)
    assert steps(update_states(watcher, canary)) == ["downloading", "verifying", "rebooting", "rolled_back"]
    # it ran the new image (birth, boot 2) without confirming, then the bootloader went back (boot 3)
    (trial,) = watcher.matching(status_of(canary, True, 2))
    assert trial.obj is not None and trial.obj["fw"] == "1.3.0"
    wait_until(lambda: bool(watcher.matching(status_of(canary, True, 3))), WAIT_S, "the birth after the rollback")
    (back,) = watcher.matching(status_of(canary, True, 3))
    assert back.obj is not None and back.obj["fw"] == "1.0.0"
    assert sim.device(canary).fw == "1.0.0" and sim.device(other).fw == "1.2.0"
    assert update_states(watcher, canary)[-1]["running"] == "1.0.0"


# --- sessions ------------------------------------------------------------------------------------


def test_an_update_waits_for_the_session_to_end(watcher: Watcher, root: str, release: Release,
                                                make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim()
    (device_id,) = sim.devices
    topics = Topics(root)
    watcher.publish(topics.config(device_id), active_config(1))
    watcher.wait_for(lambda m: m.device_id == device_id and m.channel == "state", timeout=WAIT_S)
    send(watcher, root, device_id, release.add("1.3.0"))
    # a newer config of the same session after the command: once its state is back, the command was read
    watcher.publish(topics.config(device_id), active_config(2))
    watcher.wait_for(lambda m: m.device_id == device_id and m.channel == "state" and m.obj is not None
                     and m.obj["config_version"] == 2, timeout=WAIT_S)
    assert update_states(watcher, device_id) == []
    watcher.publish(topics.config(device_id), idle_config(3))
    watcher.wait_for(final("confirmed", device_id, "1.3.0"), timeout=WAIT_S)
    assert steps(update_states(watcher, device_id)) == ["downloading", "verifying", "rebooting", "confirmed"]
    assert sim.device(device_id).fw == "1.3.0"


def test_a_session_that_starts_mid_download_holds_the_reboot(watcher: Watcher, root: str, release: Release,
                                                             make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(download_s=2.0, heartbeat_s=0.3)
    (device_id,) = sim.devices
    topics = Topics(root)
    send(watcher, root, device_id, release.add("1.3.0"))
    watcher.wait_for(final("downloading", device_id))
    watcher.publish(topics.config(device_id), active_config(1))
    verifying = watcher.wait_for(final("verifying", device_id), timeout=WAIT_S)[0]
    # a heartbeat sent after `verifying`: a `rebooting` in the same step would have come before it
    after = watcher.seen.index(verifying)
    wait_until(lambda: any(m.device_id == device_id and m.channel == "heartbeat" for m in watcher.seen[after:]),
               WAIT_S, "a heartbeat after verifying")
    assert "rebooting" not in steps(update_states(watcher, device_id))
    assert sim.device(device_id).boot == 1 and sim.device(device_id).active_session
    watcher.publish(topics.config(device_id), idle_config(2))
    watcher.wait_for(final("confirmed", device_id, "1.3.0"), timeout=WAIT_S)


# --- scale ---------------------------------------------------------------------------------------


def test_two_hundred_devices_all_update(watcher: Watcher, root: str, release: Release,
                                        make_sim: Callable[..., Simulator]) -> None:
    # 200 devices reconnect after their reboots at once: the bootloader's deadline must not be the test's limit
    sim = make_sim(count=200, rollback_s=60.0)
    command = release.add("1.3.0", b"\x33" * 200_000)
    for device_id in sim.devices:
        send(watcher, root, device_id, command)
    try:
        wait_until(lambda: sim.stats().updates_confirmed == 200, 100.0, "200 confirmations")
    except AssertionError:
        late = {d: (v.fw, v.boot, v.online) for d, v in sim.devices.items() if v.fw != "1.3.0" or v.boot != 2}
        raise AssertionError(f"{sim.stats()}; not updated: {late}") from None
    assert {v.fw for v in sim.devices.values()} == {"1.3.0"}
    assert {v.boot for v in sim.devices.values()} == {2}
    assert sim.stats().updates_failed == 0
