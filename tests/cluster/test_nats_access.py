"""The secure profile's accounts on the 3-node NATS cluster: `fleet secure-profile --engine nats`
writes the nodes' `authorization` block from the same accounts as Mosquitto's ACL, and the
device / lecturer / operator / controller separation holds as in tests/security, with clients on
different nodes.

NATS acknowledges a publish its permissions deny and drops it, so a denied publish is checked by
its absence at a subscriber, after a publish that must arrive on the same path (`settle`). A
subscription broader than the permissions is refused (SUBACK failure) where Mosquitto grants it
and filters: either way nothing arrives.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controller.broker import credentials
from controller.broker.profile import ProfileSpec
from controller.broker.startup import free_port
from controller.contract.roles import Role
from tests.clusters import HOST, NatsCluster, ReadyLogin
from tests.security.conftest import Client, device_status, settle

ROOT = "fleet"
A, B, C = 0, 1, 2
CONFIG = b'{"v":1,"version":1,"active_session":false}'


@dataclass(frozen=True)
class _Node:
    """What tests.security's Client needs of a broker: where it listens."""

    host: str
    port: int

    def port_of(self, tls: bool = False) -> int:
        return self.port


def _until(client: Client, topic: str, timeout: float = 10.0) -> list[tuple[str, bytes]]:
    """The live messages `client` got up to the first on `topic` (which must come), then those that
    arrive while settling: what a denied publish would have added is in this list. Retained
    messages left by earlier tests (delivered when subscribing, with the retain flag) are skipped."""
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while not any(t == topic for t, _ in got):
        left = deadline - time.monotonic()
        assert left > 0, f"{client.client_id} got nothing on {topic} within {timeout} s (got {got})"
        with contextlib.suppress(queue.Empty):
            message = client.messages.get(timeout=left)
            if not message.retain:
                got.append((message.topic, bytes(message.payload)))
    settle()
    while not client.messages.empty():
        message = client.messages.get_nowait()
        if not message.retain:
            got.append((message.topic, bytes(message.payload)))
    return got


@dataclass
class Accounts:
    cluster: NatsCluster
    passwords: dict[str, str]
    made: list[Client]

    def connect(self, username: str | None, node: int, *, password: str | None = None,
                client_id: str | None = None, expect_ok: bool = True) -> Client:
        secret = password if password is not None else self.passwords.get(username or "")
        client = Client(_Node(HOST, self.cluster.nodes[node].ports.mqtt), username, secret,  # type: ignore[arg-type]
                        client_id=client_id)
        self.made.append(client)
        if expect_ok:
            rc = client.connect()
            assert rc is not None and not rc.is_failure, f"{username} was refused on node {node}: {rc}"
        return client


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Accounts]:
    """A NATS profile with a controller, a lecturer, an operator and two devices, and a cluster
    whose nodes run its authorization block."""
    tmp = tmp_path_factory.mktemp("nats-acl")
    spec = ProfileSpec(directory=tmp / "broker", data_dir=tmp / "broker" / "data", port=free_port(HOST))
    credentials.write_profile(spec, ROOT, owner=None)
    auth_file = credentials.add_nats_side(spec.conf_path)
    passwords = {name: credentials.add_user(spec.conf_path, name, role, ROOT).password
                 for name, role in (("controller", Role.CONTROLLER), ("alice", Role.LECTURER),
                                    ("bob", Role.LECTURER), ("olga", Role.OPERATOR))}
    passwords |= {d: credentials.provision_device(spec.conf_path, d).password for d in ("dev-aaa", "dev-bbb")}
    login = ReadyLogin("controller", passwords["controller"], f"{ROOT}/controller/probe/ready")
    with NatsCluster(Path(tmp), auth=auth_file.read_text(), login=login).start() as cluster:
        made: list[Client] = []
        yield Accounts(cluster, passwords, made)
        for client in made:
            client.close()


def test_the_authorization_block_is_written_from_the_profile_accounts(accounts: Accounts) -> None:
    text = (accounts.cluster.nodes[0].conf_path).read_text()
    for name in accounts.passwords:
        assert f'user: "{name}", password: "$2a$' in text
    assert '"fleet.devices.dev-aaa.heartbeat"' in text and "fleet/devices" not in text


def test_unknown_users_wrong_passwords_and_bad_client_ids_are_refused(accounts: Accounts) -> None:
    good = accounts.passwords["dev-aaa"]
    for username, secret, client_id in ((None, None, "anon"), ("dev-aaa", "wrong", "dev-aaa"),
                                        ("nobody", good, "nobody"), ("dev-aaa", good, "dev.aaa")):
        rc = accounts.connect(username, B, password=secret or "", client_id=client_id, expect_ok=False).connect()
        assert rc is None or rc.is_failure, f"{username}/{client_id} was let in"
    accounts.connect("dev-aaa", B)  # the right password is let in


def test_a_device_reaches_only_its_own_topics_across_nodes(accounts: Accounts) -> None:
    a, b = "dev-aaa", "dev-bbb"
    controller = accounts.connect("controller", A)
    for leaf in ("status", "heartbeat", "state", "attendance"):
        controller.subscribe(f"{ROOT}/devices/+/{leaf}")
    controller.publish(f"{ROOT}/devices/{b}/config", CONFIG, retain=True)
    device_a = accounts.connect(a, B)
    device_a.subscribe(f"{ROOT}/devices/{b}/config")  # refused (SUBACK failure): nothing is delivered
    device_a.subscribe(f"{ROOT}/#")
    for leaf in ("status", "heartbeat", "state", "attendance", "config"):
        device_a.publish(f"{ROOT}/devices/{b}/{leaf}", device_status(b, online=False),
                         retain=leaf in ("status", "state"))
    device_a.publish(f"{ROOT}/devices/{a}/status", device_status(a), retain=True)  # its own: goes through
    # none of the publishes as B arrived (PUBACKed and dropped)
    assert _until(controller, f"{ROOT}/devices/{a}/status") == [(f"{ROOT}/devices/{a}/status", device_status(a))]
    assert device_a.drain() == []  # neither B's config nor anything else under the root
    device_b = accounts.connect(b, C)
    device_b.subscribe(f"{ROOT}/devices/{b}/config")
    assert device_b.wait_for(f"{ROOT}/devices/{b}/config", timeout=10) == CONFIG


def test_a_lecturer_sends_only_its_own_requests_and_reads_only_its_own_replies(accounts: Accounts) -> None:
    controller = accounts.connect("controller", A)
    controller.subscribe(f"{ROOT}/controller/requests/+")
    for leaf in ("status", "attendance"):
        controller.subscribe(f"{ROOT}/devices/+/{leaf}")
    alice, bob = accounts.connect("alice", B), accounts.connect("bob", C)
    alice.subscribe(f"{ROOT}/clients/alice/replies")
    alice.subscribe(f"{ROOT}/clients/bob/replies")  # refused
    alice.subscribe(f"{ROOT}/devices/dev-aaa/config")  # refused: configs hold Wi-Fi passwords
    alice.publish(f"{ROOT}/controller/requests/bob", b'{"as":"bob"}')  # dropped
    alice.publish(f"{ROOT}/devices/dev-aaa/attendance", b'{"fake":1}')  # dropped
    alice.publish(f"{ROOT}/devices/alice/status", device_status("alice"))  # dropped: no fake device
    alice.publish(f"{ROOT}/controller/requests/alice", b'{"as":"alice"}')
    assert _until(controller, f"{ROOT}/controller/requests/alice") == [
        (f"{ROOT}/controller/requests/alice", b'{"as":"alice"}')]
    bob.subscribe(f"{ROOT}/clients/bob/replies")
    controller.publish(f"{ROOT}/clients/bob/replies", b"for bob")
    controller.publish(f"{ROOT}/devices/dev-aaa/config", CONFIG, retain=True)
    controller.publish(f"{ROOT}/clients/alice/replies", b"for alice")
    assert bob.wait_for(f"{ROOT}/clients/bob/replies", timeout=10) == b"for bob"
    assert _until(alice, f"{ROOT}/clients/alice/replies") == [  # not bob's reply, nor the config
        (f"{ROOT}/clients/alice/replies", b"for alice")]


def test_an_operator_watches_devices_but_reads_no_configs_or_attendance(accounts: Accounts) -> None:
    olga = accounts.connect("olga", C)
    olga.subscribe(f"{ROOT}/devices/+/status")
    olga.subscribe(f"{ROOT}/devices/+/attendance")  # refused
    olga.subscribe(f"{ROOT}/devices/+/config")  # refused
    device = accounts.connect("dev-bbb", A)
    device.publish(f"{ROOT}/devices/dev-bbb/attendance", b'{"student":"s1"}')
    device.publish(f"{ROOT}/devices/dev-bbb/status", device_status("dev-bbb"), retain=True)
    accounts.connect("controller", B).publish(f"{ROOT}/devices/dev-bbb/config", CONFIG, retain=True)
    assert _until(olga, f"{ROOT}/devices/dev-bbb/status") == [(f"{ROOT}/devices/dev-bbb/status",
                                                               device_status("dev-bbb"))]
    olga.publish(f"{ROOT}/devices/dev-bbb/config", b'{"evil":1}', retain=True)  # dropped
    fresh = accounts.connect("dev-bbb", C, client_id="dev-bbb-2")
    fresh.subscribe(f"{ROOT}/devices/dev-bbb/config")
    assert fresh.wait_for(f"{ROOT}/devices/dev-bbb/config", timeout=10) == CONFIG


def test_only_the_controller_orders_firmware_updates_across_nodes(accounts: Accounts) -> None:
    command_topic, state_topic = f"{ROOT}/devices/dev-aaa/update", f"{ROOT}/devices/dev-aaa/update/state"
    command, state = b'{"v":1,"version":"1.3.0"}', b'{"v":1,"version":"1.3.0","state":"verifying"}'
    controller = accounts.connect("controller", A, client_id="controller-upd")
    controller.subscribe(f"{ROOT}/devices/+/update/state")
    device = accounts.connect("dev-aaa", B, client_id="dev-aaa-upd")
    device.subscribe(command_topic)
    for name, node in (("alice", C), ("olga", A)):  # neither a lecturer nor an operator orders an update
        user = accounts.connect(name, node, client_id=f"{name}-upd")
        user.publish(command_topic, f"from {name}".encode(), retain=True)  # dropped
        user.publish(state_topic, f"forged by {name}".encode(), retain=True)  # dropped
    other = accounts.connect("dev-bbb", C, client_id="dev-bbb-upd")
    other.publish(command_topic, b"from dev-bbb", retain=True)  # dropped
    other.publish(state_topic, b"forged by dev-bbb", retain=True)  # dropped
    device.publish(command_topic, b"ordered by itself", retain=True)  # dropped
    controller.publish(command_topic, command, retain=True)
    assert _until(device, command_topic) == [(command_topic, command)]
    device.publish(state_topic, state, retain=True)
    assert _until(controller, state_topic) == [(state_topic, state)]
