"""The broker configuration file: a pure parser of the Mosquitto-syntax subset we honour.

One file, `broker.conf`, configures both the embedded amqtt broker (`fleet broker`) and Mosquitto
(`mosquitto -c broker.conf`). This module reads the part of Mosquitto's syntax the embedded broker
can honour today — `listener PORT [HOST]` and `allow_anonymous true|false` — and refuses everything
else with one line naming the file and line, so a profile never silently means something else on
the embedded broker than it does on Mosquitto.

Defaults follow Mosquitto 2.0: with no `listener` line the broker listens on port 1883 on loopback
only and lets anonymous clients in ("local only mode"); once a listener is configured,
`allow_anonymous` defaults to false.

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

# Directives Mosquitto 2.0 knows (mosquitto.conf(5)) that the embedded broker cannot honour yet.
# Listed so the error can say "not supported by the embedded broker" instead of "unknown".
# In order: auth and ACL, persistence, TLS, listener and socket, limits, process and logging, bridges.
_MOSQUITTO_ONLY_NAMES = """
    acl_file auth_plugin auth_plugin_deny_special_chars password_file plugin psk_file psk_hint
    per_listener_settings use_identity_as_username use_subject_as_username use_username_as_clientid
    clientid_prefixes allow_zero_length_clientid
    autosave_interval autosave_on_changes persistence persistence_file persistence_location
    persistent_client_expiration check_retain_source
    cafile capath certfile keyfile ciphers ciphers_tls1.3 crlfile dhparamfile require_certificate
    tls_engine tls_engine_kpass_sha1 tls_keyform tls_version
    bind_address bind_interface http_dir max_connections mount_point port protocol socket_domain
    websockets_headers_size websockets_log_level set_tcp_nodelay
    allow_duplicate_messages max_inflight_bytes max_inflight_messages max_keepalive max_packet_size
    max_queued_bytes max_queued_messages max_topic_alias maximum_qos memory_limit message_size_limit
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


class BrokerConfError(FleetError):
    """A broker configuration that cannot be read or honoured; the message is one line."""


@dataclass(frozen=True, slots=True)
class Listener:
    """One `listener PORT [HOST]` line. `host` None means all interfaces; port 0 picks a free port."""

    port: int
    host: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerConf:
    """What a broker configuration file asks for."""

    listeners: tuple[Listener, ...]
    allow_anonymous: bool
    source: Path | None = None


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
    listeners: list[Listener] = []
    listener_lines: dict[Listener, int] = {}
    allow_anonymous: bool | None = None
    anonymous_line = 0
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
            listeners.append(listener)
        elif directive == "allow_anonymous":
            if allow_anonymous is not None:
                raise BrokerConfError(f"{where}: allow_anonymous is already set on line {anonymous_line}")
            allow_anonymous = _parse_bool(directive, values, where)
            anonymous_line = number
        else:
            raise BrokerConfError(f"{where}: {_unsupported(directive)}")
    if not listeners:
        # Mosquitto 2.0 "local only mode": loopback, port 1883, anonymous allowed by default.
        return BrokerConf(
            listeners=(Listener(DEFAULT_PORT, LOCAL_ONLY_HOST),),
            allow_anonymous=True if allow_anonymous is None else allow_anonymous,
        )
    return BrokerConf(listeners=tuple(listeners), allow_anonymous=bool(allow_anonymous))


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
