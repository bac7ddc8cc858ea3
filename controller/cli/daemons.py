"""`fleet controller`, `fleet broker`, `fleet up`, `fleet simulate`: the long-running processes, in the
foreground, stopped cleanly by SIGTERM or Ctrl-C."""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from controller.adapters.images import default_images_dir
from controller.cli import clock, runstate
from controller.cli.common import (
    ConfigOpt,
    DbOpt,
    Globals,
    ImagesOpt,
    LogFormat,
    LogFormatOpt,
    MetricsHostOpt,
    MetricsPortOpt,
    WideOpt,
    err,
    friendly,
    globals_of,
    setup_logging,
    state_file,
)
from controller.cli.monitor import watch_loop
from controller.contract.updates import MAX_URL, URL_RE
from controller.core.lease import DEFAULT_LEASE_TTL_S, HaMode
from controller.daemon.settings import DEFAULT_ROOT, ENV_ACL, ControllerSettings, default_db_url
from controller.errors import FleetError

if TYPE_CHECKING:
    from controller.sim.simulator import Simulator, UpdateSettings
    from controller.sim.update import UpdateFaults

UP_CHECKIN_RATE = 180.0
"""`fleet up`'s simulated check-ins per device-minute in a session: 3 a second, students drawn from a
class of 120 (each stored once), so a started session's count climbs visibly and levels off near 120
within a few minutes. `fleet simulate` keeps 0 unless asked."""


def _wait_for_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _log_own_lines(verbose: int) -> None:
    """A daemon in the foreground logs its own INFO lines by default (what it is doing), other
    libraries' from WARNING; -v and -vv as for every command."""
    if verbose == 0:
        logging.getLogger("controller").setLevel(logging.INFO)


TtlOpt = Annotated[float, typer.Option("--heartbeat-ttl", min=1, help="Seconds without a heartbeat before a device "
                                                                        "counts as offline.")]


def _url_base(url: str | None) -> str | None:
    """An http(s) URL that `<sha256>.bin` is appended to (a trailing `/` added), or FleetError."""
    if url is None:
        return None
    base = url if url.endswith("/") else url + "/"
    if URL_RE.fullmatch(base) is None or len(base) + 68 > MAX_URL:
        raise FleetError(f"--image-url-base {url!r}: give an http:// or https:// URL without spaces, at most "
                         f"{MAX_URL - 68} characters")
    return base


@friendly
def controller(
    ctx: typer.Context, db: DbOpt = None, heartbeat_ttl: TtlOpt = ControllerSettings.heartbeat_ttl_s,
    shared_group: Annotated[str | None, typer.Option(
        envvar="FLEET_SHARED_GROUP", help="Run beside other controllers, all acting (--ha shared): split device "
        "traffic and requests through MQTT shared subscriptions ($share/GROUP/...; Mosquitto, EMQX, HiveMQ) over "
        "one PostgreSQL. Refused at start when the broker ignores $share.")] = None,
    ha: Annotated[HaMode | None, typer.Option(
        "--ha", envvar="FLEET_HA", help="How several controllers share the fleet: none (one controller), shared "
        "(active/active, needs --shared-group), lease (active/standby: the holder of a lease in the database "
        "acts, the others take over within seconds of its death; any broker). Default: shared with "
        "--shared-group, else none.")] = None,
    lease_ttl: Annotated[float, typer.Option(
        "--lease-ttl", min=2, envvar="FLEET_LEASE_TTL", help="With --ha lease: seconds the lease lasts unrenewed "
        "(renewed every quarter of it); a standby takes over within about 1.25 times this of the leader's "
        "death.")] = DEFAULT_LEASE_TTL_S,
    require_approval: Annotated[bool, typer.Option(
        "--require-approval", envvar="FLEET_REQUIRE_APPROVAL",
        help="New devices wait for `fleet device approve` before they are used.")] = False,
    max_device_rate: Annotated[float, typer.Option(
        min=0.1, envvar="FLEET_MAX_DEVICE_RATE", help="Messages a second one device may send (averaged over 10 s); "
        "the excess is dropped and the device flagged flooding.")] = ControllerSettings.max_device_rate,
    request_rate: Annotated[float, typer.Option(
        min=0.1, envvar="FLEET_REQUEST_RATE", help="Requests a second one client may make; more are refused "
        "rate_limited.")] = ControllerSettings.request_rate,
    request_burst: Annotated[float, typer.Option(
        min=1, envvar="FLEET_REQUEST_BURST", help="Requests one client may make at once before --request-rate "
        "applies.")] = ControllerSettings.request_burst,
    max_packet: Annotated[int, typer.Option(
        min=4096, envvar="FLEET_MAX_PACKET", help="The largest message the controller sends, in bytes; keep it "
        "within the broker's max_packet_size.")] = ControllerSettings.max_packet_bytes,
    acl_file: Annotated[Path | None, typer.Option(
        "--acl-file", envvar=ENV_ACL, dir_okay=False, help="The secure profile's ACL file (its acl_file): each "
        "user's role there decides which requests it may make (reread every resync). Unset: everyone may do "
        "everything, as in the open profile.")] = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = ControllerSettings.metrics_host,
    images: ImagesOpt = None,
    image_url_base: Annotated[str | None, typer.Option(
        envvar="FLEET_IMAGE_URL_BASE", help="Where devices fetch images: update commands name "
        "<base><sha256>.bin. Default: this controller's own endpoint, http://METRICS_HOST:METRICS_PORT/firmware/ "
        "(so give --metrics-host an address devices reach).")] = None,
    update_timeout: Annotated[str, typer.Option(
        envvar="FLEET_UPDATE_TIMEOUT", help="A device updating without progress this long is commanded again "
        "(3 times, then failed timeout).")] = "10m",
    log_format: LogFormatOpt = LogFormat.TEXT,
    default_session: Annotated[str, typer.Option(
        envvar="FLEET_DEFAULT_SESSION", help="A session's length when the lecturer gives none and its course has "
        "no past sessions (90m, 2h).")] = "2h",
    max_session: Annotated[str, typer.Option(
        envvar="FLEET_MAX_SESSION", help="The longest a session may last; the controller ends it then.")] = "4h",
    lead: Annotated[str, typer.Option(
        envvar="FLEET_LEAD", help="Start a timetabled lecture's session this long before it begins.")] = "5m",
) -> None:
    """Run the controller daemon in the foreground (SIGTERM or Ctrl-C stops it cleanly)."""
    from dataclasses import replace

    from controller.daemon.controller import Controller
    from controller.daemon.settings import ensure_sqlite_dir

    g = globals_of(ctx)
    setup_logging(g.verbose, log_format=log_format)
    settings = ControllerSettings(
        broker_url=g.broker, root=g.root, db_url=db or default_db_url(), heartbeat_ttl_s=heartbeat_ttl,
        require_approval=require_approval, max_device_rate=max_device_rate, request_rate=request_rate,
        request_burst=request_burst, max_packet_bytes=max_packet, acl_file=acl_file, metrics_port=metrics_port,
        metrics_host=metrics_host, images_dir=images or default_images_dir(),
        default_session_s=_length("--default-session", default_session),
        max_session_s=_length("--max-session", max_session), lead_s=max(0.0, clock.seconds(lead)), ha=ha,
        lease_ttl_s=lease_ttl, image_url_base=_url_base(image_url_base),
        update_timeout_s=_length("--update-timeout", update_timeout))
    if shared_group:
        settings = replace(settings, shared_group=shared_group, flush_s=2.0, resync_s=5.0)
    ensure_sqlite_dir(settings.db_url)
    _log_own_lines(g.verbose)
    Controller(settings).run(_wait_for_signal())


def _length(option: str, text: str) -> float:
    seconds = clock.seconds(text)
    if seconds < 60:
        raise FleetError(f"{option} must be at least a minute, not {text!r}")
    return seconds


@friendly
def broker(ctx: typer.Context, config: ConfigOpt = Path("broker.conf"),
           port: Annotated[int | None, typer.Option(help="Override the first listener's port.")] = None) -> None:
    """Run the embedded amqtt broker, configured by a Mosquitto-syntax broker.conf."""
    from controller.broker.server import run_broker

    _log_own_lines(globals_of(ctx).verbose)
    run_broker(config, port)


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
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = ControllerSettings.metrics_host,
    images: ImagesOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Broker + controller (+ simulated devices) with the live fleet table, in one command. Ctrl-C stops all.

    Other `fleet` commands of this user find the stack without --broker: `fleet up` records its broker
    and topic root in $XDG_RUNTIME_DIR/fleet/up.json (else ~/.local/state/fleet/up.json) while it runs."""
    g = globals_of(ctx)
    setup_logging(g.verbose, log_format=log_format)
    signal.signal(signal.SIGTERM, _interrupt)  # stop as Ctrl-C does: stack down, state file removed
    stack: list[Callable[[], None]] = []
    try:
        acl_file = None if g.broker_given else _start_broker(g, config, stack)
        _start_controller_and_devices(g, db, stack, simulate=simulate, heartbeat_s=heartbeat_s,
                                      checkin_rate=checkin_rate, acl_file=acl_file,
                                      metrics=(metrics_port, metrics_host), images=images or default_images_dir())
        flags = "" if _record_stack(g, stack) else f"--broker {g.broker} " + (
            f"--root {g.root} " if g.root != DEFAULT_ROOT else "")
        err.print(f"in another terminal: [bold]fleet {flags}session start CS101 --title 'Intro' "
                  f"--session 2024/2025 --semester '1st Semester'[/]", soft_wrap=True)
        watch_loop(g, session=None, offline_first=False, limit=None, interval=1.0, wide=wide)
    except KeyboardInterrupt:
        pass
    finally:
        for stop in reversed(stack):
            try:
                stop()
            except Exception as exc:  # a failing stop must not keep the rest running
                err.print(f"[yellow]while stopping: {exc}[/]")


def _start_broker(g: Globals, config: Path, stack: list[Callable[[], None]]) -> Path | None:
    """The embedded broker of `fleet up`, on a free port when the configured one is taken; returns
    its ACL file (a secure profile's), whose roles the controller then enforces."""
    from controller.broker.conf import load, parse, with_port
    from controller.broker.server import EmbeddedBroker
    from controller.broker.startup import port_is_free

    conf = load(config) if config.exists() else parse("")
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
    return conf.acl_file


def _start_controller_and_devices(g: Globals, db: str | None, stack: list[Callable[[], None]], *, simulate: int,
                                  heartbeat_s: float, checkin_rate: float, acl_file: Path | None,
                                  metrics: tuple[int | None, str], images: Path) -> None:
    """`metrics`: the port (None: none) and host of the controller's /metrics, /healthz and /readyz."""
    from controller.daemon.controller import Controller
    from controller.daemon.settings import ensure_sqlite_dir
    from controller.sim.simulator import SimConfig, Simulator

    settings = ControllerSettings(broker_url=g.broker, root=g.root, db_url=db or default_db_url(), acl_file=acl_file,
                                  metrics_port=metrics[0], metrics_host=metrics[1], images_dir=images)
    ensure_sqlite_dir(settings.db_url)
    ctl = Controller(settings)
    ctl.start()
    stack.append(ctl.stop)
    err.print(f"controller up, database {settings.db_url}")
    server = ctl.observer.server
    if server is not None:
        err.print(f"metrics on [bold]http://{server.host}:{server.port}/metrics[/] (/healthz, /readyz)")
    if simulate:
        sim = Simulator(SimConfig(broker_url=g.broker, root=g.root, count=simulate, heartbeat_s=heartbeat_s,
                                  checkin_rate=checkin_rate, update=_sim_updates(None)))
        sim.start()
        # stopped after the controller, which would otherwise warn that each serving device went offline
        stack.insert(stack.index(ctl.stop), sim.stop)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _record_stack(g: Globals, stack: list[Callable[[], None]]) -> bool:
    """Write the state file other commands find this stack by; removed first when the stack stops."""
    path, pid = state_file(), os.getpid()
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
    fw: Annotated[str, typer.Option(help="The firmware version every device runs at start.")] = "1.0.0",
    update_key: Annotated[Path | None, typer.Option(
        envvar="FLEET_UPDATE_KEY", help="The fleet's public key (PEM) devices verify images with "
        "(default: the firmware-signing.pub of `fleet firmware keygen`, if there; with no key every update fails "
        "no_key).")]
    = None,
    download_error: Annotated[float, typer.Option(min=0, max=1, help="Chance an update's download breaks.")] = 0.0,
    bad_signature: Annotated[float, typer.Option(
        min=0, max=1, help="Chance an image's signature fails (a tampered image).")] = 0.0,
    crash: Annotated[float, typer.Option(
        min=0, max=1, help="Chance a new image crashes after boot, never confirms and is rolled back.")] = 0.0,
    crash_version: Annotated[list[str] | None, typer.Option(
        help="A version whose image always crashes after boot (a bad build; repeatable).")] = None,
    download_s: Annotated[float, typer.Option(min=0, help="Seconds one device takes to download an image.")] = 5.0,
    rollback_s: Annotated[float, typer.Option(
        min=0.1, help="Seconds a new image has to confirm before the bootloader goes back.")] = 30.0,
) -> None:
    """Run N simulated devices that speak the contract exactly. Ctrl-C stops them cleanly.

    They take firmware updates as a device does (docs/contract.md, `update`), with the failure modes asked for."""
    from controller.sim.simulator import SimConfig, Simulator
    from controller.sim.update import UpdateFaults

    g = globals_of(ctx)
    _log_own_lines(g.verbose)
    faults = UpdateFaults(download_error, bad_signature, crash, frozenset(crash_version or ()))
    sim = Simulator(SimConfig(broker_url=g.broker, root=g.root, count=count, heartbeat_s=heartbeat_s,
                              checkin_rate=checkin_rate, death_rate=death_rate, id_prefix=id_prefix,
                              start_index=start_index, seed=seed, fw=fw,
                              update=_sim_updates(update_key, faults, download_s=download_s, rollback_s=rollback_s)))
    stop = _wait_for_signal()
    sim.start()
    threading.Thread(target=_freeze_heap_when_up, args=(sim, count), daemon=True).start()
    err.print(f"{count} simulated devices on {g.broker} (root {g.root!r}); Ctrl-C stops them")
    try:
        stop.wait()
    finally:
        sim.stop()


def _sim_updates(key: Path | None, faults: UpdateFaults | None = None, *, download_s: float = 5.0,
                 rollback_s: float = 30.0) -> UpdateSettings:
    """The simulated devices' update settings: `key`, else the fleet key `fleet firmware keygen` wrote
    (when there is one), so `fleet up --simulate` devices take the images its controller serves."""
    from controller.adapters.signing import PUBLIC_NAME, default_key_dir
    from controller.sim.simulator import UpdateSettings
    from controller.sim.update import UpdateFaults

    if key is None and (default_key_dir() / PUBLIC_NAME).is_file():
        key = default_key_dir() / PUBLIC_NAME
    return UpdateSettings(key, faults or UpdateFaults(), download_s=download_s, rollback_s=rollback_s)


def _freeze_heap_when_up(sim: Simulator, count: int) -> None:
    """Once every device is up, its paho client and state live as long as the process: moved out of
    the collector's sight (garbage collected first), a full collection no longer walks them. At
    10,000 devices one took the simulator's loop away for a tenth of a second, delaying configs."""
    if sim.wait_connected(count, timeout=3600):
        gc.collect()
        gc.freeze()
