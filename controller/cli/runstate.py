"""Where a running `fleet up` can be found: a small state file it writes and removes on exit.

`fleet up` may run its broker on a random port (1883 taken); the file tells every other `fleet`
command of the same user the broker URL and topic root, so a second terminal needs no flags. The
CLI reads it only when neither `--broker` nor `FLEET_BROKER_URL` is given, and ignores a file that
is missing, unreadable, malformed or stale (its pid is not alive) — never an error.

The location follows the XDG base directories: `$XDG_RUNTIME_DIR/fleet/up.json` (per login, in
memory, gone at logout), else `$XDG_STATE_HOME` (`~/.local/state`)`/fleet/up.json`. The path is
computed from an environment mapping and a home directory handed in, so tests choose it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

FILE_NAME: Final = "up.json"
FORMAT_VERSION: Final = 1
_MAX_BYTES: Final = 4096


@dataclass(frozen=True)
class RunState:
    """A running `fleet up`: its broker, topic root and process id."""

    broker_url: str
    root: str
    pid: int

    def encode(self) -> str:
        return json.dumps({"v": FORMAT_VERSION, "broker_url": self.broker_url, "root": self.root, "pid": self.pid})

    @classmethod
    def decode(cls, text: str) -> RunState | None:
        """The state in `text`, or None if it is not a state file of this version."""
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
            return None
        url, root, pid = obj.get("broker_url"), obj.get("root"), obj.get("pid")
        if not (isinstance(url, str) and url and isinstance(root, str) and root and type(pid) is int and pid > 0):
            return None
        return cls(url, root, pid)


def state_path(env: Mapping[str, str], home: Path) -> Path:
    """`$XDG_RUNTIME_DIR/fleet/up.json`, else `$XDG_STATE_HOME` (or `home/.local/state`)`/fleet/up.json`.
    Relative XDG paths are ignored, as the spec says."""
    for name in ("XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
        value = env.get(name, "")
        if value and Path(value).is_absolute():
            return Path(value) / "fleet" / FILE_NAME
    return home / ".local" / "state" / "fleet" / FILE_NAME


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts: it exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def read(path: Path, alive: Callable[[int], bool] = pid_alive) -> RunState | None:
    """The running stack recorded at `path`; None if there is none, or the file is bad or stale."""
    try:
        with path.open("rb") as f:
            data = f.read(_MAX_BYTES + 1)
    except OSError:
        return None
    state = None if len(data) > _MAX_BYTES else RunState.decode(data.decode("utf-8", "replace"))
    if state is None:
        log.debug("ignoring %s: not a fleet up state file", path)
        return None
    if not alive(state.pid):
        log.debug("ignoring %s: process %d is gone", path, state.pid)
        return None
    return state


def write(path: Path, state: RunState) -> None:
    """Record `state` at `path` (private to the user: the URL may hold a password); atomic. OSError if
    the directory cannot be made or written."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{state.pid}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(state.encode())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def remove(path: Path, pid: int) -> None:
    """Remove the file if it still records process `pid` (a later `fleet up` may have replaced it)."""
    try:
        current = RunState.decode(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return
    if current is None or current.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()
