"""What every command group of `fleet` shares: the consoles, the global options and where they are
found (a running `fleet up`'s state file), the shared option types, one-line errors, and the client
to the running controller."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.highlighter import NullHighlighter
from rich.logging import RichHandler

from controller.adapters.mqtt import DEFAULT_BROKER_URL
from controller.cli import runstate
from controller.daemon.settings import DEFAULT_ROOT, ENV_BROKER, ENV_DB, ENV_ROOT
from controller.errors import ApiError, FleetError

if TYPE_CHECKING:
    from controller.adapters.client import FleetClient

out = Console()
err = Console(stderr=True)
log = logging.getLogger("fleet")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Globals:
    broker: str
    broker_given: bool
    root: str
    verbose: int


def globals_of(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    if not isinstance(obj, Globals):
        raise FleetError("internal: global options missing")
    return obj


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error we raise into one line on stderr and exit 1: no tracebacks for users."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            err.print(f"[red]error:[/] {exc.message} ({exc.code})", highlight=False, soft_wrap=True)
        except FleetError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            err.print("interrupted")
        raise typer.Exit(1)

    return wrapper


def setup_logging(verbose: int, console: Console | None = None) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    # No highlighter: log lines carry client-supplied text, and rich's regex highlighter takes
    # tens of seconds on a 64 KiB topic (a stall an attacker could order).
    handler = RichHandler(console=console or err, show_path=False, rich_tracebacks=False,
                          highlighter=NullHighlighter())
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", handlers=[handler], force=True)


BrokerOpt = Annotated[str | None, typer.Option("--broker", envvar=ENV_BROKER, show_default=DEFAULT_BROKER_URL,
                                               help="Broker URL, mqtt://[user:pass@]host:port or mqtts://...; unset: "
                                                    "that of a running `fleet up` (its state file), else the default.")]
RootOpt = Annotated[str | None, typer.Option("--root", envvar=ENV_ROOT, show_default=DEFAULT_ROOT,
                                             help="Topic root of the fleet.")]
DbOpt = Annotated[str | None, typer.Option("--db", envvar=ENV_DB, show_default="sqlite:///~/.local/share/fleet/fleet.db",
                                           help="Database URL (sqlite:///file.db or postgresql+psycopg://...).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
WideOpt = Annotated[bool, typer.Option("--wide", help="Every column, whatever the terminal's width (rows may run "
                                                  "past it). Without it, less important columns drop to fit.")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Broker configuration (Mosquitto syntax).")]
DeviceArg = Annotated[str, typer.Argument(help="Device id, e.g. esp32-a1b2c3d4e5f6.")]


def state_file() -> Path | None:
    try:
        return runstate.state_path(os.environ, Path.home())
    except RuntimeError:  # no home directory to be found
        return None


def running_stack() -> runstate.RunState | None:
    path = state_file()
    found = None if path is None else runstate.read(path)
    if found is not None:
        log.info("using the stack of fleet up (pid %d) on %s, topic root %r (from %s)", found.pid, found.broker_url,
                 found.root, path)
    return found


@contextmanager
def client(g: Globals) -> Iterator[FleetClient]:
    """A connection to the running controller (through the broker), for one command."""
    from controller.adapters.client import FleetClient

    with FleetClient(g.broker, g.root) as connected:
        yield connected


def print_json(obj: object) -> None:
    out.print_json(json.dumps(obj))


def wide_output(wide: bool) -> bool:
    """Whether tables keep every column: asked for, or the width is unknown (output piped, no COLUMNS).
    Piped output then gets whole rows, as kubectl prints them, rather than columns dropped for 80."""
    return wide or not (out.is_terminal or os.environ.get("COLUMNS", "").isdigit())


def show(renderable: RenderableType) -> None:
    out.print(renderable, crop=False)  # a --wide row runs past the width rather than being cut
