"""`fleet`: the command line of the ESP32 attendance fleet. The root app: the global options, and the
command groups of `controller/cli/` composed by audience (daemons, the fleet table, sessions,
attendance, the timetable, the inventory through the controller, accounts in the broker's files)."""

from __future__ import annotations

from typing import Annotated

import typer

from controller.adapters.mqtt import DEFAULT_BROKER_URL
from controller.cli import (
    accounts,
    attendance,
    daemons,
    firmware,
    inventory,
    monitor,
    rollouts,
    rosters,
    sessions,
    timetable,
)
from controller.cli.common import BrokerOpt, Globals, RootOpt, UserOpt, err, running_stack, setup_logging
from controller.contract.topics import Topics
from controller.daemon.settings import DEFAULT_ROOT

app = typer.Typer(help="Run and drive a fleet of ESP32 classroom attendance devices over MQTT.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
device_app = typer.Typer(help="The device inventory: rooms, names, retirement, approval, credentials.",
                         no_args_is_help=True)
device_app.add_typer(inventory.app)  # through the running controller
device_app.add_typer(accounts.device_app)  # the broker's password file

for command in (daemons.controller, daemons.broker, daemons.up, monitor.devices, monitor.watch, monitor.stats):
    app.command()(command)
app.command("secure-profile")(accounts.secure_profile)
app.command()(daemons.simulate)
app.add_typer(sessions.app, name="session")
app.add_typer(attendance.app, name="attendance")
app.add_typer(timetable.app, name="timetable")
app.add_typer(device_app, name="device")
app.add_typer(accounts.user_app, name="user")
app.add_typer(rosters.roster_app, name="roster")
app.add_typer(rosters.course_app, name="course")
app.add_typer(firmware.app, name="firmware")
app.add_typer(rollouts.app, name="rollout")


@app.callback()
def main_callback(
    ctx: typer.Context,
    broker: BrokerOpt = None,
    root: RootOpt = None,
    user: UserOpt = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv: debug).")] = 0,
) -> None:
    """Without --broker (or FLEET_BROKER_URL), commands find a running `fleet up` by its state file."""
    if ctx.invoked_subcommand not in ("up", "watch"):
        setup_logging(verbose)
    found = running_stack() if broker is None and ctx.invoked_subcommand != "up" else None
    chosen_root = root or (found.root if found else DEFAULT_ROOT)
    try:
        Topics(chosen_root)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    ctx.obj = Globals(broker or (found.broker_url if found else DEFAULT_BROKER_URL), broker is not None,
                      chosen_root, verbose, user)


def main() -> None:
    app(prog_name="fleet")


if __name__ == "__main__":
    main()
