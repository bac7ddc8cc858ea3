"""One suite, two brokers: the secure profile means the same on the embedded broker and on Mosquitto.

Every test runs twice from the same generated broker.conf (see conftest). A message that must not
arrive is checked by waiting QUIET_S after a message that must arrive on the same path.
"""

from __future__ import annotations

from controller.broker import auth, credentials
from controller.contract.roles import Role
from tests.brokers import RunningBroker
from tests.security.conftest import Client, Connect, Profile, TlsFiles, device_status, settle


def test_a_device_reaches_only_its_own_topics(profile: Profile, connect: Connect) -> None:
    root = profile.root
    a, b = "dev-aaa", "dev-bbb"
    pw_a, pw_b = profile.device(a), profile.device(b)
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/+")
    controller.publish(f"{root}/devices/{b}/config", b'{"v":1,"version":1,"active_session":false}', retain=True)
    device_a = connect(a, pw_a)
    device_a.subscribe(f"{root}/devices/{b}/config")  # granted (as on Mosquitto), but nothing is delivered
    device_a.subscribe(f"{root}/#")
    for leaf in ("status", "heartbeat", "state", "attendance", "config"):
        device_a.publish(f"{root}/devices/{b}/{leaf}", device_status(b, online=False),
                         retain=leaf in ("status", "state"))
    device_a.publish(f"{root}/devices/{a}/status", device_status(a), retain=True)  # its own: goes through
    assert controller.received() == [(f"{root}/devices/{a}/status", device_status(a))]
    assert device_a.drain() == []  # neither B's config nor anything else under the root
    device_b = connect(b, pw_b)
    device_b.subscribe(f"{root}/devices/{b}/config")
    assert device_b.wait_for(f"{root}/devices/{b}/config") == b'{"v":1,"version":1,"active_session":false}'


def test_anonymous_wrong_password_and_unknown_users_are_refused(profile: Profile, connect: Connect) -> None:
    password = profile.device("dev-aaa")
    for username, secret in ((None, None), ("dev-aaa", "wrong"), ("dev-aaa", None), ("nobody", password)):
        rc = connect(username, secret, expect_ok=False).connect()
        assert rc is not None and rc.is_failure, f"{username}/{secret} was let in"
    assert not connect("dev-aaa", password).connack.qsize()  # the right password is let in


def test_wildcard_client_ids_and_usernames_get_nothing_through(profile: Profile, connect: Connect,
                                                               secure_broker: RunningBroker) -> None:
    """With `%u` patterns a username `dev+x` would be a filter matching every device: it must not
    reach another device's topics. The embedded broker refuses such clients at CONNECT; Mosquitto
    2.0.11 lets them connect and then denies every pattern-based access (`/` it lets through)."""
    root = profile.root
    password = profile.device("dev-aaa")
    # A username with a wildcard can only come from a hand-edited password file: write one in.
    passwd = profile.spec.password_file
    passwd.write_text(passwd.read_text() + f"dev+x:{auth.hash_password('pw')}\n")
    observer = connect("controller", profile.user("controller", Role.CONTROLLER))  # also reloads
    observer.subscribe(f"{root}/devices/+/status")
    observer.publish(f"{root}/devices/dev-aaa/config", b'{"v":1}', retain=True)
    attempts = [("dev-aaa", password, "#"), ("dev-aaa", password, "+"), ("dev-aaa", password, "dev-aaa/x"),
                ("dev+x", "pw", "dev-bbb")]
    for username, secret, client_id in attempts:
        client = connect(username, secret, client_id=client_id, expect_ok=False)
        rc = client.connect()
        if secure_broker.kind == "amqtt" or "/" not in client_id:
            if rc is not None and rc.is_failure:
                continue
            assert secure_broker.kind == "mosquitto", f"client id {client_id!r} / user {username!r} was let in"
        client.subscribe(f"{root}/devices/dev-aaa/config")
        client.publish(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))
        settle()
        got = client.drain()
        if "/" in client_id:  # Mosquitto: harmless, the ACL keys on the username, so dev-aaa's own topics
            assert got == [(f"{root}/devices/dev-aaa/config", b'{"v":1}')]
            assert observer.drain() == [(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))]
        else:
            assert got == [], f"{client_id!r} / {username!r} read dev-aaa's config"
            assert observer.drain() == [], f"{client_id!r} / {username!r} published as dev-aaa"
        client.close()


def test_a_lecturer_sends_requests_only_and_reads_only_its_own_replies(profile: Profile, connect: Connect) -> None:
    root = profile.root
    device_password = profile.device("dev-aaa")
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/#")
    alice = connect("alice", profile.user("alice", Role.LECTURER))
    bob = connect("bob", profile.user("bob", Role.LECTURER))
    alice.subscribe(f"{root}/clients/+/replies")
    alice.subscribe(f"{root}/devices/#")
    for topic in (f"{root}/devices/dev-aaa/config", f"{root}/devices/dev-aaa/status",
                  f"{root}/devices/alice/status", f"{root}/devices/alice/heartbeat", f"{root}/controller/status"):
        alice.publish(topic, device_status("alice"), retain=True)
    alice.publish(f"{root}/controller/requests/alice", b'{"v":1,"id":"1"}')
    alice.publish(f"{root}/controller/requests/bob", b'{"v":1,"id":"2"}')  # not as another user
    alice.publish(f"{root}/controller/requests", b'{"v":1,"id":"3"}')  # nor without one
    assert controller.received() == [(f"{root}/controller/requests/alice", b'{"v":1,"id":"1"}')]
    controller.publish(f"{root}/clients/bob/replies", b"for bob")
    controller.publish(f"{root}/clients/alice/replies", b"for alice")
    assert alice.received() == [(f"{root}/clients/alice/replies", b"for alice")]
    assert bob.drain() == []  # bob subscribed to nothing
    device = connect("dev-aaa", device_password)
    device.publish(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))
    assert alice.received() == []  # lecturers see no device traffic


def test_an_operator_reads_device_presence_and_sends_only_its_own_requests(profile: Profile,
                                                                          connect: Connect) -> None:
    root = profile.root
    device = connect("dev-aaa", profile.device("dev-aaa"))
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/controller/requests/+")
    olga = connect("olga", profile.user("olga", Role.OPERATOR))
    olga.subscribe(f"{root}/#")
    olga.publish(f"{root}/controller/requests/alice", b'{"v":1}')
    olga.publish(f"{root}/devices/olga/status", device_status("olga"))
    olga.publish(f"{root}/controller/requests/olga", b'{"v":1,"id":"o"}')
    assert controller.received() == [(f"{root}/controller/requests/olga", b'{"v":1,"id":"o"}')]
    device.publish(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))
    device.publish(f"{root}/devices/dev-aaa/attendance", b'{"v":1}')
    controller.publish(f"{root}/devices/dev-aaa/config", b"{}")
    assert olga.received() == [(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))]


def test_only_the_controller_orders_firmware_updates(profile: Profile, connect: Connect) -> None:
    """A device reads its own update command and reports its own progress; no lecturer, operator,
    admin or other device can order an update or forge a device's progress (an admin rolls out
    through the controller's requests)."""
    root = profile.root
    command_topic, state_topic = f"{root}/devices/dev-aaa/update", f"{root}/devices/dev-aaa/update/state"
    command, state = b'{"v":1,"version":"1.3.0"}', b'{"v":1,"version":"1.3.0","state":"verifying"}'
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/update/state")
    device = connect("dev-aaa", profile.device("dev-aaa"))
    device.subscribe(command_topic)
    for name, role in (("alice", Role.LECTURER), ("olga", Role.OPERATOR), ("ada", Role.ADMIN)):
        user = connect(name, profile.user(name, role))
        user.publish(command_topic, f"from {name}".encode(), retain=True)
        user.publish(state_topic, f"forged by {name}".encode(), retain=True)
    other = connect("dev-bbb", profile.device("dev-bbb"))
    other.publish(command_topic, b"from dev-bbb", retain=True)
    other.publish(state_topic, b"forged by dev-bbb", retain=True)
    other.subscribe(command_topic)  # granted (as on Mosquitto), but nothing is delivered
    device.publish(command_topic, b"ordered by itself", retain=True)
    controller.publish(command_topic, command, retain=True)
    assert device.received() == [(command_topic, command)]
    device.publish(state_topic, state, retain=True)
    assert controller.received() == [(state_topic, state)]
    assert other.drain() == []
    watcher = connect("olga2", profile.user("olga2", Role.OPERATOR))  # operators follow a rollout's progress
    watcher.subscribe(state_topic)
    assert watcher.wait_for(state_topic) == state  # the retained progress is the device's own


def test_a_will_on_another_devices_topic_is_dropped(profile: Profile, connect: Connect) -> None:
    root = profile.root
    pw_a, pw_b = profile.device("dev-aaa"), profile.device("dev-bbb")
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/status")
    will = (f"{root}/devices/dev-bbb/status", device_status("dev-bbb", online=False))
    forger = connect("dev-aaa", pw_a, expect_ok=False)
    assert forger.connect(will=will, background=False) is not None
    forger.drop()
    honest = connect("dev-bbb", pw_b, expect_ok=False)
    assert honest.connect(will=will, background=False) is not None
    honest.drop()
    assert controller.received() == [(f"{root}/devices/dev-bbb/status", device_status("dev-bbb", online=False))]


def test_retained_configs_survive_a_restart(profile: Profile, connect: Connect, secure_broker: RunningBroker) -> None:
    root = profile.root
    password = profile.device("dev-aaa")
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    config = b'{"v":1,"version":7,"active_session":false}'
    controller.publish(f"{root}/devices/dev-aaa/config", config, retain=True)
    controller.close()
    secure_broker.restart()
    device = connect("dev-aaa", password)
    device.subscribe(f"{root}/devices/dev-aaa/config")
    assert device.wait_for(f"{root}/devices/dev-aaa/config") == config


def test_tls_listener_serves_tls_and_refuses_plain_tcp(profile: Profile, connect: Connect,
                                                       secure_broker: RunningBroker, tls_files: TlsFiles) -> None:
    root = profile.root
    password = profile.device("dev-aaa")
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/status")
    device = connect("dev-aaa", password, tls=tls_files)
    device.publish(f"{root}/devices/dev-aaa/status", device_status("dev-aaa"))
    assert controller.wait_for(f"{root}/devices/dev-aaa/status") == device_status("dev-aaa")
    plain = Client(secure_broker, "dev-aaa", password)
    plain.port = secure_broker.port_of(tls=True)
    assert plain.connect() is None  # no CONNACK: the TLS handshake never happened
    plain.close()


def test_a_revoked_device_is_disconnected_and_kept_out(profile: Profile, connect: Connect,
                                                       secure_broker: RunningBroker) -> None:
    password = profile.device("dev-aaa")
    device = connect("dev-aaa", password)
    credentials.revoke_device(profile.conf, "dev-aaa")
    secure_broker.reload()
    assert device.disconnected.wait(3), "the revoked device is still connected"
    rc = connect("dev-aaa", password, expect_ok=False).connect()
    assert rc is not None and rc.is_failure
