"""The hand-written decoders agree with schemas/ on every example, and encoders produce valid payloads."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.contract.messages import (
    Attendance,
    Config,
    ControllerRole,
    Heartbeat,
    Request,
    State,
    Status,
    controller_status,
    load_object,
)
from controller.contract.requests import METHODS
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand, UpdateState
from controller.errors import ApiError, Rejected
from tests.contract import SCHEMA_DIR, validate


def decode_request(obj: dict[str, Any]) -> Request:
    """The envelope, then the method's params, as the controller checks them."""
    request = Request.from_obj(obj)
    if not Topics("fleet").is_replies(request.reply_to):  # the examples' root
        raise Rejected("bad_reply_to")
    if request.method not in METHODS:
        raise ApiError("unknown method", "unknown_method")
    METHODS[request.method].params.from_obj(request.params)
    return request


DECODERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "status": Status.from_obj, "heartbeat": Heartbeat.from_obj, "state": State.from_obj,
    "attendance": Attendance.from_obj, "config": Config.from_obj, "request": decode_request,
    "update": UpdateCommand.from_obj, "update_state": UpdateState.from_obj,
}


def examples(kind: str) -> list[tuple[str, Path]]:
    return [(name, path) for name in DECODERS
            for path in sorted((SCHEMA_DIR / "examples" / name / kind).glob("*.json"))]


DEVICE_MESSAGES = {"status", "heartbeat", "state", "attendance", "update_state"}
TOPIC_ID = "esp32-a1b2c3d4e5f6"  # the device the examples speak for; a bad `id` is a topic mismatch


def decode(name: str, path: Path) -> object:
    device_id = TOPIC_ID if name in DEVICE_MESSAGES else None
    return DECODERS[name](load_object(path.read_bytes(), max_bytes=1 << 20, device_id=device_id))


@pytest.mark.parametrize("name,path", examples("valid"), ids=lambda p: getattr(p, "stem", p))
def test_decoder_accepts_valid_examples(name: str, path: Path) -> None:
    decoded = decode(name, path)
    if hasattr(decoded, "to_obj") and name != "request":
        validate(name, decoded.to_obj())  # and what we re-encode is valid again


@pytest.mark.parametrize("name,path", examples("invalid"), ids=lambda p: getattr(p, "stem", p))
def test_decoder_rejects_invalid_examples(name: str, path: Path) -> None:
    with pytest.raises((Rejected, ApiError)):
        decode(name, path)


@pytest.mark.parametrize("payload,reason", [
    (b"x" * 1025, "too_large"), (b"{not json", "bad_json"), (b"\xff\xfe", "bad_json"), (b"[1,2]", "not_object"),
    (b'{"v":2}', "bad_version"), (b'{"online":true}', "schema"), (b'{"v":1,"x":NaN}', "bad_json"),
    ('{"v":1,"a":"é"}'.encode("utf-16"), "bad_json"), (b"[" * 5000 + b"]" * 5000, "too_large"),
])
def test_load_object_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as caught:
        load_object(payload)
    assert caught.value.reason == reason


def test_deep_nesting_is_bad_json_not_a_crash() -> None:
    with pytest.raises(Rejected) as caught:
        load_object(b"[" * 100_000, max_bytes=1 << 20)
    assert caught.value.reason == "bad_json"


def test_id_mismatch() -> None:
    with pytest.raises(Rejected) as caught:
        load_object(json.dumps({"v": 1, "id": "dev-b"}).encode(), device_id="dev-a")
    assert caught.value.reason == "id_mismatch"
    assert load_object(b'{"v":1,"id":"dev-a"}', device_id="dev-a")["id"] == "dev-a"


def test_booleans_are_not_integers() -> None:
    with pytest.raises(Rejected):
        Heartbeat.from_obj({"v": 1, "boot": True, "uptime_s": 1})


def test_json_nested_past_the_contracts_depth_is_bad_json_whatever_the_recursion_limit() -> None:
    """The outcome used to follow the interpreter's recursion limit (hypothesis raises it while it
    shrinks): 1,500 levels parsed then. Now 512 levels are the contract's, checked before parsing."""
    def nested(levels: int) -> bytes:  # the outer object is level 1
        inner = levels - 1
        return b'{"v":1,"s":"[{ in a string [[","n":' + b"[" * inner + b"]" * inner + b"}"

    limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(20_000)
        with pytest.raises(Rejected) as deep:
            load_object(nested(1500), max_bytes=10**6)
        assert deep.value.reason == "bad_json" and "deeper than 512" in deep.value.detail
    finally:
        sys.setrecursionlimit(limit)
    assert load_object(nested(512), max_bytes=10**6)["v"] == 1
    with pytest.raises(Rejected, match="bad_json"):
        load_object(nested(513), max_bytes=10**6)


@pytest.mark.parametrize("role", [None, *ControllerRole])
def test_controller_presence_with_or_without_a_role_is_valid(role: ControllerRole | None) -> None:
    obj = controller_status("ctl-host1-4242", True, "0.1.0", role=role)
    validate("controller_status", obj)
    assert obj.get("role") == (role.value if role is not None else None)
