"""Throwaway databases on the machine's PostgreSQL server (127.0.0.1:5432, trust auth)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from sqlalchemy import create_engine, text

PG_SERVER: Final = "postgresql+psycopg://postgres@127.0.0.1:5432"


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A new, empty database for one test (its URL), dropped afterwards even with sessions open."""
    name = f"fleet_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
