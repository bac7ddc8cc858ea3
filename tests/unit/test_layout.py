"""The package layout holds (README, Architecture): the contract and the core are pure, and the
daemon imports neither the embedded broker nor the simulator, which are products of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
IO_LIBRARIES = ("paho", "amqtt", "sqlalchemy", "sqlmodel", "alembic", "rich", "typer", "prometheus_client")
PURE = sorted((CONTROLLER / "contract").glob("*.py")) + sorted((CONTROLLER / "core").glob("*.py"))
DAEMON = sorted(p for p in CONTROLLER.rglob("*.py")
                if p.relative_to(CONTROLLER).parts[0] in ("contract", "core", "daemon", "adapters"))


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _name(path: Path) -> str:
    return str(path.relative_to(CONTROLLER))


@pytest.mark.parametrize("path", DAEMON, ids=_name)
def test_the_daemon_does_not_import_the_broker_or_the_simulator(path: Path) -> None:
    other_products = ("controller.broker", "controller.sim", "controller.cli")
    bad = {name for name in imported(path) if name.startswith(other_products)}
    assert not bad, f"{_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", PURE, ids=_name)
def test_the_contract_and_the_core_are_pure(path: Path) -> None:
    names = imported(path)
    libraries = {n for n in names if n.split(".")[0] in IO_LIBRARIES}
    assert not libraries, f"{_name(path)} imports {sorted(libraries)}"
    allowed = ("controller.contract", "controller.core", "controller.errors", "controller.logtext")
    if path.parent.name == "contract":
        allowed = ("controller.contract", "controller.errors", "controller.logtext")
    layers = {n for n in names if n.startswith("controller.") and not n.startswith(allowed)}
    assert not layers, f"{_name(path)} imports {sorted(layers)}"


def test_the_layout_is_there() -> None:
    for package in ("contract", "core", "daemon", "adapters", "broker", "sim", "cli"):
        assert (CONTROLLER / package / "__init__.py").is_file(), package
    assert len(PURE) > 8 and len(DAEMON) > len(PURE)


MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 300
MODULES = sorted(p for p in CONTROLLER.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_and_classes_stay_small(path: Path) -> None:
    """A module past 500 lines or a class past 300 owns more than one thing: a room to split."""
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") <= MAX_MODULE_LINES, f"{_name(path)} has {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            assert size <= MAX_CLASS_LINES, f"{_name(path)}: class {node.name} has {size} lines"


@pytest.mark.parametrize("path", sorted((CONTROLLER / "daemon").glob("*.py")), ids=_name)
def test_the_daemon_reaches_the_broker_and_the_database_only_through_adapters(path: Path) -> None:
    libraries = {n for n in imported(path) if n.split(".")[0] in IO_LIBRARIES}
    assert not libraries, f"{_name(path)} imports {sorted(libraries)}"
