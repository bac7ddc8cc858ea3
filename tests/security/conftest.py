"""The secure profile on both brokers: one generated broker.conf, run by the embedded broker and by
Mosquitto, with a throwaway CA and server certificate for its TLS listener.

Everything listens on 127.0.0.1 at ports picked free when the profile is generated.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from controller.broker import credentials
from controller.broker.profile import ProfileSpec
from controller.broker.startup import free_port
from controller.contract.roles import Role
from tests.brokers import HOST, RunningBroker, start_from_file

TIMEOUT_S = 3.0
QUIET_S = 0.3
"""How long a test waits to be sure a message does NOT arrive."""


def settle() -> None:
    """Give messages that must NOT arrive the time they would take to arrive."""
    time.sleep(QUIET_S)


def device_status(device_id: str, online: bool = True) -> bytes:
    """A device's status (presence) message."""
    return json.dumps({"v": 1, "id": device_id, "online": online, "boot": 1}).encode()


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost that it signed (openssl CLI)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl not found; install openssl")
    d = tmp_path_factory.mktemp("tls")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=fleet test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                  "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key")


@dataclass
class Profile:
    """A generated secure profile. Making an account reloads the running broker, as an operator
    does after `fleet device provision` (SIGHUP for Mosquitto)."""

    spec: ProfileSpec
    root: str
    broker: RunningBroker | None = None

    @property
    def conf(self) -> Path:
        return self.spec.conf_path

    def device(self, device_id: str) -> str:
        """Provision a device; its password."""
        password = credentials.provision_device(self.conf, device_id).password
        self.reload()
        return password

    def user(self, name: str, role: Role) -> str:
        password = credentials.add_user(self.conf, name, role, self.root).password
        self.reload()
        return password

    def reload(self) -> None:
        if self.broker is not None:
            self.broker.reload()


@pytest.fixture
def profile(tmp_path: Path, root: str, tls_files: TlsFiles) -> Profile:
    spec = ProfileSpec(directory=tmp_path / "broker", data_dir=tmp_path / "broker" / "data", port=free_port(HOST),
                       tls_port=free_port(HOST), tls_host=HOST, certfile=tls_files.cert, keyfile=tls_files.key,
                       cafile=tls_files.ca)
    credentials.write_profile(spec, root, owner=None)
    return Profile(spec, root)


@pytest.fixture(params=["amqtt", "mosquitto"])
def secure_broker(request: pytest.FixtureRequest, profile: Profile, tmp_path: Path) -> Iterator[RunningBroker]:
    """The embedded broker or Mosquitto, both started from the profile's broker.conf."""
    with start_from_file(request.param, profile.conf, tmp_path) as running:
        profile.broker = running
        yield running
        profile.broker = None


class Client:
    """A paho client driven synchronously, with credentials, optionally over TLS."""

    def __init__(self, broker: RunningBroker, username: str | None = None, password: str | None = None, *,
                 client_id: str | None = None, tls: TlsFiles | None = None) -> None:
        self.broker = broker
        self.port = broker.port_of(tls=tls is not None)
        self.client_id = client_id if client_id is not None else (username or f"anon-{uuid.uuid4().hex[:8]}")
        self.paho = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=paho.MQTTv311)
        if username is not None:
            self.paho.username_pw_set(username, password)
        if tls is not None:
            self.paho.tls_set(ca_certs=str(tls.ca), cert_reqs=ssl.CERT_REQUIRED)
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.disconnected = threading.Event()
        self._subscribed = threading.Event()
        self.paho.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc)
        self.paho.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.paho.on_subscribe = lambda *_: self._subscribed.set()
        self.paho.on_disconnect = self._on_disconnect

    def connect(self, will: tuple[str, bytes] | None = None, *, background: bool = True) -> ReasonCode | None:
        """The CONNACK's reason code, or None if the broker sent none (the connection failed).
        The network loop runs in this thread until the CONNACK, and in paho's thread after an
        accepted one only: a refused client leaves no thread behind to wait for."""
        if will is not None:
            self.paho.will_set(will[0], will[1], qos=1, retain=True)
        try:
            self.paho.connect(self.broker.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError):
            return None
        deadline = time.monotonic() + TIMEOUT_S
        while self.connack.empty() and not self.disconnected.is_set() and time.monotonic() < deadline:
            try:
                rc = self.paho.loop(0.05)
            except (OSError, ssl.SSLError):
                break
            if rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
                break  # a refusal arrives with its CONNACK (already queued by on_connect)
        if self.connack.empty():
            return None
        reason = self.connack.get_nowait()
        if background and not reason.is_failure:
            self.paho.loop_start()
        return reason

    def _on_disconnect(self, client: paho.Client, *_: object) -> None:
        self.disconnected.set()
        client.disconnect()  # no reconnecting: paho's thread ends at once instead of waiting to retry

    def subscribe(self, topic: str, qos: int = 1) -> None:
        self._subscribed.clear()
        self.paho.subscribe(topic, qos)
        assert self._subscribed.wait(TIMEOUT_S), "no SUBACK"

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self.paho.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(TIMEOUT_S)

    def received(self, quiet: float = QUIET_S) -> list[tuple[str, bytes]]:
        """Every message that arrived within `quiet` seconds of the last one."""
        got: list[tuple[str, bytes]] = []
        while True:
            try:
                message = self.messages.get(timeout=quiet)
            except queue.Empty:
                return got
            got.append((message.topic, bytes(message.payload)))

    def drain(self) -> list[tuple[str, bytes]]:
        """The messages that have arrived, without waiting (after `settle()`)."""
        got: list[tuple[str, bytes]] = []
        while not self.messages.empty():
            message = self.messages.get_nowait()
            got.append((message.topic, bytes(message.payload)))
        return got

    def wait_for(self, topic: str, timeout: float = TIMEOUT_S) -> bytes:
        deadline_left = timeout
        while deadline_left > 0:
            try:
                message = self.messages.get(timeout=deadline_left)
            except queue.Empty:
                break
            if message.topic == topic:
                return bytes(message.payload)
        raise AssertionError(f"{self.client_id} got nothing on {topic} within {timeout} s")

    def drop(self) -> None:
        """Vanish without DISCONNECT, so the broker publishes the will (connect it with
        background=False: no network thread to stop)."""
        sock = self.paho.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()
        with contextlib.suppress(OSError):
            self.paho.loop(0)  # a client without a network thread: flush the DISCONNECT


Connect = Callable[..., Client]
"""The `connect` fixture's type."""


@pytest.fixture
def connect(secure_broker: RunningBroker) -> Iterator[Connect]:
    """Make a client of the secure broker; `connect(user, pw)` returns it connected (asserted)."""
    made: list[Client] = []

    def make(username: str | None = None, password: str | None = None, *, expect_ok: bool = True,
             **kwargs: object) -> Client:
        client = Client(secure_broker, username, password, **kwargs)  # type: ignore[arg-type]
        made.append(client)
        if expect_ok:
            rc = client.connect()
            assert rc is not None and not rc.is_failure, f"{username} was refused: {rc}"
        return client

    yield make
    for client in made:
        client.close()
