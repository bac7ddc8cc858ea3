"""The database the store writes: the engine (migrated at open), and the transaction helpers that
turn database errors into StoreError at the store's boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session

from controller.adapters.tables import make_engine, migrate
from controller.errors import StoreError


class Database:
    """An open, migrated database and its transactions."""


    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            migrate(self.engine)
        except (OperationalError, ValueError, ImportError) as exc:
            raise StoreError(f"cannot open database {url}: {str(exc).splitlines()[0]}") from exc
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        self.answered = True
        self.fence: Callable[[Session], None] | None = None
        """Run first in every writing transaction: with `--ha lease`, the check that this controller
        still holds the lease (it raises LeaseLost), so a deposed leader never commits; None: none."""

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Database errors leave the store as StoreError, carrying the database's first line;
        `answered` records whether the database answered this use (the controller's readiness)."""
        try:
            yield
        except SQLAlchemyError as exc:
            self.answered = False
            raise StoreError(str(exc).splitlines()[0]) from exc
        self.answered = True

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with self._translated(), Session(self.engine) as s:
            yield s

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._translated(), Session(self.engine) as s, s.begin():
            self._fenced(s)
            yield s

    @contextmanager
    def _unfenced(self) -> Iterator[Session]:
        """A writing transaction the fence does not guard: the lease's own."""
        with self._translated(), Session(self.engine) as s, s.begin():
            yield s

    def _fenced(self, s: Session) -> None:
        if self.fence is not None:
            self.fence(s)

