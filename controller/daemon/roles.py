"""The role table the controller enforces: read from the secure profile's ACL file at start, and
again at every resync, so `fleet user add` takes effect without a restart.

Without a file (the open quick-start profile) there is no table and everyone may do everything.
A file that cannot be read at start stops the controller (it would otherwise run open); one that
cannot be read later leaves the last table in force.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from controller.contract.roles import Role, role_table
from controller.errors import FleetError

log = logging.getLogger(__name__)


class RoleTable:
    """Each user's role, from an ACL file's `# role:` marks; `enforced` is False without a file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._roles: Mapping[str, Role] = {}

    @property
    def enforced(self) -> bool:
        return self.path is not None

    def role(self, user: str) -> Role | None:
        return self._roles.get(user)

    def load(self) -> None:
        """Read the file; FleetError (one line) if it cannot be."""
        if self.path is None:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise FleetError(f"cannot read the role table {self.path}: {reason}") from exc
        roles = role_table(text)
        if roles != self._roles:
            log.info("role table %s: %d users (%s)", self.path, len(roles),
                     ", ".join(f"{name} {role.value}" for name, role in sorted(roles.items())))
        self._roles = roles

    def reload(self) -> None:
        """Read the file again; on failure keep the table in force and say so."""
        try:
            self.load()
        except FleetError as exc:
            log.error("%s; the previous role table stays in force", exc)
