"""The roles of user accounts, and where the secure profile keeps them: the `# role: X` mark above
each `user NAME` line of its ACL file.

The broker's admin (`controller.broker.profile`) writes the marks; the controller reads them to
learn what each requesting user may do (`controller.core.access`). Pure text in, values out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum

ROLE_MARK = "# role: "


class Role(StrEnum):
    """What a user account (not a device) is for."""

    LECTURER = "lecturer"
    OPERATOR = "operator"
    ADMIN = "admin"
    CONTROLLER = "controller"


_ROLES = {r.value: r for r in Role}


def user_of(line: str) -> str | None:
    """The NAME of a `user NAME` line of an ACL file, else None."""
    keyword, _, rest = line.strip().partition(" ")
    return rest.strip() if keyword == "user" and rest.strip() else None


def acl_users(text: str) -> Iterator[tuple[str, Role | None]]:
    """Each `user` block of an ACL file, with the role its mark gives (None: no mark, or an unknown
    role, as in a hand-written block)."""
    previous = ""
    for raw in text.splitlines():
        line = raw.strip()
        if (name := user_of(line)) is not None:
            mark = previous.removeprefix(ROLE_MARK).strip() if previous.startswith(ROLE_MARK) else ""
            yield name, _ROLES.get(mark)
        if line:
            previous = line


def role_table(text: str) -> Mapping[str, Role]:
    """Every marked user of an ACL file and its role."""
    return {name: role for name, role in acl_users(text) if role is not None}
