"""End to end: host devices under their supervisor (the host port's bootloader) take a retained
update command, download a packed and signed `fleet-device` build over HTTP, check it, switch
slots and confirm; a tampered image is refused and counted, a bad build is rolled back, a broken
download resumes with Range, a downgrade is refused. The command is published directly: the
rollout that will publish it is not part of these tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.contract.messages import JsonObject
from tests.brokers import RunningBroker
from tests.conftest import Recorder
from tests.hostdevice import last_heartbeat
from tests.hostupdates import (
    Image,
    ImageServer,
    Signer,
    SupervisedDevice,
    births,
    image_server,
    pack,
    publish_json,
    publish_update,
    script,
    stripped_device,
    update_states,
)
from tests.waiting import eventually

FACTORY = "1.0.0"  # FLEET_FW_VERSION of the host build


@dataclass
class Rig:
    """What every test here uses: the broker, a fleet key, the image server, a recorder, and
    `device(id, confirm_s, *flags)`: a supervised host device with the key provisioned."""

    broker: RunningBroker
    root: str
    tmp_path: Path
    signer: Signer
    images: ImageServer
    recorder: Recorder
    device: Callable[..., SupervisedDevice]

    def build(self, version: str, executable: Path | None = None) -> Image:
        """`executable` (default: this fleet-device, stripped) packed as `version` and signed."""
        built = executable or stripped_device(self.tmp_path)
        return self.signer.image(pack(built, version, self.tmp_path / f"{version}.bin"), version)

    def publish(self, device: SupervisedDevice, command: JsonObject) -> None:
        publish_update(self.broker, self.root, device.id, command)


@pytest.fixture
def rig(broker: RunningBroker, root: str, tmp_path: Path, recorder: Recorder) -> Iterator[Rig]:
    signer = Signer(tmp_path / "keys")
    made: list[SupervisedDevice] = []

    def make(device_id: str, confirm_s: int = 60, *flags: str) -> SupervisedDevice:
        device = SupervisedDevice(device_id, broker.url, root, tmp_path / device_id, flags)
        device.confirm_s = confirm_s
        if "--update-key" not in flags:
            device.provision_key(signer.public_base64)
        device.start()
        made.append(device)
        return device

    with image_server() as images:
        yield Rig(broker, root, tmp_path, signer, images, recorder, make)
    for device in made:
        device.stop()


def steps(recorder: Recorder, device_id: str) -> list[str]:
    return [str(s["state"]) for s in update_states(recorder, device_id)]


def last_state(recorder: Recorder, device_id: str) -> dict[str, object]:
    states = update_states(recorder, device_id)
    return states[-1] if states else {}


def test_a_host_device_updates_to_a_signed_build_and_runs_it(rig: Rig) -> None:
    device = rig.device("esp32-0000000000a1", 60, "--update-key", str(rig.signer.public_pem))
    eventually(lambda: any(b.get("fw") == FACTORY for b in births(rig.recorder, device.id)), 10, "factory birth")
    image = rig.build("1.1.0")
    rig.images.files["v110.bin"] = image.data

    rig.publish(device, image.command(rig.images.url("v110.bin")))

    eventually(lambda: "confirmed" in steps(rig.recorder, device.id), 30, "confirmed")
    seen = steps(rig.recorder, device.id)
    assert seen[0] == "downloading" and seen[-3:] == ["verifying", "rebooting", "confirmed"], seen
    states = update_states(rig.recorder, device.id)
    percents = [s["percent"] for s in states if s["state"] == "downloading"]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert len(percents) <= 11  # throttled: every 10 %
    assert all(s["running"] == FACTORY for s in states[:-1])
    assert states[-1] == {"v": 1, "id": device.id, "version": "1.1.0", "state": "confirmed", "running": "1.1.0"}
    assert births(rig.recorder, device.id)[-1]["fw"] == "1.1.0"
    assert device.boot_slot() == "1"
    assert not (device.state_dir / "ota" / "trial").exists()
    assert rig.images.ranges == [None]
    eventually(lambda: _heartbeat_fw(rig.recorder, device.id) == "1.1.0", 10, "heartbeat of the new version")


def _heartbeat_fw(recorder: Recorder, device_id: str) -> str | None:
    hb = last_heartbeat(recorder, device_id)
    return None if hb is None else hb.fw


def _last_heartbeat_payload(recorder: Recorder, device_id: str) -> bytes:
    beats = [p for t, p, _ in list(recorder.messages) if t.endswith(f"/{device_id}/heartbeat")]
    return beats[-1] if beats else b""


def test_a_tampered_image_is_refused_and_counted_and_the_old_version_runs_on(rig: Rig) -> None:
    device = rig.device("esp32-0000000000a2")
    good = rig.build("1.1.0")
    tampered = bytearray(good.data)
    tampered[len(tampered) // 2] ^= 0xFF
    rig.images.files["tampered.bin"] = bytes(tampered)
    rig.publish(device, good.command(rig.images.url("tampered.bin")))
    eventually(lambda: last_state(rig.recorder, device.id).get("state") == "failed", 30, "refused")
    assert last_state(rig.recorder, device.id)["reason"] == "bad_sha256"

    # Signed with another key: the bytes match the command, the signature does not verify.
    forged = Signer(rig.tmp_path / "other-key").image(good.data, "1.1.0")
    rig.images.files["forged.bin"] = forged.data
    rig.publish(device, forged.command(rig.images.url("forged.bin")))
    eventually(lambda: last_state(rig.recorder, device.id).get("reason") == "bad_signature", 30, "bad signature")

    eventually(lambda: b'"images_refused":2' in _last_heartbeat_payload(rig.recorder, device.id), 10,
               "two refused images in the heartbeat")
    assert last_state(rig.recorder, device.id)["running"] == FACTORY
    assert device.boot_slot() == "0"
    assert all(b.get("fw") == FACTORY for b in births(rig.recorder, device.id))
    assert "rebooting" not in steps(rig.recorder, device.id)


@pytest.mark.parametrize("build", ["exec sleep 600", "exit 3"], ids=["never_confirms", "exits_at_once"])
def test_a_bad_build_is_rolled_back_by_the_supervisor(rig: Rig, build: str) -> None:
    device = rig.device("esp32-0000000000a3", 3)
    image = rig.build("1.2.0", script(rig.tmp_path, "bad", build))
    rig.images.files["bad.bin"] = image.data
    rig.publish(device, image.command(rig.images.url("bad.bin")))

    eventually(lambda: "rolled_back" in steps(rig.recorder, device.id), 30, "rolled back")
    assert steps(rig.recorder, device.id)[-3:] == ["verifying", "rebooting", "rolled_back"]
    assert last_state(rig.recorder, device.id) == {
        "v": 1, "id": device.id, "version": "1.2.0", "state": "rolled_back", "reason": "not_confirmed",
        "running": FACTORY}
    assert device.boot_slot() == "0"
    eventually(lambda: births(rig.recorder, device.id)[-1].get("fw") == FACTORY, 10, "the old version back online")
    assert "rolling back to slot 0" in device.log()
    # The retained command is still there: the device does not try the same image again.
    assert len(rig.images.ranges) == 1


def test_a_broken_download_resumes_with_a_range_request(rig: Rig) -> None:
    device = rig.device("esp32-0000000000a4")
    image = rig.build("1.1.0")
    rig.images.files["v110.bin"] = image.data
    rig.images.cut_once.add("v110.bin")
    rig.publish(device, image.command(rig.images.url("v110.bin")))

    eventually(lambda: "confirmed" in steps(rig.recorder, device.id), 40, "confirmed after resuming")
    ranges = rig.images.ranges
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] is not None, ranges
    resumed_at = int(ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= len(image.data) // 2
    assert births(rig.recorder, device.id)[-1]["fw"] == "1.1.0"


def test_a_downgrade_is_refused_unless_the_command_allows_it(rig: Rig) -> None:
    device = rig.device("esp32-0000000000a5")
    image = rig.build("0.9.0")
    rig.images.files["v090.bin"] = image.data
    rig.publish(device, image.command(rig.images.url("v090.bin")))
    eventually(lambda: last_state(rig.recorder, device.id).get("state") == "failed", 20, "refused")
    assert last_state(rig.recorder, device.id)["reason"] == "downgrade"
    assert rig.images.ranges == []  # nothing downloaded

    rig.publish(device, image.command(rig.images.url("v090.bin"), allow_downgrade=True))
    eventually(lambda: last_state(rig.recorder, device.id).get("state") == "confirmed", 30, "allowed downgrade")
    assert births(rig.recorder, device.id)[-1]["fw"] == "0.9.0"


def _config(version: int, active: bool) -> JsonObject:
    if not active:
        return {"v": 1, "version": version, "active_session": False}
    return {"v": 1, "version": version, "active_session": True, "session_id": 42, "course_code": "CS101",
            "course_title": "Introduction to Computer Science", "session": "2024/2025", "semester": "1st Semester",
            "lecturer": "alice", "device_id": "ESP32_CS101_2024_2025_1st_Semester",
            "device_name": "CS101 - Introduction to Computer Science", "ssid": "CS101_Attendance_2024_2025",
            "password": "", "location": "CS101 Classroom"}


def _heartbeats(recorder: Recorder, device_id: str) -> int:
    return sum(1 for t, _, _ in list(recorder.messages) if t.endswith(f"/{device_id}/heartbeat"))


def test_no_update_starts_during_a_lecture_and_it_runs_once_the_lecture_ends(rig: Rig) -> None:
    device = rig.device("esp32-0000000000a6")
    config_topic = f"{rig.root}/devices/{device.id}/config"
    publish_json(rig.broker, config_topic, _config(7, active=True))
    eventually(lambda: device.ap().get("running") is True, 10, "the session's access point")
    image = rig.build("1.1.0")
    rig.images.files["v110.bin"] = image.data
    rig.publish(device, image.command(rig.images.url("v110.bin")))
    # The device looks at the command every loop pass; a few heartbeats later (one a second) it has
    # decided: it waits for the session, silently.
    seen = _heartbeats(rig.recorder, device.id)
    eventually(lambda: _heartbeats(rig.recorder, device.id) >= seen + 3, 10, "three more heartbeats")
    assert update_states(rig.recorder, device.id) == []
    assert rig.images.ranges == []
    checked_in, _ = device.checkin("U2021/0042")
    assert checked_in == 200

    publish_json(rig.broker, config_topic, _config(8, active=False))
    eventually(lambda: "confirmed" in steps(rig.recorder, device.id), 30, "updated after the lecture")
    assert births(rig.recorder, device.id)[-1]["fw"] == "1.1.0"
