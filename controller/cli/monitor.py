"""`fleet devices`, `fleet watch`, `fleet stats`: the fleet as the running controller sees it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live

from controller.cli import ui
from controller.cli.common import (
    Globals,
    JsonOpt,
    WideOpt,
    client,
    friendly,
    globals_of,
    out,
    print_json,
    setup_logging,
    show,
    wide_output,
)
from controller.contract.messages import JsonObject
from controller.contract.requests import DevicesListParams
from controller.contract.results import DevicesList
from controller.errors import FleetError

if TYPE_CHECKING:
    from controller.adapters.client import FleetClient

SessionOpt = Annotated[int | None, typer.Option(help="Only the device of this session.")]


def _devices_json(snapshot: DevicesList) -> JsonObject:
    """`fleet devices --json`: the totals and a few columns of each row (a stable, smaller shape)."""
    return {"total": snapshot.total, "online": snapshot.online, "offline": snapshot.offline,
            "available": snapshot.available,
            "devices": [{"id": d.id, "online": d.online, "last_seen": d.last_seen, "name": d.name, "ssid": d.ssid,
                         "location": d.location, "session_id": d.session_id, "config_version": d.config_version,
                         "applied_version": d.applied_version} for d in snapshot.devices]}


@friendly
def devices(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    offline_first: Annotated[bool, typer.Option("--offline-first", help="Offline devices at the top.")] = False,
    session: SessionOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows (totals still count all).")]
    = None,
    wide: WideOpt = False,
) -> None:
    """The fleet: totals (total, online, offline, available) and one row per device."""
    with client(globals_of(ctx)) as fleet:
        snapshot = fleet.devices(DevicesListParams(session, offline_first, limit))
        checkins = {} if as_json else _checkins(fleet, snapshot)
    if as_json:
        print_json(_devices_json(snapshot))
    else:
        show(ui.fleet_table(snapshot, time.time(), checkins=checkins, wide=wide_output(wide)))


def _checkins(fleet: FleetClient, snapshot: DevicesList) -> dict[int, int]:
    """Stored check-ins per active session, when a device in the snapshot serves one."""
    if not any(d.session_id is not None for d in snapshot.devices):
        return {}
    return {s.session_id: s.checkins for s in fleet.sessions(active=True, timeout=5).sessions}


def watch_loop(g: Globals, *, session: int | None, offline_first: bool, limit: int | None,
               interval: float, wide: bool = False) -> None:
    """Redraw the fleet table every `interval` seconds until interrupted; errors show in its place."""
    with client(g) as fleet, Live(console=out, auto_refresh=False, screen=False, redirect_stderr=True) as live:
        while True:
            rows = limit if limit is not None else max(5, out.size.height - 10)
            try:
                snapshot = fleet.devices(DevicesListParams(session, offline_first, rows), timeout=5)
                live.update(ui.fleet_table(snapshot, time.time(), title=f"Fleet {g.root!r} on {g.broker}",
                                           checkins=_checkins(fleet, snapshot), wide=wide), refresh=True)
            except FleetError as exc:
                live.update(f"[red]{exc}[/]", refresh=True)
            time.sleep(interval)


@friendly
def watch(
    ctx: typer.Context,
    session: SessionOpt = None,
    offline_first: Annotated[bool, typer.Option("--offline-first/--by-id", help="Sort offline devices first.")]
    = True,
    limit: Annotated[int | None, typer.Option(min=1, help="Rows to show (default: what fits the terminal).")]
    = None,
    interval: Annotated[float, typer.Option(min=0.2, help="Refresh period in seconds.")] = 1.0,
    wide: WideOpt = False,
) -> None:
    """The fleet table, live. Ctrl-C to leave."""
    g = globals_of(ctx)
    setup_logging(g.verbose)
    try:
        watch_loop(g, session=session, offline_first=offline_first, limit=limit, interval=interval, wide=wide)
    except KeyboardInterrupt:
        pass


@friendly
def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What the controller received per channel and rejected per reason."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.stats()
    if as_json:
        print_json(result.to_obj())
        return
    for section, counts in (("received", result.received), ("rejected", result.rejected),
                            ("checkins", result.checkins), ("unsent", result.unsent), ("broker", result.broker)):
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        out.print(f"[bold]{section}[/]: {line}", markup=True, highlight=False)
    out.print(f"[bold]connections[/]: {result.connections}", highlight=False)
