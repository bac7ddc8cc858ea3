"""The simulated device's update rules (`controller.sim.update`) with plain data: which commands it
acts on, the steps it reports, the checks of an image, the slots across reboots and the faults."""

from __future__ import annotations

import ast
import hashlib
import random
from pathlib import Path

import pytest

from controller.contract.messages import encode, load_object
from controller.contract.updates import UpdateCommand, UpdateState
from controller.core.firmware import build_image
from controller.sim import update as update_module
from controller.sim.fetch import ATTEMPTS
from controller.sim.update import PERCENT_STEP, SLOT_BYTES, Step, UpdateFaults, Updater, image_problem
from tests.firmware import firmware_constant

IMAGE = build_image("1.3.0", b"\x11" * 256)
SHA = hashlib.sha256(IMAGE).hexdigest()
SIGNATURE = "MEUCIQDnmWc1lBz2VXbH4rYk6n0PqN3m3y5YQ0o3m6Gq3hQ0WQIgB2t7fP0Vg1kqQ4r8o8s7bq8Jm0y0o0z8Zk6X1u7q5vE="


def command(version: str = "1.3.0", *, size: int = len(IMAGE), sha: str = SHA, downgrade: bool = False) -> bytes:
    return encode(UpdateCommand(version, f"http://10.0.0.1/firmware/{sha}.bin", size, sha, SIGNATURE,
                                downgrade).to_obj())


def trusting(_digest: bytes, _signature: bytes) -> bool:
    return True


def distrusting(_digest: bytes, _signature: bytes) -> bool:
    return False


def through_to_trial(updater: Updater) -> list[UpdateState]:
    states = [updater.on_command(command(), serving=False, has_key=True)]
    updater.draw(random.Random(1), UpdateFaults())
    states += [updater.progress(50), updater.progress(100), updater.verifying(), updater.verify(IMAGE, trusting),
               updater.rebooting()]
    updater.on_reboot()
    return [s for s in states if s is not None]


@pytest.mark.parametrize(("ours", "theirs"), [(PERCENT_STEP, "kUpdatePercentStep"), (ATTEMPTS, "kUpdateMaxAttempts")])
def test_limits_are_the_firmwares(ours: int, theirs: str) -> None:
    assert ours == firmware_constant(theirs)


def test_the_update_model_imports_no_io() -> None:
    tree = ast.parse(Path(update_module.__file__).read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m.split(".")[0] for m in modules} <= {"__future__", "base64", "binascii", "collections", "dataclasses",
                                                 "enum", "hashlib", "random", "typing", "controller"}
    assert all(m.startswith(("controller.contract", "controller.core")) for m in modules if m.startswith("controller"))


def test_the_success_path_reports_each_step_then_confirms_on_the_new_slot() -> None:
    updater = Updater("1.0.0")
    states = through_to_trial(updater)
    assert [(s.state, s.percent) for s in states] == [
        ("downloading", 0), ("downloading", 50), ("downloading", 100), ("verifying", None), ("rebooting", None)]
    assert (updater.running, updater.step) == ("1.3.0", Step.TRIAL)
    assert updater.on_command(command(), serving=False, has_key=True) is None  # on trial: not yet confirmed
    confirmed = updater.confirm()
    assert confirmed == UpdateState("1.3.0", "confirmed", running="1.3.0")
    assert updater.state == confirmed and not updater.busy
    assert updater.on_command(command(), serving=False, has_key=True) is None  # said so already


def test_a_command_for_the_running_version_is_left_alone() -> None:
    updater = Updater("1.3.0+build.7")
    assert updater.on_command(command(), serving=False, has_key=True) is None
    assert not updater.busy and updater.state is None


def test_downloading_is_reported_every_ten_percent() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    updater.draw(random.Random(1), UpdateFaults())
    reports = [updater.progress(p) for p in (3, 9, 10, 17, 25, 31, 99, 100)]
    assert [r.percent for r in reports if r is not None] == [10, 20, 30, 90, 100]


@pytest.mark.parametrize(("payload", "has_key", "reason"), [
    (command("1.2.0"), True, "downgrade"),
    (command(size=SLOT_BYTES + 1), True, "no_space"),
    (command(), False, "no_key"),
])
def test_refusals_before_any_download(payload: bytes, has_key: bool, reason: str) -> None:
    updater = Updater("1.2.5")
    state = updater.on_command(payload, serving=False, has_key=has_key)
    assert state is not None and (state.state, state.reason, state.running) == ("failed", reason, "1.2.5")
    assert not updater.busy and updater.running == "1.2.5"
    assert updater.on_command(payload, serving=False, has_key=has_key) == state  # said again at each connection
    assert updater.refused == 0  # not the image's fault


def test_a_downgrade_is_taken_when_allowed() -> None:
    updater = Updater("1.4.0")
    assert updater.on_command(command(), serving=False, has_key=True) is not None  # refused: downgrade
    state = updater.on_command(command(downgrade=True), serving=False, has_key=True)
    assert state is not None and state.state == "downloading"


def test_a_command_waits_while_a_session_is_served() -> None:
    updater = Updater("1.0.0")
    assert updater.on_command(command(), serving=True, has_key=True) is None
    assert updater.step is Step.DEFERRED
    state = updater.begin_download()
    assert state is not None and (state.state, state.percent) == ("downloading", 0)


def test_a_withdrawn_command_stops_what_has_not_switched_slots() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    assert updater.on_command(b"", serving=False, has_key=True) is None
    assert not updater.busy and updater.command is None


@pytest.mark.parametrize(("data", "verifier", "tampered", "reason"), [
    (IMAGE, trusting, False, None),
    (IMAGE[:-1], trusting, False, "bad_image"),
    (IMAGE[:-1] + b"\x12", trusting, False, "bad_sha256"),
    (IMAGE, distrusting, False, "bad_signature"),
])
def test_image_checks(data: bytes, verifier: update_module.Verifier, tampered: bool, reason: str | None) -> None:
    cmd = UpdateCommand.from_obj(load_object(command()))
    assert image_problem(cmd, data, verifier, tampered=tampered) == reason


def test_a_tampered_signature_does_not_verify() -> None:
    cmd = UpdateCommand.from_obj(load_object(command()))
    seen: list[bytes] = []

    def verifier(_digest: bytes, signature: bytes) -> bool:
        seen.append(signature)
        return len(seen) == 1

    assert image_problem(cmd, IMAGE, verifier) is None
    assert image_problem(cmd, IMAGE, verifier, tampered=True) == "bad_signature"
    assert seen[0] != seen[1]


def test_an_image_of_another_version_is_bad() -> None:
    other = build_image("1.4.0", b"\x11" * 256)
    cmd = UpdateCommand("1.3.0", "http://h/x.bin", len(other), hashlib.sha256(other).hexdigest(), SIGNATURE)
    assert image_problem(cmd, other, trusting) == "bad_image"


def test_a_failed_image_is_not_tried_again_but_a_download_error_is() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    updater.draw(random.Random(1), UpdateFaults())
    state = updater.verify(IMAGE, distrusting)
    assert state is not None and state.reason == "bad_signature" and updater.refused == 1
    assert updater.on_command(command(), serving=False, has_key=True) is None
    retry = Updater("1.0.0")
    retry.on_command(command(), serving=False, has_key=True)
    assert retry.download_failed() is not None
    state = retry.on_command(command(), serving=False, has_key=True)
    assert state is not None and state.state == "downloading"


def test_a_download_fault_breaks_the_download_at_its_percent() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    updater.draw(random.Random(5), UpdateFaults(download_error=1.0))
    states = [updater.progress(p) for p in range(0, 101, 10)]
    failed = [s for s in states if s is not None and s.state == "failed"]
    assert len(failed) == 1 and failed[0].reason == "download_error" and not updater.busy


def test_a_crashing_version_rolls_back_at_the_next_boot() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    updater.draw(random.Random(1), UpdateFaults(crash_versions=frozenset({"1.3.0"})))
    assert updater.crashes
    updater.progress(100)
    updater.verify(IMAGE, trusting)
    updater.rebooting()
    updater.on_reboot()
    assert updater.running == "1.3.0" and updater.confirm() is None
    updater.on_reboot()  # the bootloader's deadline passed
    assert updater.running == "1.0.0" and not updater.busy
    assert updater.state == UpdateState("1.3.0", "rolled_back", reason="not_confirmed", running="1.0.0")
    assert not updater.sent  # made at boot: it goes out once the device is connected
    assert updater.on_command(command(), serving=False, has_key=True) is None  # never again from this image


def test_a_download_lost_to_a_reboot_starts_again_with_the_command() -> None:
    updater = Updater("1.0.0")
    updater.on_command(command(), serving=False, has_key=True)
    updater.on_reboot()
    assert not updater.busy and updater.running == "1.0.0"
    state = updater.on_command(command(), serving=False, has_key=True)
    assert state is not None and state.state == "downloading"


def test_fault_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="crash"):
        UpdateFaults(crash=1.5)
