"""The firmware update messages: encoders write what the schemas say, decoders read it back and
refuse what the schemas refuse, and a command fits the device's 1024-byte payload."""

from __future__ import annotations

import json

import pytest

from controller.contract.messages import encode
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand, UpdateState
from controller.errors import Rejected
from tests.contract import MAX_DEVICE_PAYLOAD, schema_for_topic, validate

SHA = "ab" * 32
SIG = "MEUCIQDnmWc1lBz2VXbH4rYk6n0PqN3m3y5YQ0o3m6Gq3hQ0WQIgB2t7fP0Vg1kqQ4r8o8s7bq8Jm0y0o0z8Zk6X1u7q5vE="


def test_a_command_round_trips_and_fits_the_device_buffer() -> None:
    longest = UpdateCommand("1.3.0-rc.10+build.123456789", "https://" + "h" * 248, 16 * 1024 * 1024, SHA, SIG, True)
    obj = longest.to_obj()
    validate("update", obj)
    assert UpdateCommand.from_obj(json.loads(encode(obj))) == longest
    assert len(encode(obj)) <= MAX_DEVICE_PAYLOAD
    plain = UpdateCommand("1.3.0", f"http://10.0.0.1:9100/firmware/{SHA}.bin", 1000, SHA, SIG)
    assert "allow_downgrade" not in plain.to_obj()


@pytest.mark.parametrize("state", [
    UpdateState("1.3.0", "downloading", percent=0, running="1.2.9"), UpdateState("1.3.0", "verifying"),
    UpdateState("1.3.0", "rebooting"), UpdateState("1.3.0", "confirmed", running="1.3.0"),
    UpdateState("1.3.0", "failed", reason="bad_signature"), UpdateState("1.3.0", "rolled_back"),
])
def test_every_state_round_trips(state: UpdateState) -> None:
    obj = state.to_obj("esp32-a1b2c3d4e5f6")
    validate("update_state", obj)
    assert UpdateState.from_obj(obj) == state


@pytest.mark.parametrize("obj", [
    {"version": "1.3.0", "state": "downloading"}, {"version": "1.3.0", "state": "failed"},
    {"version": "1.3.0", "state": "downloading", "percent": True}, {"version": "x", "state": "confirmed"},
])
def test_what_the_schema_refuses_the_decoder_refuses(obj: dict[str, object]) -> None:
    with pytest.raises(Rejected):
        UpdateState.from_obj(obj)


def test_the_topics() -> None:
    topics = Topics("fleet")
    assert topics.update("esp32-a1b2c3d4e5f6") == "fleet/devices/esp32-a1b2c3d4e5f6/update"
    assert schema_for_topic(topics.update("esp32-a1b2c3d4e5f6"), "fleet") == "update"
    assert schema_for_topic(topics.update_state("esp32-a1b2c3d4e5f6"), "fleet") == "update_state"
