"""The secure broker profile as text: the `broker.conf` both brokers run, and its least-privilege ACL.

Accounts and what the ACL lets them do (topic root `fleet` by default):

- device, username = client id = device id: publishes its own status, heartbeat, state, attendance
  and update state; receives its own config, attendance/ack and update command, and the controller
  status;
- controller (e.g. `controller`): receives every device's status, heartbeat, state, attendance and
  update state, and the requests; publishes configs, acks, update commands, replies and the
  controller status, and may clear a device's retained status, state and update state (`fleet
  device forget`). Only the controller publishes update commands: an admin starts a rollout through
  the controller's requests, never by writing a device's update topic;
- lecturer (e.g. `alice`): publishes requests on its own requests topic
  (`{root}/controller/requests/{username}`); receives its own replies
  (`{root}/clients/{username}/replies`) and the controller status;
- operator: requests and replies as a lecturer; receives every device's status, heartbeat, state
  and update state, and the controller status (not configs, which hold Wi-Fi passwords, nor
  attendance);
- admin: both a lecturer's and an operator's.

What each role may ask the controller is not the broker's business: the controller reads the
roles from this file's `# role:` marks (`controller.contract.roles`, `controller.core.access`).
The requests topic is named in each user block, not by a `%u` pattern, so a device account
cannot send requests at all.

Devices are covered by `%u` patterns, so provisioning a device never touches the ACL. Patterns
apply to every account in Mosquitto, so each user block starts with `deny {root}/devices/{name}/#`:
without it a lecturer could publish as a fake device named after itself. `%c` is never used: the
client id is chosen by the client, the username is authenticated.

The topic root is written into the ACL; another root needs another ACL (`--root` when generating).
Pure text: `controller.broker.credentials` reads and writes the files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.broker.conf import DEFAULT_PORT
from controller.contract.messages import MAX_PACKET_SIZE
from controller.contract.roles import ROLE_MARK, Role, acl_users, user_of
from controller.contract.topics import BROKER_DROPPED
from controller.errors import FleetError

USER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_TLS_PORT = 8883
AUTOSAVE_INTERVAL_S = 10


MAX_QUEUED_MESSAGES = 100_000
"""What a broker holds for one client beyond the 20 messages in flight: a controller a few seconds
behind a 10,000-device fleet reconnecting at once (3 messages a device) keeps everything."""

MAX_QUEUED_BYTES = 64 * 1024 * 1024
"""Of that, QoS 1 payloads at most (a lecturer who stops reading 16 MiB replies)."""


class ProfileError(FleetError):
    """A profile or account that cannot be generated; the message is one line."""


def valid_user_name(name: str) -> bool:
    """Letters, digits, `.`, `_`, `-`; 1..64 characters starting with a letter or digit."""
    return USER_NAME_RE.fullmatch(name) is not None


def check_root(root: str) -> str:
    """`root` if it can be written into ACL lines (no wildcards, spaces or empty levels)."""
    if not root or any(c in root for c in "+#") or any(c.isspace() for c in root) or "" in root.split("/"):
        raise ProfileError(f"topic root {root!r} cannot be used in an ACL: no +, #, spaces or empty levels")
    return root


# --- the ACL --------------------------------------------------------------------------------------


def device_patterns(root: str) -> list[str]:
    """What every device (username = device id) may do, as `%u` patterns."""
    devices = f"{check_root(root)}/devices/%u"
    return [
        f"pattern write {devices}/status",
        f"pattern write {devices}/heartbeat",
        f"pattern write {devices}/state",
        f"pattern write {devices}/attendance",
        f"pattern write {devices}/update/state",
        f"pattern read {devices}/config",
        f"pattern read {devices}/attendance/ack",
        f"pattern read {devices}/update",
        # No %u or %c: Mosquitto logs a warning at start, and grants it to every account, as meant.
        f"pattern read {root}/controller/status",
    ]


def user_block(root: str, name: str, role: Role) -> list[str]:
    """The ACL lines of one user account, starting with its role mark."""
    if not valid_user_name(name):
        raise ProfileError(f"bad user name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    devices = f"{check_root(root)}/devices"
    lines = [f"{ROLE_MARK}{role.value}", f"user {name}", f"topic deny {devices}/{name}/#"]
    if role is Role.CONTROLLER:
        lines += [
            f"topic readwrite {devices}/+/status",
            f"topic read {devices}/+/heartbeat",
            f"topic readwrite {devices}/+/state",
            f"topic read {devices}/+/attendance",
            f"topic write {devices}/+/config",
            f"topic write {devices}/+/attendance/ack",
            f"topic write {devices}/+/update",
            f"topic readwrite {devices}/+/update/state",
            f"topic readwrite {root}/controller/status",
            f"topic readwrite {root}/controller/probe/+",  # the start's check that $share is honoured
            f"topic read {root}/controller/requests/+",
            f"topic write {root}/clients/+/replies",
            f"topic read {BROKER_DROPPED}",  # Mosquitto's count of messages dropped for full queues
        ]
        return lines
    lines += [  # every other role uses the request API, as itself only
        f"topic write {root}/controller/requests/{name}",
        f"topic read {root}/clients/{name}/replies",
    ]
    if role in (Role.OPERATOR, Role.ADMIN):
        lines += [
            f"topic read {devices}/+/status",
            f"topic read {devices}/+/heartbeat",
            f"topic read {devices}/+/state",
            f"topic read {devices}/+/update/state",
        ]
    return lines


def acl_text(root: str, users: Mapping[str, Role] | None = None) -> str:
    """A whole ACL file for topic root `root` and the given user accounts."""
    lines = [
        f"# Access control of the attendance fleet under topic root {check_root(root)!r} (Mosquitto acl_file).",
        "# Written by `fleet secure-profile`; `fleet user add` edits the user blocks. Another topic root",
        "# needs another file: fleet --root ROOT secure-profile DIR.",
        "#",
        "# Devices: username = client id = device id; each reaches its own topics only.",
        *device_patterns(root),
    ]
    for name in sorted(users or {}):
        lines += ["", *user_block(root, name, (users or {})[name])]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class AclUsers:
    """Who an ACL file of ours knows: its topic root and the user accounts (not devices) in it."""

    root: str | None
    roles: Mapping[str, Role]
    other_users: frozenset[str] = frozenset()  # `user` blocks without a role mark (hand-written)

    def is_user(self, name: str) -> bool:
        return name in self.roles or name in self.other_users


def read_acl_users(text: str) -> AclUsers:
    """The root (from the device status pattern) and the user blocks of an ACL file."""
    root: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("pattern write ") and line.endswith("/devices/%u/status"):
            root = line.removeprefix("pattern write ").removesuffix("/devices/%u/status")
            break
    roles: dict[str, Role] = {}
    others: set[str] = set()
    for name, role in acl_users(text):
        if role is None:
            others.add(name)
        else:
            roles[name] = role
    return AclUsers(root, roles, frozenset(others))


def with_user(text: str, root: str, name: str, role: Role) -> str:
    """`text` with the user block of `name` replaced by (or appended as) one for `role`."""
    kept = without_user(text, name).rstrip("\n")
    return kept + "\n\n" + "\n".join(user_block(root, name, role)) + "\n"


def without_user(text: str, name: str) -> str:
    """`text` without the block of user `name`: its role mark, `user` line and the lines up to the
    next role mark, `user` or `pattern` line."""
    out: list[str] = []
    skipping = False
    for raw in text.splitlines():
        line = raw.strip()
        if user_of(line) == name:
            skipping = True
            if out and out[-1].strip().startswith(ROLE_MARK):
                out.pop()
            continue
        if skipping and (user_of(line) is not None or line.startswith(("pattern ", ROLE_MARK))):
            skipping = False
        if not skipping:
            out.append(raw)
    return "\n".join(out).rstrip("\n") + "\n"


# --- the broker.conf ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileSpec:
    """Where a secure profile lives and what it listens on. Paths must be absolute."""

    directory: Path
    data_dir: Path
    port: int = DEFAULT_PORT
    tls_port: int = DEFAULT_TLS_PORT
    tls_host: str | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    cafile: Path | None = None

    @property
    def conf_path(self) -> Path:
        return self.directory / "broker.conf"

    @property
    def password_file(self) -> Path:
        return self.directory / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.directory / "acl"

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def broker_conf_text(spec: ProfileSpec) -> str:
    """The secure profile's broker.conf: anonymous off, password file, ACL, persistence, listeners."""
    _check_spec(spec)
    conf = spec.conf_path
    lines = [
        "# Secure broker profile of the ESP32 attendance fleet (Mosquitto syntax), written by",
        "# `fleet secure-profile`. The same file runs either broker:",
        f"#   fleet broker --config {conf}      the embedded broker",
        f"#   mosquitto -c {conf}               Mosquitto 2",
        "# Accounts: `fleet device provision ID`, `fleet device revoke ID` and `fleet user add NAME --role",
        f"# lecturer|operator|admin|controller`, each with --config {conf}; they write the",
        "# password file and the ACL below (mode 0600). The embedded broker rereads both within a second;",
        "# Mosquitto on reload (kill -HUP, systemctl reload mosquitto).",
        "",
        "# Every client authenticates; the ACL gives each account its own topics only.",
        "allow_anonymous false",
        f"password_file {spec.password_file}",
        f"acl_file {spec.acl_file}",
        "",
        "# Retained messages (presence, reported states, configs) survive a restart: saved at shutdown",
        f"# and every {AUTOSAVE_INTERVAL_S} s (Mosquitto's default is 30 min). After a crash the controller",
        "# republishes every config when it reconnects.",
        "persistence true",
        f"persistence_location {spec.data_dir}",
        f"autosave_interval {AUTOSAVE_INTERVAL_S}",
        "autosave_on_changes false",
        "",
        "# Send configs, acknowledgements and replies at once (no Nagle delay of up to 40 ms).",
        "set_tcp_nodelay true",
        "",
        *limit_lines(),
        "",
        "# Controllers and the CLI on this machine: loopback only. Clients keep the client ids they choose,",
        "# so the controllers sharing one account keep theirs (and their shared subscriptions).",
        f"listener {spec.port} 127.0.0.1",
        "",
    ]
    where = f" {spec.tls_host}" if spec.tls_host else ""
    if spec.tls:
        lines += [
            "# Devices and remote CLI users: TLS only (devices pin the CA in their firmware).",
            "# Here a client's id is its username: a device (id = username) keeps its own, and no other account",
            "# can take it over to cut the device off; two connections of one account take each other over.",
            f"listener {spec.tls_port}{where}",
            "use_username_as_clientid true",
            f"certfile {spec.certfile}",
            f"keyfile {spec.keyfile}",
        ]
        if spec.cafile is not None:
            lines.append(f"cafile {spec.cafile}")
    else:
        lines += [
            "# No TLS listener yet, so devices on the network cannot connect: generate the profile again",
            "# with --certfile/--keyfile (and --cafile), or add these lines with your certificate:",
            f"# listener {spec.tls_port}{where}",
            "# use_username_as_clientid true",
            "# certfile /path/to/server.crt",
            "# keyfile /path/to/server.key",
        ]
    return "\n".join(lines) + "\n"


def limit_lines() -> list[str]:
    """What one client may send the broker and make it hold, with why: the same on both brokers."""
    return [
        "# Limits. A client sending a packet over max_packet_size (its remaining length + 1, as Mosquitto",
        "# 2.0.11 counts) is disconnected at once, before the broker reads it, logged in or not. "
        f"{MAX_PACKET_SIZE // 2**20} MiB fits",
        "# the largest packets, the controller's replies (devices.list of 10,000 devices: 3.5-6.7 MB);",
        "# devices send at most 1 KB, lecturers 8 KB. Mosquitto has one value for every client.",
        f"max_packet_size {MAX_PACKET_SIZE}",
        "# What the broker holds for one client that has fallen behind, beyond 20 messages in flight.",
        "# Mosquitto's default, 1000, counts QoS 0 packets waiting for the socket too: one device flooding",
        "# heartbeats made it drop the controller's requests. Past these limits messages to that client are",
        "# dropped and logged (\"Outgoing messages are being dropped\"); the bytes count QoS 1 payloads.",
        f"max_queued_messages {MAX_QUEUED_MESSAGES}",
        f"max_queued_bytes {MAX_QUEUED_BYTES}",
    ]


def _check_spec(spec: ProfileSpec) -> None:
    for label, path in (("directory", spec.directory), ("data directory", spec.data_dir),
                        ("certfile", spec.certfile), ("keyfile", spec.keyfile), ("cafile", spec.cafile)):
        if path is not None and not path.is_absolute():
            raise ProfileError(f"the profile's {label} must be an absolute path, got {path}")
    if (spec.certfile is None) != (spec.keyfile is None):
        raise ProfileError("TLS needs both a certificate (--certfile) and its key (--keyfile)")
    if spec.cafile is not None and spec.certfile is None:
        raise ProfileError("--cafile needs --certfile and --keyfile")
    for port in (spec.port, spec.tls_port):
        if not 1 <= port <= 65535:
            raise ProfileError(f"port {port} is out of range 1..65535")
    if spec.tls and spec.port == spec.tls_port:
        raise ProfileError(f"the loopback and TLS listeners cannot share port {spec.port}")

