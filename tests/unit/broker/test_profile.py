"""Unit tests for controller.broker.profile: the secure profile's ACL and broker.conf, as text."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.broker.auth import Access, parse_acl
from controller.broker.conf import Limits, Listener, Persistence, Tls, parse
from controller.broker.profile import (
    MAX_PACKET_SIZE,
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    ProfileError,
    ProfileSpec,
    acl_text,
    broker_conf_text,
    read_acl_users,
    with_user,
    without_user,
)
from controller.contract.roles import Role, role_table

REPO_ROOT = Path(__file__).resolve().parents[3]
R, W = Access.READ, Access.WRITE
USERS = {"ctl": Role.CONTROLLER, "alice": Role.LECTURER, "olga": Role.OPERATOR, "ada": Role.ADMIN}


@pytest.fixture
def acl() -> object:
    return parse_acl(acl_text("fleet", USERS))


@pytest.mark.parametrize(
    ("user", "topic", "access", "allowed"),
    [
        # a device (username = device id): its own topics only
        ("esp32-aa", "fleet/devices/esp32-aa/status", W, True),
        ("esp32-aa", "fleet/devices/esp32-aa/heartbeat", W, True),
        ("esp32-aa", "fleet/devices/esp32-aa/state", W, True),
        ("esp32-aa", "fleet/devices/esp32-aa/attendance", W, True),
        ("esp32-aa", "fleet/devices/esp32-aa/config", R, True),
        ("esp32-aa", "fleet/devices/esp32-aa/attendance/ack", R, True),
        ("esp32-aa", "fleet/controller/status", R, True),
        ("esp32-aa", "fleet/devices/esp32-aa/config", W, False),
        ("esp32-aa", "fleet/devices/esp32-aa/attendance/ack", W, False),
        ("esp32-aa", "fleet/devices/esp32-bb/status", W, False),
        ("esp32-aa", "fleet/devices/esp32-bb/config", R, False),
        ("esp32-aa", "fleet/devices/esp32-bb/status", R, False),
        ("esp32-aa", "fleet/controller/requests/esp32-aa", W, False),  # devices make no requests
        ("esp32-aa", "fleet/clients/esp32-aa/replies", R, False),
        ("esp32-aa", "fleet/controller/status", W, False),
        # firmware updates: a device reads its own command and reports its own progress
        ("esp32-aa", "fleet/devices/esp32-aa/update", R, True),
        ("esp32-aa", "fleet/devices/esp32-aa/update/state", W, True),
        ("esp32-aa", "fleet/devices/esp32-aa/update", W, False),  # never orders its own update
        ("esp32-aa", "fleet/devices/esp32-bb/update", R, False),
        ("esp32-aa", "fleet/devices/esp32-bb/update/state", W, False),
        ("esp32-aa", "fleet/devices/esp32-bb/update/state", R, False),
        ("ctl", "fleet/devices/esp32-aa/update", W, True),
        ("ctl", "fleet/devices/esp32-aa/update/state", R, True),
        ("ctl", "fleet/devices/esp32-aa/update/state", W, True),  # cleared with the device
        ("alice", "fleet/devices/esp32-aa/update", W, False),
        ("alice", "fleet/devices/esp32-aa/update/state", R, False),
        ("alice", "fleet/devices/alice/update", R, False),
        ("olga", "fleet/devices/esp32-aa/update", W, False),
        ("olga", "fleet/devices/esp32-aa/update/state", R, True),
        ("olga", "fleet/devices/esp32-aa/update/state", W, False),
        ("ada", "fleet/devices/esp32-aa/update", W, False),  # a rollout goes through the controller
        ("ada", "fleet/devices/esp32-aa/update/state", R, True),
        # the controller
        ("ctl", "fleet/devices/esp32-aa/status", R, True),
        ("ctl", "fleet/devices/esp32-aa/status", W, True),  # `fleet device forget` clears it
        ("ctl", "fleet/devices/esp32-aa/heartbeat", R, True),
        ("ctl", "fleet/devices/esp32-aa/state", R, True),
        ("ctl", "fleet/devices/esp32-aa/attendance", R, True),
        ("ctl", "fleet/devices/esp32-aa/config", W, True),
        ("ctl", "fleet/devices/esp32-aa/attendance/ack", W, True),
        ("ctl", "fleet/controller/status", W, True),
        ("ctl", "fleet/controller/probe/ab12", W, True),  # --shared-group's check that $share works
        ("ctl", "fleet/controller/probe/ab12", R, True),
        ("alice", "fleet/controller/probe/ab12", W, False),
        ("ctl", "fleet/controller/requests/alice", R, True),
        ("ctl", "fleet/clients/alice/replies", W, True),
        ("ctl", "fleet/devices/esp32-aa/heartbeat", W, False),
        ("ctl", "fleet/controller/requests/ctl", W, False),
        ("ctl", "fleet/devices/ctl/heartbeat", W, False),  # no fake device named after itself
        ("ctl", "$SYS/broker/publish/messages/dropped", R, True),  # loss shows in `fleet stats`
        ("alice", "$SYS/broker/publish/messages/dropped", R, False),
        # a lecturer: requests out on its own topic only, its own replies in
        ("alice", "fleet/controller/requests/alice", W, True),
        ("alice", "fleet/controller/requests/bob", W, False),
        ("alice", "fleet/controller/requests", W, False),
        ("alice", "fleet/clients/alice/replies", R, True),
        ("alice", "fleet/controller/status", R, True),
        ("alice", "fleet/clients/bob/replies", R, False),
        ("alice", "fleet/devices/esp32-aa/config", W, False),
        ("alice", "fleet/devices/esp32-aa/status", R, False),
        ("alice", "fleet/devices/alice/status", W, False),
        ("alice", "fleet/devices/alice/config", R, False),
        # an operator: reads presence and health, and asks the controller as itself
        ("olga", "fleet/controller/requests/olga", W, True),
        ("olga", "fleet/controller/requests/alice", W, False),
        ("olga", "fleet/clients/olga/replies", R, True),
        ("olga", "fleet/clients/alice/replies", R, False),
        ("olga", "fleet/devices/esp32-aa/status", R, True),
        ("olga", "fleet/devices/esp32-aa/heartbeat", R, True),
        ("olga", "fleet/devices/esp32-aa/state", R, True),
        ("olga", "fleet/controller/status", R, True),
        ("olga", "fleet/devices/esp32-aa/config", R, False),
        ("olga", "fleet/devices/esp32-aa/attendance", R, False),
        ("olga", "fleet/devices/esp32-aa/status", W, False),
        ("olga", "fleet/devices/olga/status", W, False),
        # an admin: a lecturer's topics and an operator's reads
        ("ada", "fleet/controller/requests/ada", W, True),
        ("ada", "fleet/controller/requests/olga", W, False),
        ("ada", "fleet/clients/ada/replies", R, True),
        ("ada", "fleet/devices/esp32-aa/heartbeat", R, True),
        ("ada", "fleet/devices/esp32-aa/config", R, False),
        ("ada", "fleet/devices/esp32-aa/attendance", R, False),
        ("ada", "fleet/devices/esp32-aa/config", W, False),
    ],
)
def test_least_privilege(acl: object, user: str, topic: str, access: Access, allowed: bool) -> None:
    assert acl.allows(user, user, topic, access) is allowed  # type: ignore[attr-defined]


def test_the_acl_is_for_one_root() -> None:
    acl = parse_acl(acl_text("campus/a", {"alice": Role.LECTURER}))
    assert acl.allows("esp32-aa", "esp32-aa", "campus/a/devices/esp32-aa/status", W)
    assert not acl.allows("esp32-aa", "esp32-aa", "fleet/devices/esp32-aa/status", W)
    assert read_acl_users(acl_text("campus/a")).root == "campus/a"


@pytest.mark.parametrize("root", ["", "a/+", "#", "a b", "a//b", "/a"])
def test_roots_that_cannot_be_written_into_an_acl(root: str) -> None:
    with pytest.raises(ProfileError):
        acl_text(root)


def test_user_blocks_are_added_replaced_and_removed() -> None:
    text = acl_text("fleet")
    text = with_user(text, "fleet", "alice", Role.LECTURER)
    text = with_user(text, "fleet", "bob", Role.OPERATOR)
    text = with_user(text, "fleet", "ada", Role.ADMIN)
    text = with_user(text, "fleet", "alice", Role.CONTROLLER)  # a new role replaces the block
    users = read_acl_users(text)
    assert users.root == "fleet"
    assert dict(users.roles) == {"alice": Role.CONTROLLER, "bob": Role.OPERATOR, "ada": Role.ADMIN}
    assert dict(role_table(text)) == dict(users.roles)  # what the controller reads
    assert text.count("user alice") == 1
    acl = parse_acl(text)
    assert acl.allows("alice", "x", "fleet/devices/esp32-aa/config", W)
    text = without_user(text, "alice")
    assert dict(read_acl_users(text).roles) == {"bob": Role.OPERATOR, "ada": Role.ADMIN}
    assert "alice" not in text
    assert parse_acl(text).allows("esp32-aa", "esp32-aa", "fleet/devices/esp32-aa/status", W)  # patterns stay


def test_hand_written_user_blocks_are_users_too() -> None:
    users = read_acl_users("user  admin\ntopic #\n")
    assert users.is_user("admin")
    assert not users.roles


def test_bad_user_names() -> None:
    for name in ("", "a b", "a/b", "a+b", "-a", "x" * 65, "a:b"):
        with pytest.raises(ProfileError):
            with_user(acl_text("fleet"), "fleet", name, Role.LECTURER)


def _spec(**overrides: object) -> ProfileSpec:
    values: dict[str, object] = {"directory": Path("/etc/fleet"), "data_dir": Path("/var/lib/fleet")}
    values.update(overrides)
    return ProfileSpec(**values)  # type: ignore[arg-type]


def test_broker_conf_parses_to_what_it_promises() -> None:
    spec = _spec(certfile=Path("/etc/fleet/tls/server.crt"), keyfile=Path("/etc/fleet/tls/server.key"),
                 cafile=Path("/etc/fleet/tls/ca.crt"), tls_host="10.0.0.5")
    conf = parse(broker_conf_text(spec))
    assert conf.allow_anonymous is False
    assert conf.password_file == Path("/etc/fleet/passwd")
    assert conf.acl_file == Path("/etc/fleet/acl")
    assert conf.persistence == Persistence(Path("/var/lib/fleet"), 10, False)
    assert conf.limits == Limits(MAX_PACKET_SIZE, MAX_QUEUED_MESSAGES, MAX_QUEUED_BYTES)
    assert conf.listeners == (
        Listener(1883, "127.0.0.1"),
        Listener(8883, "10.0.0.5", Tls(Path("/etc/fleet/tls/server.crt"), Path("/etc/fleet/tls/server.key"),
                                       Path("/etc/fleet/tls/ca.crt")), use_username_as_clientid=True),
    )  # client ids bound to usernames where devices connect; controllers sharing an account keep theirs


def test_without_certificates_there_is_no_network_listener() -> None:
    text = broker_conf_text(_spec())
    assert parse(text).listeners == (Listener(1883, "127.0.0.1"),)
    assert "\n# use_username_as_clientid true\n" in text  # among the TLS listener's lines to add


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"directory": Path("rel")}, "absolute"),
        ({"certfile": Path("/c.crt")}, "both a certificate"),
        ({"cafile": Path("/ca.crt")}, "--cafile needs"),
        ({"port": 0}, "out of range"),
        ({"certfile": Path("/c"), "keyfile": Path("/k"), "tls_port": 1883}, "cannot share port"),
    ],
)
def test_bad_specs(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(ProfileError, match=fragment):
        broker_conf_text(_spec(**overrides))


def test_the_shipped_deploy_profile_is_the_generators() -> None:
    """deploy/broker.conf and deploy/acl are `fleet secure-profile /etc/fleet --data-dir /var/lib/fleet/broker
    --certfile /etc/fleet/tls/server.crt --keyfile /etc/fleet/tls/server.key --cafile /etc/fleet/tls/ca.crt`."""
    spec = _spec(data_dir=Path("/var/lib/fleet/broker"), certfile=Path("/etc/fleet/tls/server.crt"),
                 keyfile=Path("/etc/fleet/tls/server.key"), cafile=Path("/etc/fleet/tls/ca.crt"))
    assert (REPO_ROOT / "deploy" / "broker.conf").read_text() == broker_conf_text(spec)
    assert (REPO_ROOT / "deploy" / "acl").read_text() == acl_text("fleet")


def test_the_limits_fit_the_contract() -> None:
    """A device message (1 KB) and a request (8 KB) fit with room; a reply listing 10,000 devices at
    their longest (6.7 MB, measured with controller.core.views) fits twice; a controller can fall 30,000
    messages behind (10,000 devices reconnecting at once) without a drop."""
    assert MAX_PACKET_SIZE >= 2 * 6_729_077
    assert MAX_PACKET_SIZE <= 64 * 2**20  # still bounds what an unauthenticated socket can make Mosquitto buffer
    assert MAX_QUEUED_MESSAGES >= 3 * 10_000
    assert MAX_QUEUED_BYTES >= 2 * MAX_PACKET_SIZE
