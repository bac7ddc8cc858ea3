"""The `fleet up` state file: where it lives, and that anything wrong with it means "no stack", quietly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controller.cli import runstate
from controller.cli.runstate import RunState

HOME = Path("/home/alice")
STATE = RunState("mqtt://127.0.0.1:40123", "fleet", 4242)


def always(_pid: int) -> bool:
    return True


def never(_pid: int) -> bool:
    return False


def test_the_path_follows_the_xdg_base_directories() -> None:
    assert runstate.state_path({"XDG_RUNTIME_DIR": "/run/user/1000", "XDG_STATE_HOME": "/s"}, HOME) == Path(
        "/run/user/1000/fleet/up.json")
    assert runstate.state_path({"XDG_STATE_HOME": "/s"}, HOME) == Path("/s/fleet/up.json")
    assert runstate.state_path({}, HOME) == HOME / ".local/state/fleet/up.json"
    assert runstate.state_path({"XDG_RUNTIME_DIR": "relative", "XDG_STATE_HOME": ""}, HOME) == (
        HOME / ".local/state/fleet/up.json")


def test_a_written_state_is_read_back_and_private(tmp_path: Path) -> None:
    path = tmp_path / "fleet" / "up.json"
    runstate.write(path, STATE)
    assert runstate.read(path, alive=always) == STATE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["up.json"]  # no temporary file left


def test_missing_stale_and_corrupt_files_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "up.json"
    assert runstate.read(path, alive=always) is None  # missing
    runstate.write(path, STATE)
    assert runstate.read(path, alive=never) is None  # its process is gone
    for corrupt in (b"", b"{", b"\xff\xfe", b"[]", b'{"v": 1}', b'{"v": 2, "broker_url": "x", "root": "r", "pid": 1}',
                    b'{"v": 1, "broker_url": "x", "root": "r", "pid": "1"}',
                    b'{"v": 1, "broker_url": "x", "root": "r", "pid": -3}', b"x" * 10_000):
        path.write_bytes(corrupt)
        assert runstate.read(path, alive=always) is None, corrupt
    path.unlink()
    path.mkdir()  # not even a file
    assert runstate.read(path, alive=always) is None
    assert not [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")]


def test_pid_alive() -> None:
    assert runstate.pid_alive(os.getpid())
    assert not runstate.pid_alive(2**22 + 1)  # above Linux's pid_max


def test_remove_leaves_a_file_another_fleet_up_wrote(tmp_path: Path) -> None:
    path = tmp_path / "up.json"
    runstate.write(path, STATE)
    runstate.remove(path, pid=1)
    assert path.exists()
    runstate.remove(path, pid=STATE.pid)
    assert not path.exists()
    runstate.remove(path, pid=STATE.pid)  # already gone: fine
