"""Broker URLs and broker lists (`mqtt://a:1883,b:1883,c:1883`): what parses, and the one-line errors."""

from __future__ import annotations

import pytest

from controller.adapters.mqtt import MAX_BROKERS, BrokerAddress, Brokers, parse_broker_urls
from controller.errors import FleetError


def test_one_url_is_a_list_of_one() -> None:
    assert parse_broker_urls("mqtt://h:1884") == Brokers((BrokerAddress("h", 1884),))
    assert parse_broker_urls("mqtt://h").url == "mqtt://h:1883"


def test_a_list_shares_the_scheme_credentials_and_ca_of_the_url() -> None:
    brokers = parse_broker_urls("mqtts://ann:s%40cret@a:8884,b,10.0.0.3:9999?cafile=/etc/fleet/ca.crt")
    assert brokers.addresses == (
        BrokerAddress("a", 8884, True, "ann", "s@cret", "/etc/fleet/ca.crt"),
        BrokerAddress("b", 8883, True, "ann", "s@cret", "/etc/fleet/ca.crt"),
        BrokerAddress("10.0.0.3", 9999, True, "ann", "s@cret", "/etc/fleet/ca.crt"),
    )
    assert brokers.username == "ann"
    assert brokers.url == "mqtts://a:8884,b:8883,10.0.0.3:9999"  # no password in what is printed


@pytest.mark.parametrize(("text", "needle"), [
    ("mqtt://a:1883,,b:1883", "no empty entries"),
    ("mqtt://a:1883,", "no empty entries"),
    ("mqtt://a:1883,mqtt://b:1883", "one scheme"),
    ("mqtt://a:1883,b:1883/x", "host[:port]"),
    ("mqtt://a:1883,b:notaport", "bad broker URL"),
    ("http://a:1883,b:1883", "expected mqtt://"),
    ("mqtt://a:1883,b:1883?cafile=/ca.crt", "cafile needs mqtts://"),
    ("mqtt://a:1883,a:1883", "named twice"),
    ("mqtt://" + ",".join(f"h{i}" for i in range(MAX_BROKERS + 1)), f"at most {MAX_BROKERS}"),
])
def test_a_bad_list_is_one_clear_error(text: str, needle: str) -> None:
    with pytest.raises(FleetError) as caught:
        parse_broker_urls(text)
    message = str(caught.value)
    assert needle in message and "\n" not in message


def test_a_bad_list_never_shows_the_password() -> None:
    with pytest.raises(FleetError) as caught:
        parse_broker_urls("mqtt://ann:hunter2@a:1883,,b")
    assert "hunter2" not in str(caught.value) and "***" in str(caught.value)
