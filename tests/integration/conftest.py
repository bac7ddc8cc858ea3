"""Fixtures of the integration tests: the store on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.store import Store
from tests.databases import throwaway_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on a SQLite file, then on a database of its own on the local PostgreSQL."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'fleet.db'}")
        yield s
        s.close()
        return
    with throwaway_postgres() as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.close()
