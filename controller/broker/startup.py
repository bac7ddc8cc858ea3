"""What is settled before the embedded broker listens, and the one line when it cannot start.

`prepare` loads the credentials, checks every TLS certificate and loads the retained messages, so
whatever would stop the broker from serving a `BrokerConf` as Mosquitto would is a `BrokerError`
before any socket opens. `amqtt_config` translates the configuration to amqtt's; `start_failure`
turns amqtt's start exception into one line (a busy port named as such). `port_is_free` and
`free_port` answer for ports without starting anything.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from controller.broker.access import AccessControl, AccessError
from controller.broker.conf import BrokerConf, Listener, Persistence, Tls
from controller.broker.plugins import plugin_config
from controller.broker.retained import Retained, RetainedStore, RetainedStoreError
from controller.errors import FleetError

_AMQTT_DEFAULT_BIND = "0.0.0.0:1883"  # amqtt's ListenerConfig default, see amqtt_config


class BrokerError(FleetError):
    """The embedded broker could not start or stop; the message is one line."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a broker needs besides amqtt's config, loaded (and checked) before it listens."""

    access: AccessControl
    persistence: Persistence | None
    retained: tuple[Retained, ...]


def prepare(conf: BrokerConf) -> Prepared:
    """Load the credentials, check every TLS certificate and load the retained messages; one-line
    BrokerError for whatever would stop the broker from serving `conf` as Mosquitto would."""
    try:
        access = AccessControl(conf)
    except AccessError as exc:
        raise BrokerError(str(exc)) from exc
    for listener in conf.listeners:
        if listener.tls is not None:
            tls_context(listener.tls, listener)
    if conf.persistence is None:
        return Prepared(access, None, ())
    store = RetainedStore(conf.persistence.location)
    try:
        store.check()
        retained = tuple(store.load())
    except RetainedStoreError as exc:
        raise BrokerError(str(exc)) from exc
    return Prepared(access, conf.persistence, retained)


def tls_context(tls: Tls, listener: Listener) -> ssl.SSLContext:
    """A server TLS context as Mosquitto sets one up without `require_certificate`: TLS 1.2 or
    later, no client certificate asked for. `cafile` is loaded (and so checked) but not used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_NONE
    try:
        context.load_cert_chain(tls.certfile, tls.keyfile)
        if tls.cafile is not None:
            context.load_verify_locations(cafile=tls.cafile)
    except (OSError, ssl.SSLError) as exc:
        files = f"{tls.certfile}, {tls.keyfile}" + (f", {tls.cafile}" if tls.cafile else "")
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BrokerError(f"listener {_where(listener)}: cannot load its TLS files ({files}): {reason}") from exc
    return context


def amqtt_config(conf: BrokerConf, access: AccessControl) -> tuple[list[str], dict[str, Any]]:
    """Translate `conf` to amqtt's config; also return listener names in configuration order."""
    names = [f"listener-{index}" for index in range(len(conf.listeners))]
    listeners = {name: _listener_config(listener) for name, listener in zip(names, conf.listeners, strict=True)}
    # amqtt requires a listener named "default", and copies "default"'s bind into any other
    # listener whose bind equals amqtt's default bind; naming that one "default" sidesteps it.
    default_name = next((name for name in names if listeners[name]["bind"] == _AMQTT_DEFAULT_BIND), names[0])
    listeners["default"] = listeners.pop(default_name)
    names[names.index(default_name)] = "default"
    return names, {"listeners": listeners, "plugins": plugin_config(access)}


def _listener_config(listener: Listener) -> dict[str, Any]:
    config: dict[str, Any] = {"type": "tcp", "bind": _bind(listener)}
    if listener.tls is not None:
        config |= {"ssl": True, "certfile": str(listener.tls.certfile), "keyfile": str(listener.tls.keyfile)}
        if listener.tls.cafile is not None:
            config["cafile"] = str(listener.tls.cafile)
    return config


def _bind(listener: Listener) -> str:
    # amqtt splits on the last ':' and passes the host to getaddrinfo as is, so an IPv6 literal
    # must NOT be bracketed; an empty host means all interfaces.
    return f"{listener.host or ''}:{listener.port}"


def start_failure(exc: BaseException, conf: BrokerConf) -> str:
    """One line for why amqtt could not start."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        busy = [listener for listener in conf.listeners if not port_is_free(listener.host, listener.port)]
        if busy:
            return "; ".join(f"port {_where(listener)} is already in use" for listener in busy)
        return f"a listener port is already in use: {cause.strerror}"
    if isinstance(cause, OSError):
        return f"cannot open a listener: {cause.strerror or cause}"
    return f"the embedded broker cannot start: {exc}"


def _where(listener: Listener) -> str:
    return f"{listener.port} on {listener.host}" if listener.host else str(listener.port)


def port_is_free(host: str | None, port: int) -> bool:
    """True if a listener could bind `host`:`port` now (host None: all interfaces, v4 and v6).

    Binds with SO_REUSEADDR, as amqtt and Mosquitto do, so connections lingering in TIME_WAIT
    after a broker stopped do not count as "in use".
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return False
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EAFNOSUPPORT:
                continue
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that is free right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
