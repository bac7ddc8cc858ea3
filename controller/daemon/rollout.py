"""Firmware rollouts in the daemon: started, paused, resumed and aborted on request, each rollout
ticked by the controller's timers (gather the fleet's facts → `core.rollout.decide` inside the
store's locked transaction → publish the retained update commands it asks for), and devices'
`update/state` recorded as they arrive.

All of a rollout's state is in the database and every decision is taken from it, so a restarted
controller carries on where the last one stopped (the retained `update/state` of every device is
re-read at connect and recorded again, changing nothing it already knew), and two controllers take
turns on a rollout's row lock. A command is published after its row is committed: a controller that
dies between the two leaves the device `commanded` with no command, and the retry after the
timeout sends it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from functools import partial

from controller.adapters.store import Store
from controller.contract.firmware import FirmwareImage
from controller.contract.messages import encode
from controller.contract.requests import NoParams
from controller.contract.rollouts import (
    MAX_NOTES,
    DeviceNote,
    RolloutChanged,
    RolloutList,
    RolloutParams,
    RolloutStartParams,
    RolloutStatus,
    RolloutStatusParams,
    WaveCounts,
)
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand, UpdateState
from controller.core import rollout
from controller.core.fleet import Fleet
from controller.daemon.outbox import Outbox
from controller.daemon.settings import ControllerSettings
from controller.daemon.stats import Stats
from controller.errors import RolloutRefused, StoreError

log = logging.getLogger(__name__)


class Rollouts:
    """The controller's rollouts: requests, ticks and progress, under the controller's lock."""

    def __init__(self, store: Store, fleet: Fleet, outbox: Outbox, *, settings: ControllerSettings, topics: Topics,
                 stats: Stats, image_url_base: Callable[[], str | None]) -> None:
        self._store = store
        self._fleet = fleet
        self._outbox = outbox
        self._settings = settings
        self._topics = topics
        self._stats = stats
        self._url_base = image_url_base
        self._policy = rollout.Policy(settings.update_timeout_s, settings.update_attempts)

    # --- the fleet now ----------------------------------------------------------------------------

    def facts(self, now: float) -> rollout.Facts:
        """Who is online and runs what (this controller's registry), who serves a session (its fleet and
        the database, where another controller's claims are at once) and the lectures that hold rooms."""
        return rollout.Facts(online=self._fleet.live.online_ids(now), running=self._running(),
                             serving=set(self._fleet.busy()) | self._store.rollouts.serving(),
                             rooms={d: info.room for d, info in self._fleet.inventory().items()},
                             lectures=self._store.rollouts.lectures(now))

    # --- requests ---------------------------------------------------------------------------------

    def start(self, params: RolloutStartParams, by: str, now: float) -> RolloutStatus:
        """Refuses an unknown version, an empty target, a downgrade not allowed and a device already
        in a rollout not yet ended; else the rollout, running (its first tick is the next)."""
        image = self._image(params.version)
        if image is None:
            raise RolloutRefused(f"no firmware image {params.version} is kept: add it first (fleet firmware add)",
                                 "unknown_version")
        if self._url_base() is None:
            raise RolloutRefused("the controller has no URL devices fetch images from: run it with --metrics-port "
                                 "and a --metrics-host devices reach (not 0.0.0.0), or --image-url-base",
                                 "no_image_url")
        devices = self._targets(params)
        if not devices:
            raise RolloutRefused(f"no device matches the target ({params.target})", "no_devices")
        running = self._running()
        lower = rollout.downgrades(params.version, {d: running.get(d) for d in devices})
        if lower and not params.allow_downgrade:
            raise RolloutRefused(f"{len(lower)} device(s) run a version above {params.version} ({', '.join(lower[:5])}"
                                 f"{', ...' if len(lower) > 5 else ''}): add --allow-downgrade to go down", "downgrade")
        summary = self._store.rollouts.create(params, rollout.waves(devices, params.canary, params.rate_per_min),
                                              by=by, now=now)
        log.info("rollout %d of %s to %s (%d devices) started by %s", summary.id, params.version, params.target,
                 summary.devices, by)
        return self.status(RolloutStatusParams(summary.id), now)

    def status(self, params: RolloutStatusParams, now: float) -> RolloutStatus:
        """A rollout's waves by state, with what waits now and why (from the pure decision, not applied)."""
        summary, plan, targets = self._store.rollouts.status(params.rollout_id)
        waiting = rollout.decide(plan, targets, self.facts(now), now, self._policy).waiting if (
            plan.state == "running") else {}
        waves: dict[int, Counter[str]] = {}
        for t in targets:
            waves.setdefault(t.wave, Counter())[t.state] += 1
        held = Counter(t.wave for t in targets if t.device_id in waiting)
        notes = [DeviceNote(t.device_id, t.state, t.reason or None) for t in targets if t.state in rollout.FAILED]
        notes += [DeviceNote(d, "waiting", why) for d, why in sorted(waiting.items())]
        return RolloutStatus(summary, tuple(WaveCounts(w, dict(c), held.get(w, 0)) for w, c in sorted(waves.items())),
                             tuple(notes[:MAX_NOTES]))

    def listed(self, _params: NoParams) -> RolloutList:
        return RolloutList(tuple(self._store.rollouts.summaries()))

    def pause(self, params: RolloutParams, by: str, now: float) -> RolloutChanged:
        summary, _ = self._store.rollouts.set_state(params.rollout_id, "paused", ("running",), now)
        log.info("rollout %d paused by %s", summary.id, by)
        return RolloutChanged(summary)

    def resume(self, params: RolloutParams, by: str, now: float) -> RolloutChanged:
        summary, _ = self._store.rollouts.set_state(params.rollout_id, "running", ("paused",), now)
        log.info("rollout %d resumed by %s", summary.id, by)
        return RolloutChanged(summary)

    def abort(self, params: RolloutParams, by: str, now: float) -> RolloutChanged:
        """Abort: no more commands, and the retained command of every device not yet done withdrawn."""
        summary, targets = self._store.rollouts.set_state(params.rollout_id, "aborted", rollout.ACTIVE, now)
        withdrawn = rollout.unfinished(targets)
        for device_id in withdrawn:
            self._outbox.send(self._topics.update(device_id), b"", retain=True)
        log.info("rollout %d aborted by %s; the command of %d device(s) not yet done withdrawn", summary.id, by,
                 len(withdrawn))
        return RolloutChanged(summary)

    # --- the clock --------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Decide every rollout not yet ended and publish the commands decided (while connected to
        the broker); one that fails is logged and the rest go on (the next tick retries it)."""
        if not self._outbox.connected():  # a command not sent would wait for the retry after the timeout
            return
        ids = self._store.rollouts.active()
        if not ids:
            return
        facts = self.facts(now)
        for rollout_id in ids:
            try:
                self._tick_one(rollout_id, facts, now)
            except StoreError as exc:
                log.error("database error in rollout %d (will retry): %s", rollout_id, exc)

    def _tick_one(self, rollout_id: int, facts: rollout.Facts, now: float) -> None:
        decide = partial(rollout.decide, facts=facts, now=now, policy=self._policy)
        ticked = self._store.rollouts.tick(rollout_id, decide, now)
        if ticked is None:
            return
        plan, decision = ticked
        for target in decision.changed:
            if target.state == "failed" and target.reason in (rollout.TIMEOUT, "downgrade"):
                self._failed(rollout_id, target.device_id, target.reason)
        if decision.commanded:
            self._command(plan, decision.commanded)
        if decision.state != plan.state:
            how = f": {decision.reason}" if decision.reason else ""
            level = logging.WARNING if decision.state == "halted" else logging.INFO
            log.log(level, "rollout %d of %s is %s%s", rollout_id, plan.version, decision.state, how)

    def _command(self, plan: rollout.Plan, devices: tuple[str, ...]) -> None:
        image, base = self._image(plan.version), self._url_base()
        if image is None or base is None:  # removed from the database, or the endpoint gone: retried later
            log.error("rollout %d: no image %s or no image URL; its commands wait for the retry", plan.id,
                      plan.version)
            return
        command = UpdateCommand(image.version, f"{base}{image.sha256}.bin", image.size, image.sha256,
                                image.signature, plan.allow_downgrade)
        payload = encode(command.to_obj())
        for device_id in devices:
            self._outbox.send(self._topics.update(device_id), payload, retain=True)
        log.info("rollout %d: %s commanded to install %s", plan.id, ", ".join(devices[:10]) +
                 (f" and {len(devices) - 10} more" if len(devices) > 10 else ""), plan.version)

    # --- the devices' progress ----------------------------------------------------------------------

    def on_state(self, device_id: str, state: UpdateState, now: float) -> None:
        """Record a device's `update/state` in the rollouts it is in."""
        for rollout_id, target in self._store.rollouts.record(device_id, state.version, state.state,
                                                              percent=state.percent, reason=state.reason, now=now):
            if target.state in rollout.FAILED:
                self._failed(rollout_id, device_id, target.reason or target.state)
            elif target.state == "confirmed":
                log.info("rollout %d: %s runs %s", rollout_id, device_id, state.version)

    def _failed(self, rollout_id: int, device_id: str, reason: str) -> None:
        self._stats.update_failures[reason] += 1
        log.warning("rollout %d: the update of %s failed: %s", rollout_id, device_id, reason)

    # --- helpers ----------------------------------------------------------------------------------

    def _running(self) -> dict[str, str | None]:
        """What each device this controller has heard from runs (its birth's or heartbeat's `fw`)."""
        return {d.device_id: d.fw for d in self._fleet.live}

    def _image(self, version: str) -> FirmwareImage | None:
        return next((i for i in self._store.firmware.images().images if i.version == version), None)

    def _targets(self, params: RolloutStartParams) -> list[str]:
        """The devices a start names: a room's, the listed ones (each must be known), or every device;
        retired and unapproved devices never."""
        inventory = self._fleet.inventory()
        known = {d.device_id for d in self._fleet.live} | set(inventory)
        excluded = self._fleet.excluded()
        if params.devices is not None:
            unknown = [d for d in params.devices if d not in known]
            if unknown:
                raise RolloutRefused(f"unknown device(s): {', '.join(unknown[:5])}", "unknown_device")
            chosen = set(params.devices)
        elif params.room is not None:
            chosen = {d for d, info in inventory.items() if info.room == params.room}
        else:
            chosen = known
        return sorted(chosen - excluded)
