"""Real brokers for tests: the embedded amqtt broker and a Mosquitto process, on loopback ports.

Plain helpers, not fixtures (conftest wraps them). Every broker started here listens on
127.0.0.1 at an ephemeral port; nothing here ever touches port 1883. A missing Mosquitto binary
raises instead of skipping, so CI fails loudly when its broker is gone.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Literal

from controller.broker import conf as brokerconf
from controller.broker.server import EmbeddedBroker
from controller.broker.startup import free_port

log = logging.getLogger(__name__)

MOSQUITTO = Path(os.environ.get("FLEET_TEST_MOSQUITTO", "/usr/sbin/mosquitto"))
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0
KILL_AFTER_S = 5.0
_BIND_ATTEMPTS = 3
_LOG_TAIL_LINES = 20

BrokerKind = Literal["amqtt", "mosquitto"]



def stop_process(process: subprocess.Popen[bytes] | None, name: str) -> None:
    """SIGTERM a broker process and wait, SIGKILL after KILL_AFTER_S; None or one already gone: nothing."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(KILL_AFTER_S)
    except subprocess.TimeoutExpired:
        log.warning("%s ignored SIGTERM; killing it", name)
        process.kill()
        process.wait()

class RunningBroker:
    """A started broker: where it listens, and how to stop or restart it on the same port."""

    kind: BrokerKind

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.listeners: tuple[brokerconf.Listener, ...] = (brokerconf.Listener(port, host),)

    def port_of(self, *, tls: bool) -> int:
        """The port of the first plain (or TLS) listener."""
        return next(listener.port for listener in self.listeners if (listener.tls is not None) == tls)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop the broker; calling it again does nothing."""
        raise NotImplementedError

    def restart(self) -> None:
        """Stop and start again on the same port. Retained messages do not survive it unless the
        configuration turns persistence on."""
        raise NotImplementedError

    def reload(self) -> None:
        """Reread the password file and ACL now (SIGHUP for Mosquitto)."""
        raise NotImplementedError

    def __enter__(self) -> RunningBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.url}>"


class AmqttBroker(RunningBroker):
    """The embedded broker, in this process."""

    kind: BrokerKind = "amqtt"

    def __init__(self, conf: brokerconf.BrokerConf) -> None:
        self._conf = conf
        self._broker = EmbeddedBroker(conf)
        self._broker.start()
        host, port = self._broker.addresses[0]
        super().__init__(host, port)
        self.listeners = tuple(replace(listener, port=bound)
                               for listener, bound in zip(conf.listeners, self._broker.ports, strict=True))

    @property
    def embedded(self) -> EmbeddedBroker:
        return self._broker

    def stop(self) -> None:
        self._broker.stop()

    def restart(self) -> None:
        self._broker.stop()
        self._broker = EmbeddedBroker(brokerconf.with_port(self._conf, self.port))
        self._broker.start()

    def reload(self) -> None:
        self._broker.reload()


class MosquittoBroker(RunningBroker):
    """A Mosquitto process with a config and log file in a test's tmp_path."""

    kind: BrokerKind = "mosquitto"

    def __init__(self, tmp_path: Path, conf_text: str | None, *, exact: brokerconf.BrokerConf | None = None,
                 exact_text: str | None = None) -> None:
        if not MOSQUITTO.is_file():
            raise RuntimeError(f"mosquitto binary not found at {MOSQUITTO}; install mosquitto")
        self._tmp_path = tmp_path
        self._extra = conf_text or ""
        self._exact = exact_text
        self._process: subprocess.Popen[bytes] | None = None
        if exact is not None:
            first = exact.listeners[0]
            super().__init__(first.host or HOST, first.port)
            self.listeners = exact.listeners
            self._launch()
            return
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            super().__init__(HOST, free_port(HOST))
            try:
                self._launch()
                return
            except _PortTaken:
                log.debug("port %d was taken before mosquitto bound it (attempt %d)", self.port, attempt)
        raise RuntimeError(f"mosquitto found no free port in {_BIND_ATTEMPTS} attempts")

    @property
    def conf_path(self) -> Path:
        return self._tmp_path / f"mosquitto-{self.port}.conf"

    @property
    def log_path(self) -> Path:
        return self._tmp_path / f"mosquitto-{self.port}.log"

    @property
    def _output_path(self) -> Path:
        return self._tmp_path / f"mosquitto-{self.port}.out"

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process, f"mosquitto on port {self.port}")

    def restart(self) -> None:
        self.stop()
        try:
            self._launch()
        except _PortTaken:
            raise RuntimeError(f"port {self.port} was taken while mosquitto restarted") from None

    def reload(self) -> None:
        if self._process is None:
            raise RuntimeError("mosquitto is not running")
        mark = self._log_size()
        self._process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "Reloading config." not in self._log_since(mark):
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not reload within {READY_TIMEOUT_S:g} s:\n{self._log_tail()}")
            time.sleep(0.02)
        time.sleep(0.1)  # it reloads, then applies the new credentials to connected clients

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _log_since(self, offset: int) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log_file:
            log_file.seek(offset)
            return log_file.read().decode("utf-8", errors="replace")

    def _launch(self) -> None:
        self._launch_mark = self._log_size()
        self.conf_path.write_text(self._config_text(), encoding="utf-8")
        with self._output_path.open("ab") as output:
            self._process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _config_text(self) -> str:
        if self._exact is not None:
            # The given file as is; Mosquitto started as root would drop to the `mosquitto` user,
            # which cannot read a test's tmp_path: this test-only copy stays root, and logs.
            return "\n".join([self._exact.rstrip("\n"), "", "# added for the test run only",
                              "user root", f"log_dest file {self.log_path}", "log_type all", ""])
        lines = [
            "# written by tests/brokers.py",
            f"listener {self.port} {HOST}",
            # root keeps its privileges, so test files need no chown (see PITFALLS)
            "user root",
            f"log_dest file {self.log_path}",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
        ]
        if "allow_anonymous" not in self._extra:
            lines.append("allow_anonymous true")
        return "\n".join([*lines, self._extra, ""])

    def _wait_ready(self) -> None:
        process = self._process
        if process is None:
            raise RuntimeError("mosquitto was not launched")
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self._log_tail()
                if "Address already in use" in tail:
                    raise _PortTaken
                raise RuntimeError(f"mosquitto exited with {process.returncode} on port {self.port}:\n{tail}")
            # "running" comes after the signal handlers are installed: a SIGHUP before it kills it.
            if _accepts_connections(self.host, self.port) and " running" in self._log_since(self._launch_mark):
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"mosquitto did not listen on port {self.port} within {READY_TIMEOUT_S:g} s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        lines: list[str] = []
        for path in (self._output_path, self.log_path):
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(mosquitto wrote no log)"


class _PortTaken(Exception):
    """Another process bound the chosen port between picking it and Mosquitto binding it."""


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def start_amqtt(conf_text: str | None = None) -> AmqttBroker:
    """Start the embedded broker. `conf_text` is a broker.conf body (default: open, loopback);
    its first listener's port is always replaced by an ephemeral one."""
    conf = brokerconf.parse(conf_text or f"listener 0 {HOST}\nallow_anonymous true\n", "<test>")
    return AmqttBroker(brokerconf.with_port(conf, 0))


def start_mosquitto(tmp_path: Path, conf_text: str | None = None) -> MosquittoBroker:
    """Start Mosquitto on an ephemeral loopback port. `conf_text` is appended to the generated
    config (no `listener` needed; `allow_anonymous true` is added unless it sets allow_anonymous)."""
    return MosquittoBroker(tmp_path, conf_text)


def start_from_file(kind: BrokerKind, conf_path: Path, tmp_path: Path) -> RunningBroker:
    """Start the embedded broker or Mosquitto from the same broker.conf file (its ports as they
    are). Mosquitto runs a test-only copy that adds `user root` and a log file, nothing else."""
    conf = brokerconf.load(conf_path)
    if kind == "amqtt":
        return AmqttBroker(conf)
    return MosquittoBroker(tmp_path, None, exact=conf, exact_text=conf_path.read_text(encoding="utf-8"))
