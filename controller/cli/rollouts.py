"""`fleet rollout start|status|list|pause|resume|abort`: firmware rollouts run by the controller, and
their progress drawn as a bar per wave (a function of one `rollout.status` snapshot)."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from controller.cli.common import JsonOpt, client, friendly, globals_of, out, print_json, show
from controller.contract.rollouts import MAX_RATE, RolloutStartParams, RolloutStatus, RolloutSummary, WaveCounts
from controller.errors import FleetError

if TYPE_CHECKING:
    from controller.adapters.client import FleetClient

app = typer.Typer(help="Firmware rollouts: a canary wave, then batches at a rate; halted by failures; never "
                       "during a session or within an hour of a lecture.", no_args_is_help=True)

TERMINAL = ("confirmed", "failed", "rolled_back")
ENDED = ("aborted", "completed")
IN_FLIGHT = ("commanded", "downloading", "verifying", "rebooting")
_ORDER = ("confirmed", "rebooting", "verifying", "downloading", "commanded", "pending", "failed", "rolled_back")
_COLOURS = {"running": "green", "paused": "yellow", "halted": "red", "aborted": "red", "completed": "green"}
_RATE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|min|m|h|hour))?")
_PER_MIN = {None: 1.0, "min": 1.0, "m": 1.0, "s": 60.0, "sec": 60.0, "h": 1 / 60, "hour": 1 / 60}


# --- flag values ------------------------------------------------------------------------------------


def fraction(text: str, flag: str) -> float:
    """`5%` or `0.05` → 0.05; FleetError for anything else or outside 0-100%."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise FleetError(f"{flag} {text!r}: give a percentage like 5% (or a fraction like 0.05)") from None
    if not raw.endswith("%") and value > 1:
        raise FleetError(f"{flag} {text!r}: a bare number is a fraction of 0-1; write {raw}% for a percentage")
    if not 0 <= value <= 1 or math.isnan(value):
        raise FleetError(f"{flag} {text!r}: must be 0%-100%")
    return value


def rate(text: str) -> float:
    """`20/min`, `1/s`, `120/h` or `20` (a minute) → commands a minute; FleetError otherwise."""
    match = _RATE_RE.fullmatch(text.strip().lower())
    if match is None:
        raise FleetError(f"--rate {text!r}: give commands per time, like 20/min, 1/s or 120/h")
    per_min = float(match.group(1)) * _PER_MIN[match.group(2)]
    if not 0 < per_min <= MAX_RATE:
        raise FleetError(f"--rate {text!r}: must be more than 0 and at most {MAX_RATE:g}/min")
    return per_min


def devices_list(text: str) -> tuple[str, ...]:
    ids = tuple(d.strip() for d in text.split(",") if d.strip())
    if not ids:
        raise FleetError("--devices: give device ids separated by commas")
    return ids


# --- the view -----------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100 * value:g}%"


def headline(r: RolloutSummary) -> Text:
    colour = _COLOURS.get(r.state, "white")
    text = Text.assemble((f"rollout {r.id}", "bold"), f"  {r.version} → {r.target}  ", (r.state, f"bold {colour}"))
    text.append(f"  canary {_pct(r.canary)}, {r.rate_per_min:g}/min, halts over {_pct(r.max_failures)} failed after "
                f"{r.min_sample}{', downgrade allowed' if r.allow_downgrade else ''}; by {r.created_by or '?'} at "
                f"{datetime.fromtimestamp(r.created_at, UTC).strftime('%Y-%m-%d %H:%M UTC')}", style="dim")
    return text


def _counts(counts: dict[str, int], waiting: int) -> str:
    parts = [f"{counts[s]} {s.replace('_', ' ')}" for s in _ORDER if counts.get(s)]
    if waiting:
        parts.append(f"{waiting} waiting")
    return " · ".join(parts)


def _untouched(wave: WaveCounts) -> bool:
    return wave.wave > 0 and set(wave.counts) == {"pending"} and not wave.waiting


def _rows(waves: tuple[WaveCounts, ...]) -> list[tuple[str, WaveCounts]]:
    """A row per wave, but a run of 3 or more untouched waves (all pending, none held back) as one:
    a big fleet at a slow rate has hundreds of waves."""
    rows: list[tuple[str, WaveCounts]] = []
    i = 0
    while i < len(waves):
        j = i
        while j < len(waves) and _untouched(waves[j]):
            j += 1
        if j - i >= 3:
            pending = sum(w.total for w in waves[i:j])
            rows.append((f"waves {waves[i].wave}-{waves[j - 1].wave}", WaveCounts(waves[i].wave, {"pending": pending})))
            i = j
            continue
        wave = waves[i]
        rows.append(("canary" if wave.wave == 0 else f"wave {wave.wave}", wave))
        i += 1
    return rows


def status_view(status: RolloutStatus, width: int = 30) -> RenderableType:
    """A rollout as the operator watches it: its line, a bar per wave (0: the canary) of the devices
    done, the halt reason, the devices that failed and those that wait, and why."""
    r = status.rollout
    grid = Table.grid(padding=(0, 2))
    for label, wave in _rows(status.waves):
        counts = dict(wave.counts)
        done = sum(counts.get(s, 0) for s in TERMINAL)
        failed = counts.get("failed", 0) + counts.get("rolled_back", 0)
        bar = ProgressBar(total=max(wave.total, 1), completed=done, width=width,
                          complete_style="red" if failed else "green", finished_style="red" if failed else "green")
        grid.add_row(label, bar, f"{done}/{wave.total}", _counts(counts, wave.waiting))
    parts: list[RenderableType] = [headline(r), grid]
    if r.reason:
        parts.append(Text(f"{r.state}: {r.reason}", style="bold red" if r.state == "halted" else ""))
    broken = [f"{n.device} {n.state.replace('_', ' ')}" + (f" ({n.reason})" if n.reason else "")
              for n in status.notes if n.state != "waiting"]
    waiting = [f"{n.device} ({n.reason})" for n in status.notes if n.state == "waiting"]
    if broken:
        parts.append(Text("failed: " + ", ".join(broken), style="red"))
    if waiting:
        parts.append(Text("waiting: " + ", ".join(waiting), style="yellow"))
    return Group(*parts)


def list_table(rollouts: tuple[RolloutSummary, ...]) -> Table:
    table = Table("id", "version", "target", "state", "devices", "done", "failed", "started", "by",
                  title="rollouts")
    for r in rollouts:
        done = sum(r.counts.get(s, 0) for s in TERMINAL)
        failed = r.counts.get("failed", 0) + r.counts.get("rolled_back", 0)
        table.add_row(str(r.id), r.version, r.target, r.state, str(r.devices), str(done), str(failed),
                      datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%d %H:%M"), r.created_by)
    return table


# --- the commands -------------------------------------------------------------------------------------


@app.command("start")
@friendly
def start(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="A version kept by `fleet firmware add`, e.g. 1.3.0.")],
    room: Annotated[str | None, typer.Option(help="Every device of this room.")] = None,
    devices: Annotated[str | None, typer.Option(help="These devices, separated by commas.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every device of the fleet.")] = False,
    canary: Annotated[str, typer.Option(help="The first wave, as a share of the devices (at least one).")] = "5%",
    rate_text: Annotated[str, typer.Option("--rate", help="Commands sent at most: 20/min, 1/s, 120/h.")] = "20/min",
    max_failures: Annotated[str, typer.Option(help="Halt when more than this share of finished updates "
                                                   "failed ...")] = "10%",
    min_sample: Annotated[int, typer.Option(min=1, help="... once at least this many have finished.")] = 5,
    allow_downgrade: Annotated[bool, typer.Option(help="Let devices running a newer version go down to "
                                                       "this one.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a rollout: the canary wave first; the rest, at the rate, once every canary has finished
    within the failure threshold. Devices serving a session, or in a room with a lecture within the
    hour, wait until they are free."""
    if (room is not None) + (devices is not None) + everything != 1:
        raise FleetError("say which devices: exactly one of --room R, --devices a,b or --all")
    params = RolloutStartParams(version, room, devices_list(devices) if devices is not None else None, everything,
                                fraction(canary, "--canary"), rate(rate_text), fraction(max_failures, "--max-failures"),
                                min_sample, allow_downgrade)
    with client(globals_of(ctx)) as fleet:
        status = fleet.start_rollout(params)
    if as_json:
        print_json(status.to_obj())
        return
    show(status_view(status))
    out.print(f"follow it with: fleet rollout status {status.rollout.id} --watch", style="dim", highlight=False)


@app.command("status")
@friendly
def status(
    ctx: typer.Context,
    rollout_id: Annotated[int | None, typer.Argument(help="The rollout (default: the latest).", min=1)] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Redraw until it is completed, aborted, or halted with "
                                                      "nothing in flight (Ctrl-C to leave).")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Refresh period in seconds, with --watch.")] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """A rollout's waves, a progress bar each, why it halted, and which devices failed or wait."""
    with client(globals_of(ctx)) as fleet:
        snapshot = fleet.rollout(rollout_id)
        if as_json:
            print_json(snapshot.to_obj())
            return
        if not watch:
            show(status_view(snapshot))
            return
        try:
            _watch(fleet, snapshot, interval)
        except KeyboardInterrupt:  # leaving the watch is not an error
            pass


def finished(r: RolloutSummary) -> bool:
    """Nothing more will change by itself: completed, aborted, or halted with no device still updating."""
    return r.state in ENDED or (r.state == "halted" and not any(r.counts.get(s) for s in IN_FLIGHT))


def _watch(fleet: FleetClient, snapshot: RolloutStatus, interval: float) -> None:
    """Redraw the rollout every `interval` seconds until it is finished; errors show in its place."""
    with Live(status_view(snapshot), console=out, auto_refresh=False) as live:
        while not finished(snapshot.rollout):
            time.sleep(interval)
            try:
                snapshot = fleet.rollout(snapshot.rollout.id, timeout=5)
                live.update(status_view(snapshot), refresh=True)
            except FleetError as exc:
                live.update(Text(str(exc), style="red"), refresh=True)


@app.command("list")
@friendly
def rollout_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every rollout, the newest first."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.rollouts()
    if as_json:
        print_json(result.to_obj())
        return
    show(list_table(result.rollouts))


def _change(ctx: typer.Context, verb: str, rollout_id: int, as_json: bool) -> None:
    with client(globals_of(ctx)) as fleet:
        changed = fleet.change_rollout(verb, rollout_id)
    if as_json:
        print_json(changed.to_obj())
        return
    out.print(headline(changed.rollout), highlight=False, soft_wrap=True)


IdArg = Annotated[int, typer.Argument(help="The rollout's id (fleet rollout list).", min=1)]


@app.command("pause")
@friendly
def pause(ctx: typer.Context, rollout_id: IdArg, as_json: JsonOpt = False) -> None:
    """No new commands; devices already updating finish."""
    _change(ctx, "pause", rollout_id, as_json)


@app.command("resume")
@friendly
def resume(ctx: typer.Context, rollout_id: IdArg, as_json: JsonOpt = False) -> None:
    """Carry on with a paused rollout."""
    _change(ctx, "resume", rollout_id, as_json)


@app.command("abort")
@friendly
def abort(ctx: typer.Context, rollout_id: IdArg, as_json: JsonOpt = False) -> None:
    """Stop for good: no more commands, and the command of every device not yet done is withdrawn."""
    _change(ctx, "abort", rollout_id, as_json)
