"""The broker configuration file: a pure parser of the Mosquitto-syntax subset we honour.

One file, `broker.conf`, configures both the embedded amqtt broker (`fleet broker`) and Mosquitto
(`mosquitto -c broker.conf`). This module reads the part of Mosquitto's syntax the embedded broker
honours and refuses everything else with one line naming the file and line, so a profile never
silently means something else on the embedded broker than it does on Mosquitto:

- `listener PORT [HOST]` (several), each optionally TLS with the lines after it: `certfile`,
  `keyfile` (both needed) and `cafile`, per listener as in Mosquitto;
- `use_username_as_clientid`, also per listener (Mosquitto 2.0 keeps it per listener whatever
  `per_listener_settings` says): a client of that listener gets its username as client id, so
  an account can take over its own connections only, and a client without a username is refused
  as not authorised. Before any `listener` line Mosquitto would open a default listener on port
  1883 for it; here, as for `certfile`, that is an error;
- `allow_anonymous`, `password_file` (mosquitto_passwd format), `acl_file`: global, as Mosquitto's
  default `per_listener_settings false` makes them;
- `persistence`, `persistence_location`, `autosave_interval`, `autosave_on_changes`;
- `set_tcp_nodelay` (accepted: asyncio already sends without Nagle's delay);
- `max_packet_size` (at least 20; a client sending a packet whose remaining length + 1 is larger
  is disconnected, as Mosquitto 2.0.11 measures it), `max_queued_messages` and `max_queued_bytes`
  (what the broker holds for one client beyond the 20 QoS 1 messages in flight; more is dropped
  and logged; 0 means no limit), as `Limits`.

Defaults follow Mosquitto 2.0: with no `listener` line the broker listens on port 1883 on loopback
only and lets anonymous clients in ("local only mode"); once a listener is configured,
`allow_anonymous` defaults to false. Relative paths are relative to the working directory of the
broker process, as Mosquitto treats them; generated profiles use absolute paths. One difference:
without `max_queued_messages` the embedded broker holds any backlog (Mosquitto holds 1000
messages), so write the limit down when it matters, as the generated profiles do.

No I/O library is imported here; `load` only reads the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from controller.errors import FleetError

log = logging.getLogger(__name__)

DEFAULT_PORT = 1883
"""Mosquitto's port when no listener is configured."""

LOCAL_ONLY_HOST = "127.0.0.1"
"""Where Mosquitto 2.0 listens when no listener is configured (its "local only mode")."""

MAX_PORT = 65535

DEFAULT_AUTOSAVE_INTERVAL = 1800
"""Mosquitto's `autosave_interval` default (seconds)."""

# Directives Mosquitto 2.0 knows (mosquitto.conf(5)) that the embedded broker cannot honour yet.
# Listed so the error can say "not supported by the embedded broker" instead of "unknown".
# In order: auth and ACL, persistence, TLS, listener and socket, limits, process and logging, bridges.
_MOSQUITTO_ONLY_NAMES = """
    auth_plugin auth_plugin_deny_special_chars plugin psk_file psk_hint
    per_listener_settings use_identity_as_username use_subject_as_username
    clientid_prefixes allow_zero_length_clientid
    persistence_file persistent_client_expiration check_retain_source
    capath ciphers ciphers_tls1.3 crlfile dhparamfile require_certificate
    tls_engine tls_engine_kpass_sha1 tls_keyform tls_version
    bind_address bind_interface http_dir max_connections mount_point port protocol socket_domain
    websockets_headers_size websockets_log_level
    allow_duplicate_messages max_inflight_bytes max_inflight_messages max_keepalive
    max_topic_alias maximum_qos memory_limit message_size_limit
    queue_qos0_messages retain_available sys_interval upgrade_outgoing_qos
    connection_messages include_dir log_dest log_facility log_timestamp log_timestamp_format
    log_type pid_file user
    address addresses bridge_alpn bridge_attempt_unsubscribe bridge_bind_address bridge_cafile
    bridge_capath bridge_certfile bridge_ciphers bridge_identity bridge_insecure bridge_keyfile
    bridge_max_packet_size bridge_outgoing_retain bridge_protocol_version bridge_psk
    bridge_require_ocsp bridge_tls_version cleansession connection idle_timeout keepalive_interval
    local_cleansession local_clientid local_password local_username notification_topic notifications
    notifications_local_only remote_clientid remote_password remote_username restart_timeout
    round_robin start_type threshold topic try_private
"""
_MOSQUITTO_ONLY = frozenset(_MOSQUITTO_ONLY_NAMES.split())
_MOSQUITTO_ONLY_PREFIXES = ("auth_opt_", "plugin_opt_")

_BOOLS = {"true": True, "false": False}

MIN_MAX_PACKET_SIZE = 20
"""Mosquitto refuses to start with a smaller `max_packet_size` (or 0)."""


class BrokerConfError(FleetError):
    """A broker configuration that cannot be read or honoured; the message is one line."""


_TLS_OPTIONS = ("cafile", "certfile", "keyfile")
_LISTENER_FLAGS = ("use_username_as_clientid",)


@dataclass(frozen=True, slots=True)
class Tls:
    """A listener's TLS: its certificate chain and key, and the CA file Mosquitto also loads."""

    certfile: Path
    keyfile: Path
    cafile: Path | None = None


@dataclass(frozen=True, slots=True)
class Listener:
    """One `listener PORT [HOST]` line. `host` None means all interfaces; port 0 picks a free port."""

    port: int
    host: str | None = None
    tls: Tls | None = None
    use_username_as_clientid: bool = False


@dataclass(frozen=True, slots=True)
class Persistence:
    """`persistence true`: retained messages survive a restart. `location` is a directory."""

    location: Path = Path()
    autosave_interval: int = DEFAULT_AUTOSAVE_INTERVAL
    autosave_on_changes: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may make the broker accept or hold; None means no limit."""

    max_packet_size: int | None = None
    max_queued_messages: int | None = None
    max_queued_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class BrokerConf:
    """What a broker configuration file asks for."""

    listeners: tuple[Listener, ...]
    allow_anonymous: bool
    source: Path | None = None
    password_file: Path | None = None
    acl_file: Path | None = None
    persistence: Persistence | None = None
    limits: Limits = Limits()

    @property
    def secured(self) -> bool:
        """Whether clients must authenticate (no anonymous access)."""
        return not self.allow_anonymous


def load(path: Path | str) -> BrokerConf:
    """Read and parse the configuration file at `path`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BrokerConfError(f"{path}: cannot read broker config: {reason}") from exc
    conf = replace(parse(text, str(path)), source=path)
    log.debug("broker config %s: %d listener(s)", path, len(conf.listeners))
    return conf


def parse(text: str, source: str = "<string>") -> BrokerConf:
    """Parse Mosquitto-syntax configuration `text`; `source` names it in error messages."""
    listeners: list[_ListenerLines] = []
    listener_lines: dict[Listener, int] = {}
    settings: dict[str, tuple[str, int]] = {}  # directive -> (value, line) for the global ones
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        directive, *values = line.split()
        if directive == "listener":
            listener = _parse_listener(values, where)
            if listener.port != 0 and listener in listener_lines:
                raise BrokerConfError(
                    f"{where}: listener {_describe(listener)} repeats line {listener_lines[listener]}"
                )
            listener_lines.setdefault(listener, number)
            listeners.append(_ListenerLines(listener, number))
        elif directive in _TLS_OPTIONS or directive in _LISTENER_FLAGS:
            if not listeners:
                raise BrokerConfError(f"{where}: {directive} must follow the `listener` line it configures")
            value = (_path_value(directive, line, where) if directive in _TLS_OPTIONS
                     else str(_parse_bool(directive, values, where)).lower())
            listeners[-1].set(directive, value, number, where)
        elif directive in _GLOBAL_SETTINGS:
            if directive in settings:
                raise BrokerConfError(f"{where}: {directive} is already set on line {settings[directive][1]}")
            settings[directive] = (_global_value(directive, line, values, where), number)
        else:
            raise BrokerConfError(f"{where}: {_unsupported(directive)}")
    anonymous = _setting_bool(settings, "allow_anonymous")
    if not listeners:
        # Mosquitto 2.0 "local only mode": loopback, port 1883, anonymous allowed by default.
        built: tuple[Listener, ...] = (Listener(DEFAULT_PORT, LOCAL_ONLY_HOST),)
        anonymous = True if anonymous is None else anonymous
    else:
        built = tuple(lines.build(source) for lines in listeners)
    return BrokerConf(
        listeners=built,
        allow_anonymous=bool(anonymous),
        password_file=_setting_path(settings, "password_file"),
        acl_file=_setting_path(settings, "acl_file"),
        persistence=_persistence(settings),
        limits=_limits(settings, source),
    )


class _ListenerLines:
    """A listener line and the per-listener lines after it, until the next listener."""

    def __init__(self, listener: Listener, line: int) -> None:
        self.listener = listener
        self.line = line
        self.options: dict[str, tuple[str, int]] = {}

    def set(self, directive: str, value: str, number: int, where: str) -> None:
        if directive in self.options:
            raise BrokerConfError(f"{where}: {directive} is already set for this listener on line "
                                  f"{self.options[directive][1]}")
        self.options[directive] = (value, number)

    def build(self, source: str) -> Listener:
        flag = self.options.get("use_username_as_clientid")
        listener = replace(self.listener, use_username_as_clientid=flag is not None and _BOOLS[flag[0]])
        if not any(option in self.options for option in _TLS_OPTIONS):
            return listener
        certfile, keyfile = self.options.get("certfile"), self.options.get("keyfile")
        if certfile is None or keyfile is None:
            given = "certfile" if certfile else "keyfile" if keyfile else "cafile"
            missing = "certfile and keyfile" if given == "cafile" else "keyfile" if certfile else "certfile"
            raise BrokerConfError(
                f"{source}:{self.options[given][1]}: {given} without {missing}: a TLS listener needs both "
                f"(listener {_describe(self.listener)} on line {self.line})"
            )
        cafile = self.options.get("cafile")
        tls = Tls(Path(certfile[0]), Path(keyfile[0]), Path(cafile[0]) if cafile else None)
        return replace(listener, tls=tls)


def _path_value(directive: str, line: str, where: str) -> str:
    # Mosquitto takes the rest of the line as the path, so a path may hold spaces.
    value = line[len(directive):].strip()
    if not value:
        raise BrokerConfError(f"{where}: {directive} needs a path")
    return value


_GLOBAL_SETTINGS = {
    "allow_anonymous": "bool",
    "password_file": "path",
    "acl_file": "path",
    "persistence": "bool",
    "persistence_location": "path",
    "autosave_interval": "count",
    "autosave_on_changes": "bool",
    "set_tcp_nodelay": "bool",  # accepted as is: asyncio sends without Nagle's delay on every TCP socket
    "max_packet_size": "count",
    "max_queued_messages": "count",
    "max_queued_bytes": "count",
}


def _global_value(directive: str, line: str, values: list[str], where: str) -> str:
    kind = _GLOBAL_SETTINGS[directive]
    if kind == "path":
        return _path_value(directive, line, where)
    if kind == "bool":
        return "true" if _parse_bool(directive, values, where) else "false"
    if len(values) != 1 or not values[0].isdigit():
        got = " ".join(values) or "nothing"
        raise BrokerConfError(f"{where}: {directive} must be a whole number, got {got!r}")
    return values[0]


def _setting_bool(settings: dict[str, tuple[str, int]], directive: str) -> bool | None:
    return _BOOLS[settings[directive][0]] if directive in settings else None


def _setting_path(settings: dict[str, tuple[str, int]], directive: str) -> Path | None:
    return Path(settings[directive][0]) if directive in settings else None


def _persistence(settings: dict[str, tuple[str, int]]) -> Persistence | None:
    if not _setting_bool(settings, "persistence"):
        return None
    interval = settings.get("autosave_interval")
    return Persistence(
        location=_setting_path(settings, "persistence_location") or Path(),
        autosave_interval=int(interval[0]) if interval else DEFAULT_AUTOSAVE_INTERVAL,
        autosave_on_changes=bool(_setting_bool(settings, "autosave_on_changes")),
    )


def _limits(settings: dict[str, tuple[str, int]], source: str) -> Limits:
    packet = settings.get("max_packet_size")
    if packet is not None and int(packet[0]) < MIN_MAX_PACKET_SIZE:
        raise BrokerConfError(f"{source}:{packet[1]}: max_packet_size must be at least {MIN_MAX_PACKET_SIZE}, "
                              f"got {packet[0]}")

    def limit(directive: str) -> int | None:
        value = settings.get(directive)
        return int(value[0]) or None if value is not None else None  # 0: no limit, as in Mosquitto

    return Limits(limit("max_packet_size"), limit("max_queued_messages"), limit("max_queued_bytes"))


def with_port(conf: BrokerConf, port: int) -> BrokerConf:
    """Return `conf` with the first listener's port replaced by `port` (0 picks a free one)."""
    _check_port(port, "port")
    first, *rest = conf.listeners
    return replace(conf, listeners=(replace(first, port=port), *rest))


def _parse_listener(values: list[str], where: str) -> Listener:
    if not values or len(values) > 2:
        raise BrokerConfError(f"{where}: listener needs a port and at most a host: listener PORT [HOST]")
    port_text, *host = values
    try:
        port = int(port_text, 10)
    except ValueError:
        raise BrokerConfError(f"{where}: listener port {port_text!r} is not a number") from None
    try:
        _check_port(port, "listener port")
    except BrokerConfError as exc:
        raise BrokerConfError(f"{where}: {exc}") from None
    if not host:
        return Listener(port)
    if "/" in host[0]:
        raise BrokerConfError(f"{where}: unix socket listener {host[0]!r} is not supported by the embedded broker")
    return Listener(port, host[0])


def _check_port(port: int, what: str) -> None:
    if not 0 <= port <= MAX_PORT:
        raise BrokerConfError(f"{what} {port} is out of range 0..{MAX_PORT}")


def _parse_bool(directive: str, values: list[str], where: str) -> bool:
    if len(values) != 1 or values[0] not in _BOOLS:
        got = " ".join(values) or "nothing"
        raise BrokerConfError(f"{where}: {directive} must be true or false, got {got!r}")
    return _BOOLS[values[0]]


def _unsupported(directive: str) -> str:
    if directive in _MOSQUITTO_ONLY or directive.startswith(_MOSQUITTO_ONLY_PREFIXES):
        return (
            f"{directive!r} is a Mosquitto option the embedded broker does not support yet; "
            "run Mosquitto with this file instead"
        )
    return f"unknown directive {directive!r}"


def _describe(listener: Listener) -> str:
    return f"{listener.port} {listener.host}" if listener.host else str(listener.port)
