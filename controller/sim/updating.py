"""The simulated devices' firmware updates over time, on the simulator's thread: each retained
update command handed to the device's `Updater` (`controller.sim.update`), the shared HTTP download
(`controller.sim.fetch`) paced into a per-device download of `download_s` with a percent reported
at most every `progress_s`, the checks, the reboot into the new slot (a power cycle: the broker
publishes the will, the device boots with boot + 1 and the new version in its birth), the
confirmation once it is connected again, and the bootloader's rollback when the new image has
not confirmed within `rollback_s` of the reboot (a crashing one never does).

A device serving a session never begins an update nor reboots for one: the command waits for
the idle config, and so does a verified image.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Final

from controller.adapters.signing import SigningError, load_public, verify_digest
from controller.contract.updates import UpdateState
from controller.sim.fetch import Fetch, Fetches
from controller.sim.reactor import Timers
from controller.sim.traffic import Link, Phase, Traffic
from controller.sim.update import FINAL_STATES, Step, UpdateFaults, Verifier

if TYPE_CHECKING:
    from controller.sim.simulator import UpdateSettings

log = logging.getLogger(__name__)

REBOOT_DELAY_S: Final = 0.2
"""Between the `rebooting` report and the power cycle, so the report leaves the device first."""


class _Tick(Enum):
    DOWNLOAD = "download"
    REBOOT = "reboot"
    ROLLBACK = "rollback"


class UpdateDriver:
    """Every device's update in time. `reboot(link)` power-cycles a device (the loop's)."""

    def __init__(self, settings: UpdateSettings, traffic: Traffic, *, rng: random.Random,
                 reboot: Callable[[Link], None]) -> None:
        """Raises SimulatorError for a key file that cannot be read."""
        from controller.sim.simulator import SimulatorError

        try:
            key = None if settings.key is None else load_public(settings.key)
        except SigningError as exc:
            raise SimulatorError(str(exc)) from exc
        self._settings = settings
        self._faults: UpdateFaults = settings.faults
        self._key = key
        self._verifier: Verifier | None = None if key is None else functools.partial(verify_digest, key)
        self._traffic = traffic
        self._rng = rng
        self._reboot = reboot
        self._fetches = Fetches()  # each device's download timer looks at its progress
        self._timers: Timers[tuple[Link, _Tick]] = Timers()
        self._downloads: dict[Link, tuple[Fetch, float]] = {}  # the shared fetch and when the device began

    def next_due(self) -> float | None:
        return self._timers.next_due()

    def run_timers(self, now: float) -> None:
        for link, tick in self._timers.pop_due(now):
            try:
                self._on_tick(link, tick, now)
            except Exception:
                log.exception("%s: update %s failed", link.name, tick.value)

    def close(self) -> None:
        self._fetches.close()

    # --- from the traffic (`controller.sim.traffic.UpdateHooks`) ---

    def on_command(self, link: Link, payload: bytes, now: float) -> None:
        """The retained update command (raises Rejected for a malformed one)."""
        device = link.device
        updater = device.update
        before = updater.command
        self._report(link, updater.on_command(payload, serving=device.session_id is not None,
                                              has_key=self._key is not None))
        if updater.step is Step.DOWNLOADING and updater.command is not before:
            self._begin(link, now)
        elif updater.step is not Step.DOWNLOADING:
            self._downloads.pop(link, None)

    def on_config_applied(self, link: Link, now: float) -> None:
        """A config was applied: when it ended the device's session, a waiting update goes on."""
        device = link.device
        if device.session_id is not None:
            return
        updater = device.update
        if updater.step is Step.DEFERRED:
            self._report(link, updater.begin_download())
            self._begin(link, now)
        elif updater.step is Step.READY:
            self._reboot_when_free(link, now)

    def on_up(self, link: Link, now: float) -> None:
        """Connected and its config (kept in flash) applied: a report it could not send goes out (a
        rollback's, made at boot), a final one again (the broker may have lost it); a new image
        confirms, unless it crashes: then the bootloader's deadline (`_Tick.ROLLBACK`) takes it back."""
        updater = link.device.update
        state = updater.state
        if state is not None and not updater.sent:
            self._report(link, state)
        elif state is not None and state.state in FINAL_STATES:
            self._traffic.update_state(link, state, count=False)
        self._report(link, updater.confirm())

    # --- timers ---

    def _begin(self, link: Link, now: float) -> None:
        updater = link.device.update
        command = updater.command
        if command is None:
            return
        updater.draw(self._rng, self._faults)
        self._downloads[link] = (self._fetches.get(command.url, command.size), now)
        self._timers.schedule((link, _Tick.DOWNLOAD), now + min(self._settings.progress_s, self._settings.download_s))

    def _on_tick(self, link: Link, tick: _Tick, now: float) -> None:
        updater = link.device.update
        if tick is _Tick.DOWNLOAD:
            self._download(link, now)
        elif tick is _Tick.REBOOT:
            if updater.step is Step.REBOOTING:
                self._reboot(link)
                self._timers.schedule((link, _Tick.ROLLBACK), now + self._settings.rollback_s)
        elif tick is _Tick.ROLLBACK and updater.step is Step.TRIAL:
            log.info("%s: %s did not confirm; the bootloader goes back", link.name, link.device.fw)
            self._reboot(link)

    def _download(self, link: Link, now: float) -> None:
        updater = link.device.update
        entry = self._downloads.get(link)
        if updater.step is not Step.DOWNLOADING or entry is None:
            self._downloads.pop(link, None)
            return
        fetch, began = entry
        if fetch.error is not None:
            self._finish(link, updater.download_failed())
            return
        settings = self._settings
        paced = (now - began) / settings.download_s if settings.download_s > 0 else 1.0
        percent = int(100 * min(1.0, paced, fetch.fraction()))
        self._report(link, updater.progress(percent))
        if updater.step is not Step.DOWNLOADING:
            self._downloads.pop(link, None)
            return
        if percent < 100 or fetch.data is None:
            self._timers.schedule((link, _Tick.DOWNLOAD), now + settings.progress_s)
            return
        del self._downloads[link]
        self._report(link, updater.verifying())
        if self._verifier is not None:
            self._report(link, updater.verify(fetch.data, self._verifier))
        if updater.busy:  # verified: READY
            self._reboot_when_free(link, now)

    def _finish(self, link: Link, state: UpdateState | None) -> None:
        self._downloads.pop(link, None)
        self._report(link, state)

    def _reboot_when_free(self, link: Link, now: float) -> None:
        if link.device.session_id is not None:
            return  # READY until the session ends (`on_config_applied`)
        self._report(link, link.device.update.rebooting())
        self._timers.schedule((link, _Tick.REBOOT), now + REBOOT_DELAY_S)

    def _report(self, link: Link, state: UpdateState | None) -> None:
        if state is None:
            return
        log.debug("%s: update to %s %s", link.name, state.version, state.state)
        if link.phase is Phase.UP:
            self._traffic.update_state(link, state)
            link.device.update.sent = True
        # else: the device sends it when it is connected again (`on_up`)
