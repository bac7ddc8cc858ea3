"""`fleet device list|set|retire|restore|approve|forget`: the operator's device inventory, kept by the
running controller (the `device` group's commands that edit broker files are in `accounts`)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from controller.cli import ui
from controller.cli.common import (
    DeviceArg,
    JsonOpt,
    WideOpt,
    client,
    friendly,
    globals_of,
    out,
    print_json,
    show,
    wide_output,
)
from controller.contract.requests import DeviceSetParams
from controller.contract.results import DeviceForgotten, DeviceUpdated
from controller.errors import FleetError

app = typer.Typer()
"""Merged into the `device` group (cli.py), beside `accounts.device_app`."""


def _print(result: DeviceUpdated | DeviceForgotten, as_json: bool) -> None:
    if as_json:
        print_json(result.to_obj())
    elif isinstance(result, DeviceForgotten):
        out.print(f"{result.device} forgotten; its retained topics are cleared")
    else:
        state = "retired" if result.retired else "active" if result.approved else "pending approval"
        out.print(f"{result.device}: name {result.name or '-'}, room {result.room or '-'}, {state}")


@app.command("list")
@friendly
def device_list(ctx: typer.Context, as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Every known device, including never-seen, retired and unapproved ones, with health."""
    with client(globals_of(ctx)) as fleet:
        result = fleet.inventory()
    if as_json:
        print_json(result.to_obj())
    else:
        show(ui.inventory_table(result.devices, time.time(), wide=wide_output(wide)))


@app.command("set")
@friendly
def device_set(
    ctx: typer.Context, device_id: DeviceArg,
    name: Annotated[str | None, typer.Option(help="A name for operators (empty clears).")] = None,
    room: Annotated[str | None, typer.Option(help="Home room, e.g. LT2 (empty clears).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Name a device or place it in a room; an unknown id is registered before it is first seen."""
    if name is None and room is None:
        raise FleetError("nothing to set: give --name and/or --room")
    with client(globals_of(ctx)) as fleet:
        _print(fleet.set_device(DeviceSetParams(device_id, name, room)), as_json)


@app.command("retire")
@friendly
def device_retire(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Never select this device again; it leaves the totals (restore brings it back)."""
    with client(globals_of(ctx)) as fleet:
        _print(fleet.retire(device_id), as_json)


@app.command("restore")
@friendly
def device_restore(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Undo retire."""
    with client(globals_of(ctx)) as fleet:
        _print(fleet.restore(device_id), as_json)


@app.command("approve")
@friendly
def device_approve(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Admit a newly seen device (controllers started with --require-approval)."""
    with client(globals_of(ctx)) as fleet:
        _print(fleet.approve(device_id), as_json)


@app.command("forget")
@friendly
def device_forget(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Remove a device from the inventory and clear its retained topics on the broker."""
    with client(globals_of(ctx)) as fleet:
        _print(fleet.forget(device_id), as_json)
