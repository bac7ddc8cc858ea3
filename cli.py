"""`fleet`: the command line of the ESP32 attendance fleet. Thin: parse, call the package, render."""

from __future__ import annotations

import csv
import functools
import gc
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.highlighter import NullHighlighter
from rich.live import Live
from rich.logging import RichHandler

from controller.adapters.mqtt import DEFAULT_BROKER_URL
from controller.cli import runstate, ui
from controller.contract.topics import Topics
from controller.daemon.settings import DEFAULT_ROOT, ENV_BROKER, ENV_DB, ENV_ROOT, ControllerSettings, default_db_url
from controller.errors import ApiError, FleetError

if TYPE_CHECKING:
    from controller.sim.simulator import Simulator

app = typer.Typer(help="Run and drive a fleet of ESP32 classroom attendance devices over MQTT.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
session_app = typer.Typer(help="Start, end and list attendance sessions.", no_args_is_help=True)
attendance_app = typer.Typer(help="Check-ins of a session.", no_args_is_help=True)
device_app = typer.Typer(help="The device inventory: rooms, names, retirement, approval, credentials.",
                         no_args_is_help=True)
app.add_typer(session_app, name="session")
app.add_typer(attendance_app, name="attendance")
app.add_typer(device_app, name="device")
user_app = typer.Typer(help="Broker accounts of people and controllers: lecturer, operator, controller.",
                       no_args_is_help=True)
app.add_typer(user_app, name="user")

out = Console()
err = Console(stderr=True)
log = logging.getLogger("fleet")
P = ParamSpec("P")
R = TypeVar("R")
UP_CHECKIN_RATE = 180.0
"""`fleet up`'s simulated check-ins per device-minute in a session: 3 a second, students drawn from a
class of 120 (each stored once), so a started session's count climbs visibly and levels off near 120
within a few minutes. `fleet simulate` keeps 0 unless asked."""


@dataclass
class Globals:
    broker: str
    broker_given: bool
    root: str
    verbose: int


def _globals(ctx: typer.Context) -> Globals:
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


def _setup_logging(verbose: int, console: Console | None = None) -> None:
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


@app.callback()
def main_callback(
    ctx: typer.Context,
    broker: BrokerOpt = None,
    root: RootOpt = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv: debug).")] = 0,
) -> None:
    """Without --broker (or FLEET_BROKER_URL), commands find a running `fleet up` by its state file."""
    if ctx.invoked_subcommand not in ("up", "watch"):
        _setup_logging(verbose)
    found = _running_stack() if broker is None and ctx.invoked_subcommand != "up" else None
    chosen_root = root or (found.root if found else DEFAULT_ROOT)
    try:
        Topics(chosen_root)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    ctx.obj = Globals(broker or (found.broker_url if found else DEFAULT_BROKER_URL), broker is not None,
                      chosen_root, verbose)


def _state_file() -> Path | None:
    try:
        return runstate.state_path(os.environ, Path.home())
    except RuntimeError:  # no home directory to be found
        return None


def _running_stack() -> runstate.RunState | None:
    path = _state_file()
    found = None if path is None else runstate.read(path)
    if found is not None:
        log.info("using the stack of fleet up (pid %d) on %s, topic root %r (from %s)", found.pid, found.broker_url,
                 found.root, path)
    return found


# --- daemons ------------------------------------------------------------------------------------


def _wait_for_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _controller_settings(g: Globals, db: str | None, ttl: float) -> ControllerSettings:
    return ControllerSettings(broker_url=g.broker, root=g.root, db_url=db or default_db_url(), heartbeat_ttl_s=ttl)


TtlOpt = Annotated[float, typer.Option("--heartbeat-ttl", min=1, help="Seconds without a heartbeat before a device "
                                                                        "counts as offline.")]


@app.command()
@friendly
def controller(
    ctx: typer.Context, db: DbOpt = None, heartbeat_ttl: TtlOpt = 90.0,
    shared_group: Annotated[str | None, typer.Option(
        envvar="FLEET_SHARED_GROUP", help="Run beside other controllers: split device traffic and requests "
        "through MQTT shared subscriptions ($share/GROUP/...; Mosquitto, EMQX, HiveMQ) over one PostgreSQL.")] = None,
    require_approval: Annotated[bool, typer.Option(
        "--require-approval", envvar="FLEET_REQUIRE_APPROVAL",
        help="New devices wait for `fleet device approve` before they are used.")] = False,
    max_device_rate: Annotated[float, typer.Option(
        min=0.1, envvar="FLEET_MAX_DEVICE_RATE", help="Messages a second one device may send (averaged over 10 s); "
        "the excess is dropped and the device flagged flooding.")] = 10.0,
    request_rate: Annotated[float, typer.Option(
        min=0.1, envvar="FLEET_REQUEST_RATE", help="Requests a second one client may make; more are refused "
        "rate_limited.")] = 20.0,
    request_burst: Annotated[float, typer.Option(
        min=1, envvar="FLEET_REQUEST_BURST", help="Requests one client may make at once before --request-rate "
        "applies.")] = 100.0,
    max_packet: Annotated[int, typer.Option(
        min=4096, envvar="FLEET_MAX_PACKET", help="The largest message the controller sends, in bytes; keep it "
        "within the broker's max_packet_size.")] = 16 * 1024 * 1024,
) -> None:
    """Run the controller daemon in the foreground (SIGTERM or Ctrl-C stops it cleanly)."""
    from dataclasses import replace

    from controller.daemon.controller import Controller
    from controller.daemon.settings import ensure_sqlite_dir

    settings = _controller_settings(_globals(ctx), db, heartbeat_ttl)
    settings = replace(settings, require_approval=require_approval, max_device_rate=max_device_rate,
                       request_rate=request_rate, request_burst=request_burst, max_packet_bytes=max_packet)
    if shared_group:
        settings = replace(settings, shared_group=shared_group, flush_s=2.0, resync_s=5.0)
    ensure_sqlite_dir(settings.db_url)
    if _globals(ctx).verbose == 0:
        logging.getLogger("controller").setLevel(logging.INFO)
    Controller(settings).run(_wait_for_signal())


ConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="Broker configuration (Mosquitto syntax).")]


@app.command()
@friendly
def broker(config: ConfigOpt = Path("broker.conf"),
           port: Annotated[int | None, typer.Option(help="Override the first listener's port.")] = None) -> None:
    """Run the embedded amqtt broker, configured by a Mosquitto-syntax broker.conf."""
    from controller.broker.server import run_broker

    logging.getLogger("controller").setLevel(logging.INFO)
    run_broker(config, port)


@app.command()
@friendly
def up(
    ctx: typer.Context,
    simulate: Annotated[int, typer.Option(min=0, help="Also run this many simulated devices.")] = 0,
    config: ConfigOpt = Path("broker.conf"),
    db: DbOpt = None,
    heartbeat_s: Annotated[float, typer.Option(min=1, help="Simulated devices' heartbeat period.")] = 30.0,
    checkin_rate: Annotated[float, typer.Option(
        min=0, help="Simulated check-ins per device-minute in a session (students from a class of 120).")]
    = UP_CHECKIN_RATE,
    wide: WideOpt = False,
) -> None:
    """Broker + controller (+ simulated devices) with the live fleet table, in one command. Ctrl-C stops all.

    Other `fleet` commands of this user find the stack without --broker: `fleet up` records its broker
    and topic root in $XDG_RUNTIME_DIR/fleet/up.json (else ~/.local/state/fleet/up.json) while it runs."""
    from controller.broker.conf import BrokerConf, Listener, load, with_port
    from controller.broker.server import EmbeddedBroker, port_is_free
    from controller.daemon.controller import Controller
    from controller.daemon.settings import ensure_sqlite_dir
    from controller.sim.simulator import SimConfig, Simulator

    g = _globals(ctx)
    _setup_logging(g.verbose)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as Ctrl-C does: stack down, state file removed
    stack: list[Callable[[], None]] = []
    try:
        if not g.broker_given:
            conf = load(config) if config.exists() else BrokerConf((Listener(1883, "127.0.0.1"),), True, None)
            first = conf.listeners[0]
            if first.port and not port_is_free(first.host, first.port):
                err.print(f"[yellow]port {first.port} is taken (another broker, e.g. Mosquitto, is running); the "
                          f"embedded broker takes a free port instead, where other fleet commands find it without "
                          f"--broker. Use --broker to join that broker.[/]")
                conf = with_port(conf, 0)
            embedded = EmbeddedBroker(conf)
            embedded.start()
            stack.append(embedded.stop)
            g.broker = embedded.url
            err.print(f"embedded broker on [bold]{embedded.url}[/]")
        settings = _controller_settings(g, db, 90.0)
        ensure_sqlite_dir(settings.db_url)
        ctl = Controller(settings)
        ctl.start()
        stack.append(ctl.stop)
        err.print(f"controller up, database {settings.db_url}")
        if simulate:
            sim = Simulator(SimConfig(broker_url=g.broker, root=g.root, count=simulate, heartbeat_s=heartbeat_s,
                                      checkin_rate=checkin_rate))
            sim.start()
            # stopped after the controller, which would otherwise warn that each serving device went offline
            stack.insert(stack.index(ctl.stop), sim.stop)
        flags = "" if _record_stack(g, stack) else f"--broker {g.broker} " + (
            f"--root {g.root} " if g.root != DEFAULT_ROOT else "")
        err.print(f"in another terminal: [bold]fleet {flags}session start CS101 --title 'Intro' "
                  f"--session 2024/2025 --semester '1st Semester'[/]", soft_wrap=True)
        _watch_loop(g, session=None, offline_first=False, limit=None, interval=1.0, wide=wide)
    except KeyboardInterrupt:
        pass
    finally:
        for stop in reversed(stack):
            try:
                stop()
            except Exception as exc:  # a failing stop must not keep the rest running
                err.print(f"[yellow]while stopping: {exc}[/]")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _record_stack(g: Globals, stack: list[Callable[[], None]]) -> bool:
    """Write the state file other commands find this stack by; removed first when the stack stops."""
    path, pid = _state_file(), os.getpid()
    if path is None:
        return False
    try:
        runstate.write(path, runstate.RunState(g.broker, g.root, pid))
    except OSError as exc:
        err.print(f"[yellow]cannot write {path} ({exc.strerror or exc}): other terminals need --broker[/]",
                  soft_wrap=True)
        return False
    stack.append(lambda: runstate.remove(path, pid))
    return True


# --- the fleet table ----------------------------------------------------------------------------


@contextmanager
def _client(g: Globals) -> Iterator[Any]:
    from controller.adapters.client import FleetClient

    with FleetClient(g.broker, g.root) as client:
        yield client


def _print_json(obj: object) -> None:
    out.print_json(json.dumps(obj))


@app.command()
@friendly
def devices(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    offline_first: Annotated[bool, typer.Option("--offline-first", help="Offline devices at the top.")] = False,
    session: Annotated[int | None, typer.Option(help="Only the device of this session.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows (totals still count all).")]
    = None,
    wide: WideOpt = False,
) -> None:
    """The fleet: totals (total, online, offline, available) and one row per device."""
    with _client(_globals(ctx)) as client:
        params: dict[str, Any] = {"offline_first": offline_first}
        if session is not None:
            params["session_id"] = session
        if limit is not None:
            params["limit"] = limit
        snapshot = client.call("devices.list", params)
        checkins = {} if as_json else _checkins(client, snapshot)
    if as_json:
        keys = ("id", "online", "last_seen", "name", "ssid", "location", "session_id", "config_version",
                "applied_version")
        _print_json({k: snapshot[k] for k in ("total", "online", "offline", "available")}
                    | {"devices": [{k: d.get(k) for k in keys} for d in snapshot["devices"]]})
    else:
        _show(ui.fleet_table(snapshot, time.time(), checkins=checkins, wide=_wide(wide)))


def _wide(wide: bool) -> bool:
    """Whether tables keep every column: asked for, or the width is unknown (output piped, no COLUMNS).
    Piped output then gets whole rows, as kubectl prints them, rather than columns dropped for 80."""
    return wide or not (out.is_terminal or os.environ.get("COLUMNS", "").isdigit())


def _show(renderable: RenderableType) -> None:
    out.print(renderable, crop=False)  # a --wide row runs past the width rather than being cut


def _checkins(client: Any, snapshot: dict[str, Any]) -> dict[int, int]:
    """Stored check-ins per active session, when a device in the snapshot serves one."""
    if not any(d.get("session_id") is not None for d in snapshot.get("devices", [])):
        return {}
    sessions = client.call("session.list", {"active": True}, timeout=5)["sessions"]
    return {int(s["session_id"]): int(s.get("checkins", 0)) for s in sessions}


def _watch_loop(g: Globals, *, session: int | None, offline_first: bool, limit: int | None,
                interval: float, wide: bool = False) -> None:
    from controller.adapters.client import FleetClient

    with FleetClient(g.broker, g.root) as client, Live(console=out, auto_refresh=False, screen=False,
                                                       redirect_stderr=True) as live:
        while True:
            rows = limit if limit is not None else max(5, out.size.height - 10)
            params: dict[str, Any] = {"offline_first": offline_first, "limit": rows}
            if session is not None:
                params["session_id"] = session
            try:
                snapshot = client.call("devices.list", params, timeout=5)
                live.update(ui.fleet_table(snapshot, time.time(), title=f"Fleet {g.root!r} on {g.broker}",
                                           checkins=_checkins(client, snapshot), wide=wide), refresh=True)
            except FleetError as exc:
                live.update(f"[red]{exc}[/]", refresh=True)
            time.sleep(interval)


@app.command()
@friendly
def watch(
    ctx: typer.Context,
    session: Annotated[int | None, typer.Option(help="Only the device of this session.")] = None,
    offline_first: Annotated[bool, typer.Option("--offline-first/--by-id", help="Sort offline devices first.")]
    = True,
    limit: Annotated[int | None, typer.Option(min=1, help="Rows to show (default: what fits the terminal).")]
    = None,
    interval: Annotated[float, typer.Option(min=0.2, help="Refresh period in seconds.")] = 1.0,
    wide: WideOpt = False,
) -> None:
    """The fleet table, live. Ctrl-C to leave."""
    g = _globals(ctx)
    _setup_logging(g.verbose)
    try:
        _watch_loop(g, session=session, offline_first=offline_first, limit=limit, interval=interval, wide=wide)
    except KeyboardInterrupt:
        pass


@app.command()
@friendly
def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What the controller received per channel and rejected per reason."""
    with _client(_globals(ctx)) as client:
        result = client.call("stats")
    if as_json:
        _print_json(result)
        return
    for section in ("received", "rejected", "checkins", "unsent", "broker"):
        counts = result.get(section, {})
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"
        out.print(f"[bold]{section}[/]: {line}", markup=True, highlight=False)
    out.print(f"[bold]connections[/]: {result.get('connections', 0)}", highlight=False)


# --- sessions -----------------------------------------------------------------------------------


@session_app.command("start")
@friendly
def session_start(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="Course code, e.g. CS101.")],
    session: Annotated[str, typer.Option(help="Academic session, e.g. 2024/2025.")],
    semester: Annotated[str, typer.Option(help='Semester, e.g. "1st Semester".')],
    title: Annotated[str | None, typer.Option(help="Course title (remembered: needed the first time only).")]
    = None,
    lecturer: Annotated[str, typer.Option(help="Lecturer's name.")] = "",
    room: Annotated[str | None, typer.Option(help="Pick a device whose home room is this room, e.g. LT2.")] = None,
    any_room: Annotated[bool, typer.Option("--any-room", help="With --room: fall back to any room.")] = False,
    failover_grace: Annotated[float, typer.Option(
        min=0, help="Seconds the device may stay offline before the session moves to another device.")] = 60.0,
    device: Annotated[str | None, typer.Option(help="Use this device instead of the freshest free one.")] = None,
    password: Annotated[str, typer.Option(help="Wi-Fi password (8-63 characters); empty = open network.")] = "",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the device applied the config.")]
    = True,
    timeout: Annotated[float, typer.Option(min=0, help="Seconds to wait for the device.")] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Start an attendance session: pick a device, publish its course config, wait until it is applied."""
    params: dict[str, Any] = {"course": course, "session": session, "semester": semester, "lecturer": lecturer,
                              "password": password, "failover_grace_s": failover_grace, "any_room": any_room}
    for key, value in (("title", title), ("device", device), ("room", room)):
        if value:
            params[key] = value
    with _client(_globals(ctx)) as client:
        result = client.call("session.start", params)
        if not as_json:
            out.print(f"[green]session {result['session_id']} started[/] on [bold]{result['device']}[/] — "
                      f"students join Wi-Fi [bold]{result['config']['ssid']}[/]")
            out.print(ui.config_panel(result))
        status, error = "pending", None
        if wait:
            with err.status(f"waiting for {result['device']} to apply config v{result['config']['version']}…"):
                status, error = _wait_applied(client, result["session_id"], timeout)
    applied = status == "applied"
    if as_json:
        _print_json({"session_id": result["session_id"], "device": result["device"], "config": result["config"],
                     "applied": applied})
    elif applied:
        out.print(f"[green]✓ {result['device']} applied the config[/]")
    if not wait or applied:
        return
    if status == "rejected":
        err.print(f"[red]error:[/] device {result['device']} rejected the config: {error}", soft_wrap=True)
    else:
        err.print(f"[red]error:[/] device {result['device']} has not applied the config within {timeout:g} s; the "
                  f"session stays active and the controller keeps reconciling it", soft_wrap=True)
    raise typer.Exit(1)


def _wait_applied(client: Any, session_id: int, timeout: float) -> tuple[str, str | None]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        chunk = max(0.0, min(left, 20.0))
        reply = client.call("session.wait", {"session_id": session_id, "timeout_s": chunk}, timeout=chunk + 10)
        if reply["status"] != "pending" or left <= chunk:
            return str(reply["status"]), reply.get("error")


@session_app.command("end")
@friendly
def session_end(ctx: typer.Context, session_id: Annotated[int, typer.Argument(help="Session id.")],
                as_json: JsonOpt = False) -> None:
    """End a session; its device gets a newer idle config."""
    with _client(_globals(ctx)) as client:
        result = client.call("session.end", {"session_id": session_id})
    if as_json:
        _print_json(result)
    else:
        out.print(f"session {session_id} ended; device {result['device'] or '-'} returns to idle")


@session_app.command("list")
@friendly
def session_list(ctx: typer.Context,
                 active: Annotated[bool, typer.Option("--active", help="Only active sessions.")] = False,
                 as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Sessions, newest last."""
    with _client(_globals(ctx)) as client:
        result = client.call("session.list", {"active": active})
    if as_json:
        _print_json(result)
    else:
        _show(ui.sessions_table(result["sessions"], wide=_wide(wide)))


# --- attendance ---------------------------------------------------------------------------------


@attendance_app.command("list")
@friendly
def attendance_list(ctx: typer.Context, session_id: Annotated[int, typer.Argument(help="Session id.")],
                    as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Who checked in to a session (and which check-ins were rejected, with why)."""
    with _client(_globals(ctx)) as client:
        result = client.call("attendance.list", {"session_id": session_id})
    if as_json:
        _print_json(result)
    else:
        _show(ui.attendance_table(result, wide=_wide(wide)))


@attendance_app.command("export")
@friendly
def attendance_export(
    ctx: typer.Context,
    session_id: Annotated[int, typer.Argument(help="Session id.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="CSV file to write (default: stdout).")] = None,
) -> None:
    """The check-ins of a session as CSV."""
    with _client(_globals(ctx)) as client:
        result = client.call("attendance.list", {"session_id": session_id})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["session_id", "student_id", "device", "seq", "station_mac", "received_at"])
    for r in result["records"]:
        writer.writerow([session_id, r["student_id"], r["device"], r["seq"], r["station_mac"] or "",
                         time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r["received_at"]))])
    if out_file is None:
        sys.stdout.write(buffer.getvalue())
        return
    try:
        out_file.write_text(buffer.getvalue())
    except OSError as exc:
        raise FleetError(f"cannot write {out_file}: {exc.strerror}") from exc
    err.print(f"{len(result['records'])} check-ins written to {out_file}")


@attendance_app.command("report")
@friendly
def attendance_report(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help="Course code.")],
    session: Annotated[str, typer.Option(help="Academic session, e.g. 2024/2025.")],
    semester: Annotated[str, typer.Option(help='Semester, e.g. "1st Semester".')],
    as_json: JsonOpt = False,
    out_file: Annotated[Path | None, typer.Option("--out", help="Also write the per-student table as CSV.")]
    = None,
    wide: WideOpt = False,
) -> None:
    """A course's attendance over a semester: per student (attended / held / %) and per session."""
    with _client(_globals(ctx)) as client:
        result = client.call("attendance.report", {"course": course, "session": session, "semester": semester})
    if out_file is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["student_id", "attended", "held", "percent", "flagged"])
        for s in result["students"]:
            writer.writerow([s["student_id"], s["attended"], s["held"], s["percent"], s["flagged"]])
        try:
            out_file.write_text(buffer.getvalue())
        except OSError as exc:
            raise FleetError(f"cannot write {out_file}: {exc.strerror}") from exc
        err.print(f"{len(result['students'])} students written to {out_file}")
    if as_json:
        _print_json(result)
    else:
        _show(ui.report_view(result, wide=_wide(wide)))


# --- the device inventory -----------------------------------------------------------------------

DeviceArg = Annotated[str, typer.Argument(help="Device id, e.g. esp32-a1b2c3d4e5f6.")]


def _device_call(ctx: typer.Context, method: str, params: dict[str, Any], as_json: bool) -> None:
    with _client(_globals(ctx)) as client:
        result = client.call(method, params)
    if as_json:
        _print_json(result)
        return
    if result.get("forgotten"):
        out.print(f"{result['device']} forgotten; its retained topics are cleared")
        return
    state = "retired" if result["retired"] else "active" if result["approved"] else "pending approval"
    out.print(f"{result['device']}: name {result['name'] or '-'}, room {result['room'] or '-'}, {state}")


@device_app.command("list")
@friendly
def device_list(ctx: typer.Context, as_json: JsonOpt = False, wide: WideOpt = False) -> None:
    """Every known device, including never-seen, retired and unapproved ones, with health."""
    with _client(_globals(ctx)) as client:
        result = client.call("device.list")
    if as_json:
        _print_json(result)
    else:
        _show(ui.inventory_table(result["devices"], time.time(), wide=_wide(wide)))


@device_app.command("set")
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
    params: dict[str, Any] = {"device": device_id}
    for key, value in (("name", name), ("room", room)):
        if value is not None:
            params[key] = value
    _device_call(ctx, "device.set", params, as_json)


@device_app.command("retire")
@friendly
def device_retire(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Never select this device again; it leaves the totals (restore brings it back)."""
    _device_call(ctx, "device.retire", {"device": device_id}, as_json)


@device_app.command("restore")
@friendly
def device_restore(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Undo retire."""
    _device_call(ctx, "device.restore", {"device": device_id}, as_json)


@device_app.command("approve")
@friendly
def device_approve(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Admit a newly seen device (controllers started with --require-approval)."""
    _device_call(ctx, "device.approve", {"device": device_id}, as_json)


@device_app.command("forget")
@friendly
def device_forget(ctx: typer.Context, device_id: DeviceArg, as_json: JsonOpt = False) -> None:
    """Remove a device from the inventory and clear its retained topics on the broker."""
    _device_call(ctx, "device.forget", {"device": device_id}, as_json)


# --- broker credentials and the secure profile ------------------------------------------------

AccountConfigOpt = Annotated[Path, typer.Option("--config", "-c", help="The broker.conf whose password_file (and "
                                                "acl_file) to write.")]
_RELOAD_HINT = ("the embedded broker (fleet broker) applies it within a second; Mosquitto on reload: "
                "systemctl reload mosquitto, or kill -HUP its pid")


def _broker_url_hint(config: Path, username: str, password: str, *, local: bool) -> str:
    """A --broker URL for this account: the TLS listener for people and devices, loopback for controllers."""
    from controller.broker.conf import load

    listeners = load(config).listeners
    secure = next((item for item in listeners if item.tls is not None), None)
    if secure is not None and secure.tls is not None and not local:
        ca = f"?cafile={secure.tls.cafile}" if secure.tls.cafile else ""
        return f"mqtts://{username}:{password}@{secure.host or 'BROKER-HOST'}:{secure.port}{ca}"
    first = listeners[0]
    return f"mqtt://{username}:{password}@{first.host or '127.0.0.1'}:{first.port}"


@device_app.command("provision")
@friendly
def device_provision(device_id: DeviceArg, config: AccountConfigOpt = Path("broker.conf"),
                     as_json: JsonOpt = False) -> None:
    """Create or rotate a device's broker password (shown once, stored as a hash in the password file)."""
    from controller.broker.credentials import provision_device

    issued = provision_device(config, device_id)
    for warning in issued.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    if as_json:
        _print_json({"id": device_id, "username": issued.username, "password": issued.password})
        return
    out.print(f"device [bold]{device_id}[/] provisioned in {issued.password_file}; the password is shown only now",
              soft_wrap=True)
    out.print(f"username  {issued.username}\npassword  {issued.password}", highlight=False)
    out.print("on the device's serial console:", highlight=False)
    out.print("\n".join(f"  {line}" for line in _serial_script(config, issued.username, issued.password)),
              highlight=False, soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


def _serial_script(config: Path, username: str, password: str) -> list[str]:
    """The firmware's serial console lines for this device; with the broker's TLS listener and CA."""
    from controller.broker.conf import load
    from controller.broker.credentials import ca_cert_setting

    lines = [f"set mqtt_user {username}", f"set mqtt_pass {password}"]
    secure = next((item for item in load(config).listeners if item.tls is not None), None)
    if secure is not None and secure.tls is not None:
        lines.insert(0, f"set broker mqtts://{secure.host or 'BROKER-HOST'}:{secure.port}   (the name in the broker's "
                        "certificate)")
        if secure.tls.cafile is not None:
            lines.append(f"set ca_cert {ca_cert_setting(secure.tls.cafile)}")
    return [*lines, "reboot"]


@device_app.command("revoke")
@friendly
def device_revoke(device_id: DeviceArg, config: AccountConfigOpt = Path("broker.conf"),
                  as_json: JsonOpt = False) -> None:
    """Remove a device's broker password: it can no longer connect (and is disconnected on reload)."""
    from controller.broker.credentials import revoke_device

    password_file = revoke_device(config, device_id)
    if as_json:
        _print_json({"id": device_id, "revoked": True})
        return
    out.print(f"device {device_id} revoked in {password_file}", soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


RoleOpt = Annotated[str, typer.Option("--role", help="lecturer (sends requests), operator (reads device presence) "
                                      "or controller (the daemon's account).")]


@user_app.command("add")
@friendly
def user_add(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name, e.g. alice.")],
             role: RoleOpt, config: AccountConfigOpt = Path("broker.conf"), as_json: JsonOpt = False) -> None:
    """Create a user (or rotate its password and set its role): password file and ACL; the password is shown once."""
    from controller.broker.credentials import add_user
    from controller.broker.profile import Role

    try:
        chosen = Role(role)
    except ValueError:
        raise FleetError(f"unknown role {role!r}: use lecturer, operator or controller") from None
    issued = add_user(config, name, chosen, _globals(ctx).root)
    url = _broker_url_hint(config, name, issued.password, local=chosen is Role.CONTROLLER)
    if as_json:
        _print_json({"name": name, "role": chosen.value, "username": name, "password": issued.password,
                     "broker_url": url})
        return
    out.print(f"user [bold]{name}[/] ({chosen.value}) written to {issued.password_file} and the ACL; the password is "
              "shown only now", soft_wrap=True)
    out.print(f"username  {name}\npassword  {issued.password}\nbroker    {url}", highlight=False, soft_wrap=True)
    err.print(_RELOAD_HINT, soft_wrap=True)


@user_app.command("remove")
@friendly
def user_remove(name: Annotated[str, typer.Argument(help="User name.")],
                config: AccountConfigOpt = Path("broker.conf")) -> None:
    """Remove a user from the password file and the ACL."""
    from controller.broker.credentials import remove_user

    remove_user(config, name)
    out.print(f"user {name} removed")
    err.print(_RELOAD_HINT, soft_wrap=True)


PathOpt = Annotated[Path | None, typer.Option(help="PEM file.", exists=True, dir_okay=False, resolve_path=True)]


@app.command("secure-profile")
@friendly
def secure_profile(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Where to write broker.conf, acl, passwd (e.g. /etc/fleet).",
                                              resolve_path=True)],
    port: Annotated[int, typer.Option(help="Plain listener on 127.0.0.1, for controllers and local CLI users.")]
    = 1883,
    tls_port: Annotated[int, typer.Option(help="TLS listener, for devices and remote CLI users.")] = 8883,
    tls_host: Annotated[str | None, typer.Option(help="Address of the TLS listener (default: all interfaces).")]
    = None,
    certfile: PathOpt = None,
    keyfile: PathOpt = None,
    cafile: PathOpt = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where retained messages are kept (default DIR/data).",
                                                  resolve_path=True)] = None,
    owner: Annotated[str | None, typer.Option(help="Give the files to this user (default when root: mosquitto, "
                                              "which Mosquitto drops to).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile (its accounts are lost).")]
    = False,
) -> None:
    """Write a secure broker profile: broker.conf (both brokers), a least-privilege ACL, an empty password file."""
    from controller.broker.credentials import default_owner, write_profile
    from controller.broker.profile import ProfileSpec

    spec = ProfileSpec(directory=directory, data_dir=data_dir or directory / "data", port=port, tls_port=tls_port,
                       tls_host=tls_host, certfile=certfile, keyfile=keyfile, cafile=cafile)
    written = write_profile(spec, _globals(ctx).root, owner=owner or default_owner(), force=force)
    for warning in written.warnings:
        err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    out.print(f"secure profile for topic root {_globals(ctx).root!r} written to {directory}"
              + (f" (owned by {written.owner})" if written.owner else ""), soft_wrap=True)
    if not spec.tls:
        err.print("[yellow]warning:[/] no TLS listener (no --certfile/--keyfile): devices on the network cannot "
                  "connect; see the comment in broker.conf", soft_wrap=True)
    conf = spec.conf_path
    out.print(f"next: fleet user add controller --role controller --config {conf}\n"
              f"      fleet device provision ID --config {conf}\n"
              f"      fleet broker --config {conf}   (or: mosquitto -c {conf})", highlight=False, soft_wrap=True)


# --- simulation ---------------------------------------------------------------------------------


@app.command()
@friendly
def simulate(
    ctx: typer.Context,
    count: Annotated[int, typer.Argument(min=1, help="Number of simulated devices.")],
    heartbeat_s: Annotated[float, typer.Option(min=0.1, help="Heartbeat period.")] = 30.0,
    checkin_rate: Annotated[float, typer.Option(min=0, help="Check-ins per device-minute while in a session.")]
    = 0.0,
    death_rate: Annotated[float, typer.Option(min=0, help="Abrupt deaths per device-hour.")] = 0.0,
    id_prefix: Annotated[str, typer.Option(help="Device id prefix.")] = "sim-",
    start_index: Annotated[int, typer.Option(min=0, help="First device number.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Run N simulated devices that speak the contract exactly. Ctrl-C stops them cleanly."""
    from controller.sim.simulator import SimConfig, Simulator

    g = _globals(ctx)
    logging.getLogger("controller").setLevel(logging.INFO)
    sim = Simulator(SimConfig(broker_url=g.broker, root=g.root, count=count, heartbeat_s=heartbeat_s,
                              checkin_rate=checkin_rate, death_rate=death_rate, id_prefix=id_prefix,
                              start_index=start_index, seed=seed))
    stop = _wait_for_signal()
    sim.start()
    threading.Thread(target=_freeze_heap_when_up, args=(sim, count), daemon=True).start()
    err.print(f"{count} simulated devices on {g.broker} (root {g.root!r}); Ctrl-C stops them")
    try:
        stop.wait()
    finally:
        sim.stop()


def _freeze_heap_when_up(sim: Simulator, count: int) -> None:
    """Once every device is up, its paho client and state live as long as the process: moved out of
    the collector's sight (garbage collected first), a full collection no longer walks them. At
    10,000 devices one took the simulator's loop away for a tenth of a second, delaying configs."""
    if sim.wait_connected(count, timeout=3600):
        gc.collect()
        gc.freeze()


def main() -> None:
    app(prog_name="fleet")


if __name__ == "__main__":
    main()
