"""The NATS authorization block: the Mosquitto ACL's accounts as NATS users with subject permissions."""

from __future__ import annotations

import pytest

from controller.broker import nats_auth
from controller.broker.profile import ProfileError
from controller.contract.roles import Role


@pytest.mark.parametrize(("topic", "expected"), [
    ("fleet/devices/+/status", "fleet.devices.*.status"),
    ("fleet/#", "fleet.>"),
    ("$SYS/broker/publish/messages/dropped", "$SYS.broker.publish.messages.dropped"),
])
def test_topics_become_the_subjects_nats_checks(topic: str, expected: str) -> None:
    assert nats_auth.subject(topic) == expected


@pytest.mark.parametrize("name", ["dev.1", "a b", "x*", "y>", ""])
def test_names_that_are_not_one_subject_token_are_refused(name: str) -> None:
    with pytest.raises(ProfileError):
        nats_auth.device_permissions("fleet", name)


def test_a_device_gets_only_its_own_topics() -> None:
    got = nats_auth.device_permissions("fleet", "dev-1")
    assert all("/devices/dev-1/" in t for t in got.publish)
    assert set(got.subscribe) == {"fleet/devices/dev-1/config", "fleet/devices/dev-1/attendance/ack",
                                  "fleet/devices/dev-1/update", "fleet/controller/status"}
    assert "fleet/devices/dev-1/update/state" in got.publish and "fleet/devices/dev-1/update" not in got.publish


def test_users_match_the_mosquitto_acl_roles() -> None:
    lecturer = nats_auth.user_permissions("fleet", "alice", Role.LECTURER)
    assert lecturer.publish == ("fleet/controller/requests/alice",)
    assert "fleet/devices/+/status" not in lecturer.subscribe
    assert lecturer.deny == ("fleet/devices/alice/#",)
    operator = nats_auth.user_permissions("fleet", "olga", Role.OPERATOR)
    assert "fleet/devices/+/status" in operator.subscribe
    assert not any(t.endswith(("config", "attendance")) for t in operator.subscribe)
    controller = nats_auth.user_permissions("fleet", "controller", Role.CONTROLLER)
    assert "fleet/devices/+/config" in controller.publish and "fleet/controller/requests/+" in controller.subscribe
    # firmware updates: only the controller commands them; operators and admins follow the progress
    assert "fleet/devices/+/update" in controller.publish and "fleet/devices/+/update/state" in controller.subscribe
    for user in (lecturer, operator, nats_auth.user_permissions("fleet", "ada", Role.ADMIN)):
        assert not any(t.endswith("/update") for t in user.publish)
    assert "fleet/devices/+/update/state" in operator.subscribe
    assert "fleet/devices/+/update/state" not in lecturer.subscribe


def test_the_block_lists_every_account_with_its_hash_and_mqtt_only() -> None:
    text = nats_auth.authorization_text("fleet", {"alice": Role.LECTURER}, {"alice": "$2a$h1", "dev-1": "$2a$h2"})
    assert text.count('allowed_connection_types: ["MQTT"]') == 2
    assert '{user: "dev-1", password: "$2a$h2"' in text
    assert '"fleet.controller.requests.alice"' in text and '"fleet.devices.alice.>"' in text


def test_hashes_are_bcrypt_2a() -> None:
    import bcrypt

    hashed = nats_auth.hash_password("secret", cost=4)
    assert hashed.startswith("$2a$04$") and bcrypt.checkpw(b"secret", hashed.encode())
