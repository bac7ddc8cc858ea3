"""Client ids bound to usernames (`use_username_as_clientid`) where devices connect, on both brokers.

MQTT closes the connection that holds a client id when another one connects with it. On the secure
profile's TLS listener (devices, remote users) the broker replaces every client id with the
username, so an account can take over its own connections only: a lecturer posing as a device's
client id gets its own, and the device stays connected. On the loopback listener client ids stay
the clients' own, so the controllers sharing one account keep theirs.
"""

from __future__ import annotations

from controller.contract.roles import Role
from tests.security.conftest import Connect, Profile, TlsFiles, device_status, settle


def test_a_lecturer_with_a_devices_client_id_does_not_cut_the_device_off(profile: Profile, connect: Connect,
                                                                        tls_files: TlsFiles) -> None:
    root, device_id = profile.root, "dev-aaa"
    device_password = profile.device(device_id)
    lecturer_password = profile.user("alice", Role.LECTURER)
    controller = connect("controller", profile.user("controller", Role.CONTROLLER))
    controller.subscribe(f"{root}/devices/+/status")
    device = connect(device_id, device_password, tls=tls_files, expect_ok=False)
    rc = device.connect(will=(f"{root}/devices/{device_id}/status", device_status(device_id, online=False)))
    assert rc is not None and not rc.is_failure
    device.subscribe(f"{root}/devices/{device_id}/config")

    alice = connect("alice", lecturer_password, client_id=device_id, tls=tls_files)  # accepted, as "alice"
    alice.subscribe(f"{root}/clients/alice/replies")
    settle()
    assert not device.disconnected.is_set(), "the lecturer's CONNECT cut the device off"
    assert controller.drain() == [], "the device's will was published"

    controller.publish(f"{root}/devices/{device_id}/config", b'{"v":1,"version":1,"active_session":false}')
    assert device.wait_for(f"{root}/devices/{device_id}/config") == b'{"v":1,"version":1,"active_session":false}'
    device.publish(f"{root}/devices/{device_id}/status", device_status(device_id, online=True))
    assert controller.wait_for(f"{root}/devices/{device_id}/status") == device_status(device_id, online=True)
    controller.publish(f"{root}/clients/alice/replies", b"for alice")
    assert alice.wait_for(f"{root}/clients/alice/replies") == b"for alice"  # served as its own username
    assert not device.disconnected.is_set() and not alice.disconnected.is_set()


def test_on_the_device_listener_an_accounts_connections_take_each_other_over(profile: Profile, connect: Connect,
                                                                              tls_files: TlsFiles) -> None:
    """The client id is the username whatever the client sends, so a second connection of one
    account takes over the first, as Mosquitto does."""
    password = profile.user("alice", Role.LECTURER)
    first = connect("alice", password, client_id="alice-laptop", tls=tls_files)
    second = connect("alice", password, client_id="alice-phone", tls=tls_files)
    assert first.disconnected.wait(3.0), "the first connection of alice was not taken over"
    settle()
    assert not second.disconnected.is_set()


def test_on_the_loopback_listener_controllers_of_one_account_keep_their_client_ids(profile: Profile,
                                                                                    connect: Connect) -> None:
    root = profile.root
    password = profile.user("controller", Role.CONTROLLER)
    controllers = [connect("controller", password, client_id=f"ctl-{n}") for n in range(2)]
    for controller in controllers:
        controller.subscribe(f"{root}/controller/status")
    controllers[0].publish(f"{root}/controller/status", b'{"online":true}')
    for controller in controllers:
        assert controller.wait_for(f"{root}/controller/status") == b'{"online":true}'
        assert not controller.disconnected.is_set()
