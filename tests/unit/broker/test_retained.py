"""Unit tests for controller.broker.retained's file format: encode and decode (no network, no disk)."""

from __future__ import annotations

import json

import pytest

from controller.broker.retained import Retained, RetainedStoreError, decode, encode


def test_encode_then_decode_gives_the_messages_back_sorted_by_topic() -> None:
    messages = [Retained("t/b", b"\x00\xffbinary", 1), Retained("t/a", b'{"v":1}', 0)]
    assert decode(encode(messages)) == sorted(messages, key=lambda m: m.topic)


def test_the_format_is_versioned_json_with_base64_payloads() -> None:
    assert json.loads(encode([Retained("t", b"hi", 1)])) == {
        "v": 1, "retained": [{"topic": "t", "qos": 1, "payload": "aGk="}]}


@pytest.mark.parametrize("data", [
    b"not json",
    b'{"v": 2, "retained": []}',
    b'{"v": 1}',
    b'{"v": 1, "retained": [{"topic": "t", "qos": 1}]}',
    b'{"v": 1, "retained": [{"topic": "t", "qos": 1, "payload": "***"}]}',
])
def test_a_file_that_is_not_ours_is_one_line_naming_it(data: bytes) -> None:
    with pytest.raises(RetainedStoreError, match=r"^/x/fleet-retained\.json: cannot load retained messages: "):
        decode(data, "/x/fleet-retained.json")
