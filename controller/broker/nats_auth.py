"""The secure profile's accounts as a NATS server `authorization` block (a 3-node NATS cluster
serving MQTT): the same accounts, roles and topics as the Mosquitto ACL of `controller.broker.profile`,
written as NATS users with subject permissions.

NATS checks an MQTT client's topics after turning them into subjects: `/` becomes `.`, `+` becomes
`*` and `#` becomes `>`. So a name with `.` in it would be two subject tokens (it is refused here),
and a subscription is refused outright (SUBACK failure) when its filter is broader than the
permission, where Mosquitto would grant it and filter deliveries. A publish the permissions deny is
dropped but still acknowledged. The MQTT layer's own subjects (`$MQTT.>`: sessions, retained
messages, QoS 1 consumers) are allowed implicitly to MQTT clients since nats-server 2.12
(nats-server #7637), so they are not listed; every account may connect over MQTT only.

NATS has no `%u` patterns: each device gets its own user entry, generated from the password file.
Passwords are bcrypt hashes (`$2a$`), the only hash NATS reads; `fleet device provision` and
`fleet user add` write them next to the Mosquitto hashes when the profile has a NATS side.
Pure text: `controller.broker.credentials` reads and writes the files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from controller.broker.profile import ProfileError, check_root
from controller.contract.roles import Role
from controller.contract.topics import BROKER_DROPPED

BCRYPT_COST = 11
"""What nats-server's own password tool uses: about 0.1 s a check, paid at every connect."""


def subject(topic: str) -> str:
    """An MQTT topic or filter as the NATS subject it is checked as."""
    return topic.replace("/", ".").replace("+", "*").replace("#", ">")


def check_name(name: str) -> str:
    """`name` if it is one subject token (NATS also refuses such client ids), else ProfileError."""
    if not name or any(c in name for c in ". *>") or any(c.isspace() for c in name):
        raise ProfileError(f"account {name!r} cannot be used on NATS: no '.', spaces, '*' or '>' in a name")
    return name


@dataclass(frozen=True, slots=True)
class Permissions:
    """What one account may publish and subscribe to (MQTT topics); `deny` is denied both ways."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny: tuple[str, ...] = ()


def device_permissions(root: str, device_id: str) -> Permissions:
    """A device's own topics, as the ACL's `%u` patterns give them."""
    own = f"{check_root(root)}/devices/{check_name(device_id)}"
    return Permissions(
        publish=(f"{own}/status", f"{own}/heartbeat", f"{own}/state", f"{own}/attendance", f"{own}/update/state"),
        subscribe=(f"{own}/config", f"{own}/attendance/ack", f"{own}/update", f"{root}/controller/status"),
    )


def user_permissions(root: str, name: str, role: Role) -> Permissions:
    """A user account's topics, as `profile.user_block` gives them (the same lines, split by direction)."""
    devices = f"{check_root(root)}/devices"
    deny = (f"{devices}/{check_name(name)}/#",)  # never a fake device named after the user
    if role is Role.CONTROLLER:
        return Permissions(
            publish=(f"{devices}/+/status", f"{devices}/+/state", f"{devices}/+/config", f"{devices}/+/attendance/ack",
                     f"{devices}/+/update", f"{devices}/+/update/state", f"{root}/controller/status",
                     f"{root}/controller/probe/+", f"{root}/clients/+/replies"),
            subscribe=(f"{devices}/+/status", f"{devices}/+/heartbeat", f"{devices}/+/state",
                       f"{devices}/+/attendance", f"{devices}/+/update/state", f"{root}/controller/status",
                       f"{root}/controller/probe/+", f"{root}/controller/requests/+", BROKER_DROPPED),
            deny=deny,
        )
    watch: tuple[str, ...] = ()
    if role in (Role.OPERATOR, Role.ADMIN):
        watch = (f"{devices}/+/status", f"{devices}/+/heartbeat", f"{devices}/+/state", f"{devices}/+/update/state")
    return Permissions(
        publish=(f"{root}/controller/requests/{name}",),
        subscribe=(f"{root}/clients/{name}/replies", f"{root}/controller/status", *watch),
        deny=deny,
    )


def _user_entry(name: str, password_hash: str, permissions: Permissions, comment: str) -> list[str]:
    def listed(topics: tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(subject(t)) for t in topics) + "]"

    deny = f", deny: {listed(permissions.deny)}" if permissions.deny else ""
    return [
        f"    # {comment}",
        f"    {{user: {json.dumps(name)}, password: {json.dumps(password_hash)}, allowed_connection_types: [\"MQTT\"],",
        f"     permissions: {{publish: {{allow: {listed(permissions.publish)}{deny}}},",
        f"                   subscribe: {{allow: {listed(permissions.subscribe)}{deny}}}}}}}",
    ]


def authorization_text(root: str, roles: Mapping[str, Role], hashes: Mapping[str, str]) -> str:
    """The `authorization` block (a file each node's config includes) for the accounts of a secure
    profile: `hashes` (name → bcrypt hash) holds devices and users, `roles` says which are users.
    An account without a bcrypt hash (made before the profile had a NATS side) is left out, and
    so cannot log in to NATS until its password is issued again."""
    check_root(root)
    lines = [
        f"# Accounts of the attendance fleet under topic root {root!r} for a NATS cluster serving MQTT.",
        "# Written by `fleet secure-profile --engine nats`, `fleet device provision|revoke` and",
        "# `fleet user add|remove`; include it in each node's config and reload (nats-server --signal reload).",
        "authorization {",
        "  users: [",
    ]
    for name in sorted(hashes):
        role = roles.get(name)
        if role is None:
            lines += _user_entry(name, hashes[name], device_permissions(root, name), "device")
        else:
            lines += _user_entry(name, hashes[name], user_permissions(root, name, role), role.value)
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def hash_password(password: str, *, cost: int = BCRYPT_COST) -> str:
    """A `$2a$` bcrypt hash of `password`, the form nats-server reads."""
    import bcrypt  # only a NATS profile needs it

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=cost, prefix=b"2a")).decode("ascii")
