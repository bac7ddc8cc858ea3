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
from datetime import UTC, datetime
from enum import StrEnum
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
    user: str | None = None  # the requests topic's user level without credentials (`--user`)


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


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for journald, Loki and the like: time (UTC, ISO 8601), level,
    logger, message, and `exception` (its traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(verbose: int, console: Console | None = None, log_format: LogFormat = LogFormat.TEXT) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose == 1 else logging.WARNING
    handler: logging.Handler
    if log_format is LogFormat.JSON:
        handler = logging.StreamHandler((console or err).file)
        handler.setFormatter(JsonFormatter())
    else:
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
UserOpt = Annotated[str | None, typer.Option(
    "--user", envvar="FLEET_USER", show_default="the OS user's name",
    help="Who the requests are from when the broker URL carries no credentials (the open profile); with "
         "credentials the broker username is used, as the secure profile's ACL requires.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
WideOpt = Annotated[bool, typer.Option("--wide", help="Every column, whatever the terminal's width (rows may run "
                                                  "past it). Without it, less important columns drop to fit.")]
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Broker configuration (Mosquitto syntax).")]
DeviceArg = Annotated[str, typer.Argument(help="Device id, e.g. esp32-a1b2c3d4e5f6.")]
LogFormatOpt = Annotated[LogFormat, typer.Option("--log-format", envvar="FLEET_LOG_FORMAT", case_sensitive=False,
                                                 help="text for a terminal; json: one object per line (time, "
                                                      "level, logger, message, exception) for journald or Loki.")]
MetricsPortOpt = Annotated[int | None, typer.Option(
    "--metrics-port", min=0, max=65535, envvar="FLEET_METRICS_PORT",
    help="Serve /metrics (Prometheus), /healthz and /readyz on this port (0: a free one, logged); unset: none.")]
ImagesOpt = Annotated[Path | None, typer.Option(
    "--images", envvar="FLEET_IMAGES_DIR", file_okay=False, show_default="~/.local/share/fleet/images",
    help="The firmware images directory (<sha256>.bin files): `fleet firmware add` writes there, the controller "
         "serves it as /firmware/ on --metrics-port.")]
MetricsHostOpt = Annotated[str, typer.Option("--metrics-host", envvar="FLEET_METRICS_HOST",
                                             help="The address the metrics port listens on.")]


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

    with FleetClient(g.broker, g.root, user=g.user) as connected:
        yield connected


def print_json(obj: object) -> None:
    out.print_json(json.dumps(obj))


def wide_output(wide: bool) -> bool:
    """Whether tables keep every column: asked for, or the width is unknown (output piped, no COLUMNS).
    Piped output then gets whole rows, as kubectl prints them, rather than columns dropped for 80."""
    return wide or not (out.is_terminal or os.environ.get("COLUMNS", "").isdigit())


def show(renderable: RenderableType) -> None:
    out.print(renderable, crop=False)  # a --wide row runs past the width rather than being cut
