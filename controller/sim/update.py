"""One simulated device's firmware update, by the device's rules of docs/contract.md, with no I/O
and no clock: which retained update command it acts on, the steps it reports (downloading,
verifying, rebooting, confirmed, failed, rolled_back), the checks of a downloaded image (size,
SHA-256, the fleet key's ECDSA signature through a `Verifier`, the app descriptor's version) and the
two slots it runs from. The simulator's thread (`controller.sim.updating`) drives it: it fetches the bytes, keeps the
time and reboots the device.

The faults a run asks for (`UpdateFaults`) are drawn when a download begins, from the simulator's
`random.Random`: a download that breaks at some percent, a signature that does not verify (a
tampered image), a new image that never confirms (it crashes after boot, so the "bootloader" goes
back to the old slot at the deadline).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, TypeAlias

from controller.contract.firmware import FirmwareError, Version
from controller.contract.messages import load_object
from controller.contract.updates import UpdateCommand, UpdateState
from controller.core.firmware import check_image

SLOT_BYTES: Final = 0x1E0000
"""One OTA app slot of firmware/partitions.csv (1.875 MB): a bigger image is refused `no_space`."""
NO_KEY: Final = "no_key"
"""The reason a device without the fleet's public key refuses every command: it cannot verify."""
NOT_CONFIRMED: Final = "not_confirmed"
"""The reason of `rolled_back`: the new image did not confirm before the bootloader's deadline."""
REFUSALS: Final = frozenset({"bad_sha256", "bad_signature", "bad_image"})
"""Refusals of the image itself: counted (the heartbeat's `images_refused`) and, like a rollback, never
tried again for the same command (`sha256`, `signature`, `url`). Every other failure is reported
again, or tried again (`download_error`), when the command next arrives: at the next connection."""
PERCENT_STEP: Final = 10
"""`downloading` is reported at 0 % and every further 10 % (the firmware's `kUpdatePercentStep`)."""
Verifier: TypeAlias = Callable[[bytes, bytes], bool]
"""Whether a DER signature (second) over a SHA-256 digest (first) verifies with the fleet's public key."""

FINAL_STATES: Final = frozenset({"confirmed", "failed", "rolled_back"})
"""Where an update ends; the device reports its last one again on each connection."""


class Step(Enum):
    IDLE = "idle"
    DEFERRED = "deferred"  # a command waits for the session the device serves to end
    DOWNLOADING = "downloading"
    READY = "ready"  # verified, waiting for the session to end before it reboots
    REBOOTING = "rebooting"
    TRIAL = "trial"  # runs the new image, not yet confirmed


@dataclass(frozen=True, slots=True)
class UpdateFaults:
    """What goes wrong in a simulator run, as probabilities per update attempt."""

    download_error: float = 0.0
    bad_signature: float = 0.0
    crash: float = 0.0
    crash_versions: frozenset[str] = frozenset()
    """Versions whose image always crashes after boot (a bad build): every device rolls back from it."""

    def __post_init__(self) -> None:
        for name in ("download_error", "bad_signature", "crash"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in 0..1")


class Updater:
    """A device's slots and its update in progress; `running` is what its birth and heartbeat say."""

    __slots__ = ("_done", "_fail_at", "_previous", "command", "crashes", "percent", "refused", "running", "sent",
                 "state", "step", "tampered")

    def __init__(self, running: str) -> None:
        self.running = running
        self._previous: str | None = None  # the other slot's version while the new one is on trial
        self.step = Step.IDLE
        self.command: UpdateCommand | None = None
        self.state: UpdateState | None = None  # the last reported step
        self.sent = True  # whether `state` went out (a rollback's is made at boot, before a connection)
        self.percent = 0
        self._fail_at: int | None = None
        self.tampered = False
        self.crashes = False
        self._done: set[tuple[str, str, str]] = set()  # commands (sha256, signature, url) not to be tried again
        self.refused = 0  # images refused for their hash, signature or descriptor (`images_refused`)

    @property
    def busy(self) -> bool:
        return self.step is not Step.IDLE

    def on_command(self, payload: bytes, *, serving: bool, has_key: bool) -> UpdateState | None:
        """The retained command arrived (again, on every connection): what to report now, if
        anything. Raises Rejected for a malformed one. `step` says what to do next: DOWNLOADING begins."""
        if not payload:  # withdrawn: what has not switched slots yet stops
            if self.step in (Step.DEFERRED, Step.DOWNLOADING, Step.READY):
                self.step, self.command = Step.IDLE, None
            return None
        command = UpdateCommand.from_obj(load_object(payload))
        if self.step is Step.TRIAL or (self.busy and self.command == command):
            return None  # already on it
        if self.step in (Step.DEFERRED, Step.DOWNLOADING, Step.READY):
            self.step, self.command = Step.IDLE, None  # a new command replaces one not yet switched to
        if _same_version(command.version, self.running) or _key(command) in self._done or self.busy:
            return None  # it runs that version already; refused or rolled back already; switching slots now
        refusal = _refusal(command, self.running, has_key=has_key)
        if refusal is not None:
            return self._fail(command, refusal)
        self.command = command
        if serving:
            self.step = Step.DEFERRED
            return None
        return self.begin_download()

    def begin_download(self) -> UpdateState | None:
        """Start the command's download (DEFERRED or a fresh command); faults are drawn by `draw`."""
        if self.command is None:
            return None
        self.step, self.percent = Step.DOWNLOADING, 0
        return self._report(UpdateState(self.command.version, "downloading", percent=0, running=self.running))

    def draw(self, rng: random.Random, faults: UpdateFaults) -> None:
        """This attempt's fate: where its download breaks, whether its signature is tampered, whether
        the new image crashes after boot."""
        self._fail_at = rng.randint(0, 99) if rng.random() < faults.download_error else None
        self.tampered = rng.random() < faults.bad_signature
        version = "" if self.command is None else self.command.version
        self.crashes = version in faults.crash_versions or rng.random() < faults.crash

    def progress(self, percent: int) -> UpdateState | None:
        """The download reached `percent` (0..100): a report when it moved, or the failure the faults
        drew."""
        command = self.command
        if self.step is not Step.DOWNLOADING or command is None:
            return None
        if self._fail_at is not None and percent >= self._fail_at:
            return self._fail(command, "download_error")
        step = percent - percent % PERCENT_STEP
        if step <= self.percent:
            return None
        self.percent = step
        return self._report(UpdateState(command.version, "downloading", percent=step, running=self.running))

    def download_failed(self) -> UpdateState | None:
        command = self.command
        return None if command is None or self.step is not Step.DOWNLOADING else self._fail(command, "download_error")

    def verifying(self) -> UpdateState | None:
        command = self.command
        if command is None or self.step is not Step.DOWNLOADING:
            return None
        return self._report(UpdateState(command.version, "verifying", running=self.running))

    def verify(self, data: bytes, verifier: Verifier) -> UpdateState | None:
        """Check the downloaded bytes: a failure is reported (the old image keeps running), else the
        device is READY to reboot (`rebooting()` reports it)."""
        command = self.command
        if command is None or self.step is not Step.DOWNLOADING:
            return None
        problem = image_problem(command, data, verifier, tampered=self.tampered)
        if problem is not None:
            return self._fail(command, problem)
        self.step = Step.READY
        return None

    def rebooting(self) -> UpdateState | None:
        """READY and free to reboot: report it; the device reboots next (`on_reboot`)."""
        command = self.command
        if command is None or self.step is not Step.READY:
            return None
        self.step = Step.REBOOTING
        return self._report(UpdateState(command.version, "rebooting", running=self.running))

    def on_reboot(self) -> None:
        """The device boots: into the new slot after REBOOTING; back into the old one when the new
        image reboots before it confirmed (the bootloader's rollback); any other step is lost (the
        retained command comes again on the next connection)."""
        command = self.command
        if self.step is Step.REBOOTING and command is not None:
            self._previous, self.running, self.step = self.running, command.version, Step.TRIAL
        elif self.step is Step.TRIAL and command is not None and self._previous is not None:
            self.running, self._previous = self._previous, None
            self._done.add(_key(command))
            self._report(UpdateState(command.version, "rolled_back", reason=NOT_CONFIRMED, running=self.running))
            self.step, self.command = Step.IDLE, None
        elif self.step is not Step.IDLE:
            self.step, self.command = Step.IDLE, None

    def confirm(self) -> UpdateState | None:
        """Reconnected on the new image with its config applied: mark it valid (unless it crashes)."""
        command = self.command
        if self.step is not Step.TRIAL or command is None or self.crashes:
            return None
        self._previous = None
        self.step, self.command = Step.IDLE, None
        return self._report(UpdateState(command.version, "confirmed", running=self.running))

    def _fail(self, command: UpdateCommand, reason: str) -> UpdateState:
        if reason in REFUSALS:
            self._done.add(_key(command))
            self.refused += 1
        self.step, self.command = Step.IDLE, None
        return self._report(UpdateState(command.version, "failed", reason=reason, running=self.running))

    def _report(self, state: UpdateState) -> UpdateState:
        self.state, self.sent = state, False
        return state


def image_problem(command: UpdateCommand, data: bytes, verifier: Verifier, *, tampered: bool = False) -> str | None:
    """Why a device refuses the downloaded `data` for `command` (a contract reason), or None:
    `bad_image` for another size, not an app image or another version inside; `bad_sha256`;
    `bad_signature` (also when `tampered`: one bit of the signature flipped, as an attacker's)."""
    if len(data) != command.size:
        return "bad_image"
    digest = hashlib.sha256(data).digest()
    if digest.hex() != command.sha256:
        return "bad_sha256"
    try:
        signature = bytearray(base64.b64decode(command.signature, validate=True))
    except (binascii.Error, ValueError):
        return "bad_signature"
    if tampered and signature:
        signature[-1] ^= 0x01
    if not verifier(digest, bytes(signature)):
        return "bad_signature"
    try:
        check_image(data, Version.parse(command.version))
    except FirmwareError:
        return "bad_image"
    return None


def _key(command: UpdateCommand) -> tuple[str, str, str]:
    return command.sha256, command.signature, command.url


def _refusal(command: UpdateCommand, running: str, *, has_key: bool) -> str | None:
    """Why a device refuses a command before downloading anything, or None."""
    if not has_key:
        return NO_KEY
    if not command.allow_downgrade and _lower(command.version, running):
        return "downgrade"
    if command.size > SLOT_BYTES:
        return "no_space"
    return None


def _same_version(a: str, b: str) -> bool:
    try:
        return Version.parse(a) == Version.parse(b)
    except FirmwareError:
        return a == b


def _lower(version: str, running: str) -> bool:
    try:
        return Version.parse(version) < Version.parse(running)
    except FirmwareError:
        return False  # a device whose own version is not semantic cannot tell: it does not refuse

