"""Processes the benchmark runs and watches: Mosquitto, `fleet ...` commands, helper scripts.

Every broker listens on 127.0.0.1 at a port the OS picked; nothing here touches port 1883.
CPU time and RSS are read from /proc, so a figure costs no extra dependency.
"""

from __future__ import annotations

import logging
import os
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import controller
from controller.broker.startup import free_port

log = logging.getLogger(__name__)

MOSQUITTO: Final = Path(os.environ.get("FLEET_BENCH_MOSQUITTO", "/usr/sbin/mosquitto"))
HOST: Final = "127.0.0.1"
SOURCE_ROOT: Final = Path(controller.__file__).resolve().parent.parent
"""Where `controller` and `cli` are imported from; child processes import the same code."""
_CLK_TCK: Final = os.sysconf("SC_CLK_TCK")
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to the hard limit (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def wait_until(what: str, done: Callable[[], bool], timeout: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def wait_listening(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:g} s")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float
    rss_bytes: int


def usage(pid: int) -> Usage:
    """CPU seconds (user + system) and resident set size of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime (fields 14 and 15)
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return Usage(cpu, rss_pages * _PAGE)


class Proc:
    """A child process with its output in a log file; `stop()` ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("ab") as out:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=SOURCE_ROOT, start_new_session=True,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def usage(self) -> Usage:
        return usage(self.pid)

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s ignored SIGTERM for %.0f s; killing it", self.name, timeout)
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE_ROOT), env.get("PYTHONPATH")]))
    env.pop("FLEET_BROKER_URL", None)
    env.pop("FLEET_DB_URL", None)
    env.pop("FLEET_TOPIC_ROOT", None)
    return env


def fleet_command() -> list[str]:
    """How to run `fleet`: this checkout's `cli` by default; `FLEET_BENCH_FLEET` (a command line)
    replaces it, e.g. to measure an installed `fleet` or a patched controller in a what-if run."""
    override = os.environ.get("FLEET_BENCH_FLEET")
    return shlex.split(override) if override else [sys.executable, "-c", "import cli; cli.main()"]


def fleet(name: str, workdir: Path, *args: str) -> Proc:
    """`fleet ARGS...` as a user runs it."""
    return Proc(name, [*fleet_command(), *args], workdir, child_env())


def python_module(name: str, workdir: Path, module: str, *args: str) -> Proc:
    return Proc(name, [sys.executable, "-m", module, *args], workdir, child_env())


class Mosquitto(Proc):
    """Mosquitto on an ephemeral loopback port with a config of the benchmark's own."""

    def __init__(self, name: str, workdir: Path, extra: str = "") -> None:
        if not MOSQUITTO.is_file():
            raise RuntimeError(f"mosquitto not found at {MOSQUITTO}; install the mosquitto package")
        self.port = free_port()
        conf = workdir / f"{name}.conf"
        conf.write_text("\n".join([
            f"listener {self.port} {HOST}",
            "allow_anonymous true",
            "user root",  # keeps root's privileges: the temp files need no chown (PITFALLS)
            "max_connections -1",
            "persistence false",
            "set_tcp_nodelay true",  # as the deployment profile (deploy/broker.conf) has it
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            extra,
            "",
        ]))
        super().__init__(name, [str(MOSQUITTO), "-c", str(conf)], workdir)
        wait_listening(self.port, 10.0, self.popen)

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"


class CpuWindow:
    """CPU seconds a process used between `__init__` and `end()`, as a share of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0 = time.monotonic()
        self.cpu0 = usage(pid).cpu_s

    def end(self) -> tuple[float, float]:
        """(cpu seconds, share of one core) since the start."""
        cpu = usage(self.pid).cpu_s - self.cpu0
        return cpu, cpu / max(1e-9, time.monotonic() - self.t0)


def established_to(pid: int, port: int) -> int:
    """TCP connections of process `pid` that are established to local port `port` (IPv4)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    want = f"{port:04X}"
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[3] == "01" and fields[2].endswith(":" + want) and fields[9] in inodes:
                count += 1
    return count


class MachineBusy:
    """How many cores the whole machine kept busy between `__init__` and `end()` (from /proc/stat)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.busy0 = self._busy_jiffies()

    @staticmethod
    def _busy_jiffies() -> int:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]) - idle

    def end(self) -> float:
        return (self._busy_jiffies() - self.busy0) / _CLK_TCK / max(1e-9, time.monotonic() - self.t0)
