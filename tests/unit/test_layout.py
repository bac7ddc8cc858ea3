"""The package layout holds: the daemon's modules import neither the embedded broker nor the
simulator, which are products of their own (README, Architecture)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
DAEMON = sorted(p for p in CONTROLLER.glob("*.py"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("path", DAEMON, ids=lambda p: p.name)
def test_the_daemon_does_not_import_the_broker_or_the_simulator(path: Path) -> None:
    bad = {name for name in imported(path) if name.startswith(("controller.broker", "controller.sim"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_layout_is_there() -> None:
    assert len(DAEMON) > 10
    assert (CONTROLLER / "broker" / "server.py").is_file() and (CONTROLLER / "sim" / "simulator.py").is_file()
