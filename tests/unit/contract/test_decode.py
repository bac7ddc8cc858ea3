"""The one routing of inbound topics and payloads to the contract's decoders."""

from __future__ import annotations

import pytest

from controller.contract.decode import DECODERS, decode, decode_payload, request_envelope
from controller.contract.messages import Attendance, Heartbeat, State, Status
from controller.contract.topics import Channel, Topics
from controller.errors import Rejected

TOPICS = Topics("fleet")
DEVICE = "esp32-aaaaaaaaaaaa"


@pytest.mark.parametrize(("channel", "payload", "kind"), [
    (Channel.HEARTBEAT, b'{"v":1,"boot":1,"uptime_s":5}', Heartbeat),
    (Channel.STATUS, b'{"v":1,"online":true,"boot":1}', Status),
    (Channel.STATE, b'{"v":1,"config_version":3,"result":"applied","active_session":false}', State),
    (Channel.ATTENDANCE, b'{"v":1,"session_id":1,"events":[{"seq":1,"student_id":"U1"}]}', Attendance),
])
def test_each_channel_decodes_to_its_message(channel: Channel, payload: bytes, kind: type) -> None:
    device_id, message = decode(TOPICS, TOPICS.device(DEVICE, channel.value), payload)
    assert device_id == DEVICE and isinstance(message, kind)
    assert set(DECODERS) == set(Channel)


def test_the_heartbeat_fast_path_and_the_general_decoder_agree() -> None:
    payload = b'{"v":1,"boot":2,"uptime_s":9,"rssi":-60}'
    fast = decode_payload(Channel.HEARTBEAT, payload, DEVICE)
    general = Heartbeat.from_obj({"v": 1, "boot": 2, "uptime_s": 9, "rssi": -60})
    assert fast == general


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("fleet/devices/esp32-aaaaaaaaaaaa/config", b"{}", "bad_topic"),
    ("fleet/devices/ESP32/status", b"{}", "bad_device_id"),
    ("fleet/devices/esp32-aaaaaaaaaaaa/status", b"not json", "bad_json"),
    ("fleet/devices/esp32-aaaaaaaaaaaa/status", b'{"v":1,"id":"esp32-bbbbbbbbbbbb","online":true,"boot":1}',
     "id_mismatch"),
])
def test_bad_topics_and_payloads_are_rejected_with_the_contracts_reason(topic: str, payload: bytes,
                                                                       reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        decode(TOPICS, topic, payload)
    assert caught.value.reason == reason


def test_a_request_is_answered_only_on_a_replies_topic() -> None:
    good = b'{"v":1,"id":"r1","reply_to":"fleet/clients/c1/replies","method":"stats"}'
    envelope = request_envelope(TOPICS, good, max_bytes=8192)
    assert (envelope.request_id, envelope.reply_to) == ("r1", "fleet/clients/c1/replies")
    bad = b'{"v":1,"id":"r1","reply_to":"fleet/devices/esp32-aaaaaaaaaaaa/config","method":"stats"}'
    with pytest.raises(Rejected) as caught:
        request_envelope(TOPICS, bad, max_bytes=8192)
    assert caught.value.reason == "bad_reply_to"
