"""Unit tests for controller.contract.roles: the role marks of an ACL file, as the controller reads them."""

from __future__ import annotations

from controller.contract.roles import Role, acl_users, role_table

ACL = """pattern write fleet/devices/%u/status

# role: lecturer
user alice
topic write fleet/controller/requests/alice

# role: admin
user ada

user hand
topic read #

# role: wizard
user merlin
# role: operator
user  olga
"""


def test_marked_users_have_their_role_and_others_none() -> None:
    assert list(acl_users(ACL)) == [("alice", Role.LECTURER), ("ada", Role.ADMIN), ("hand", None), ("merlin", None),
                                    ("olga", Role.OPERATOR)]
    assert dict(role_table(ACL)) == {"alice": Role.LECTURER, "ada": Role.ADMIN, "olga": Role.OPERATOR}


def test_an_empty_file_has_no_users() -> None:
    assert role_table("") == {}
