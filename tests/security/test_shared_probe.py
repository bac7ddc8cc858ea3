"""`--shared-group`'s start check on the secure profile, both brokers: the controller account may
write and read its probe topic, so the check sees what the broker does with `$share` (Mosquitto
delivers through it, amqtt does not), never an ACL's refusal mistaken for a broker without it."""

from __future__ import annotations

from controller.adapters.mqtt import honours_shared, parse_broker_url
from controller.contract.roles import Role
from controller.contract.topics import Topics
from tests.brokers import HOST, RunningBroker
from tests.security.conftest import Profile


def test_the_controller_account_probes_for_shared_subscriptions(profile: Profile, secure_broker: RunningBroker) -> None:
    url = f"mqtt://ctl:{profile.user('ctl', Role.CONTROLLER)}@{HOST}:{secure_broker.port_of(tls=False)}"
    found = honours_shared(parse_broker_url(url), "controllers", Topics(profile.root).controller_probe)
    assert found is (secure_broker.kind == "mosquitto")


def test_an_account_the_acl_keeps_off_the_probe_topic_finds_nothing(profile: Profile,
                                                                    secure_broker: RunningBroker) -> None:
    """Why the controller account's ACL has the probe topic: without it even Mosquitto's answer is no."""
    url = f"mqtt://olga:{profile.user('olga', Role.OPERATOR)}@{HOST}:{secure_broker.port_of(tls=False)}"
    assert not honours_shared(parse_broker_url(url), "controllers", Topics(profile.root).controller_probe)
