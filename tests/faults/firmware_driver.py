"""The firmware core's fuzz driver (firmware/fuzz/fuzz_driver.cpp) as a Python object.

One `fleet-fuzz-driver` process per test module; each call writes one frame to its stdin and reads
one line back. A crash (a sanitizer report, an abort) or a hang fails the call with the input and
the driver's stderr, and the next call starts a fresh process. The binary is built by `make -C
firmware host` (`make test` does it first) and brought up to date here.
"""

from __future__ import annotations

import json
import os
import selectors
import struct
import subprocess
import time
from pathlib import Path
from typing import Any, Final

REPO: Final = Path(__file__).resolve().parents[2]
DRIVER: Final = REPO / "firmware" / "build" / "host" / "fleet-fuzz-driver"
REPLY_TIMEOUT_S: Final = 10.0
SANITIZER_MARKS: Final = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: ")
_ENV: Final = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:allocator_may_return_null=0",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


class DriverFailed(AssertionError):
    """The driver crashed, hung, or reported a memory error or undefined behaviour."""


def ensure_built() -> Path:
    """The driver, rebuilt if the core changed since (an incremental build: about a second)."""
    build_dir = DRIVER.parent
    if (build_dir / "CMakeCache.txt").exists():
        command = ["cmake", "--build", str(build_dir), "--target", DRIVER.name]
    else:
        command = ["make", "-C", str(REPO / "firmware"), "host"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    if not DRIVER.exists():
        raise DriverFailed(f"{DRIVER} was not built by {' '.join(command)}")
    return DRIVER


def frame(kind: str, aux: bytes, data: bytes) -> bytes:
    return kind.encode() + struct.pack("<H", len(aux)) + aux + struct.pack("<I", len(data)) + data


class FuzzDriver:
    """A running fleet-fuzz-driver; `call()` one frame at a time."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.calls = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._buffer = b""

    def _start(self) -> subprocess.Popen[bytes]:
        self._buffer = b""
        self._proc = subprocess.Popen([str(self.binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env={**os.environ, **_ENV})
        return self._proc

    def call(self, kind: str, aux: bytes, data: bytes) -> str:
        """The driver's answer line for one frame; DriverFailed if it dies or hangs on it."""
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None
        self.calls += 1
        try:
            proc.stdin.write(frame(kind, aux, data))
            proc.stdin.flush()
            return self._read_line(proc)
        except (BrokenPipeError, DriverFailed) as exc:
            raise DriverFailed(f"fleet-fuzz-driver failed on {kind!r} aux={aux!r} data={data[:400]!r}:\n"
                               f"{self._stop_and_tail(proc)}") from exc

    def _read_line(self, proc: subprocess.Popen[bytes]) -> str:
        assert proc.stdout is not None
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise DriverFailed(f"no answer within {REPLY_TIMEOUT_S:g} s")
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    raise DriverFailed("the driver exited")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", errors="replace")

    def _stop_and_tail(self, proc: subprocess.Popen[bytes]) -> str:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=10)
        self._proc = None
        return f"exit {proc.returncode}\n" + err.decode("utf-8", errors="replace")[-4000:]

    def decoded(self, kind: str, aux: bytes, data: bytes) -> tuple[str | None, dict[str, Any] | None]:
        """(None, fields) when a decoder accepts, (reason, None) when it rejects."""
        line = self.call(kind, aux, data)
        if line.startswith("ok "):
            fields: dict[str, Any] = json.loads(line[3:])
            return None, fields
        if line.startswith("reject "):
            return line[len("reject "):], None
        raise DriverFailed(f"unexpected answer {line!r}")

    def allocated(self) -> int:
        return int(self.call("m", b"", b"").split()[1])

    def close(self) -> str:
        """End the process; its stderr (empty when clean). DriverFailed on a non-zero exit or a
        sanitizer report (LeakSanitizer runs at exit)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        _, err = proc.communicate(timeout=30)  # closes stdin: the driver exits at end of input
        text = err.decode("utf-8", errors="replace")
        if proc.returncode != 0 or any(mark in text for mark in SANITIZER_MARKS):
            raise DriverFailed(f"fleet-fuzz-driver exited {proc.returncode}:\n{text[-4000:]}")
        return text
