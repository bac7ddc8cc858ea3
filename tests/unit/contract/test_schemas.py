"""schemas/: the schemas themselves, their examples, and the tests/contract.py helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError

from tests import contract

DOC = Path(__file__).resolve().parents[3] / "docs" / "contract.md"
SCHEMA_BASE = "https://fleet.example/schemas/"
ALL_SCHEMAS = (*contract.schema_names(), contract.COMMON)
DEVICE_TOPIC_SCHEMAS = set(contract.DEVICE_TOPICS.values())
MIN_VALID, MIN_INVALID = 3, 4


def _examples(kind: str) -> list[Any]:
    return [
        pytest.param(name, path, id=f"{name}/{kind}/{path.stem}")
        for name in contract.schema_names()
        for path in sorted((contract.EXAMPLES_DIR / name / kind).glob("*.json"))
    ]


def _load(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# --- the schemas -------------------------------------------------------------------------------


def test_message_schemas_are_the_contract_topics() -> None:
    assert set(contract.schema_names()) == {
        "status", "heartbeat", "config", "state", "attendance", "attendance_ack",
        "controller_status", "request", "reply", "update", "update_state",
    }  # fmt: skip


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = contract.load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{SCHEMA_BASE}{name}{contract.SCHEMA_SUFFIX}"
    assert schema["title"] and schema["description"]


@pytest.mark.parametrize("name", contract.schema_names())
def test_message_schema_is_open_object_with_v1(name: str) -> None:
    schema = contract.load_schema(name)
    assert schema["type"] == "object"
    assert "v" in schema["required"]
    assert schema["properties"]["v"] == {"$ref": "common.schema.json#/$defs/v"}
    assert schema.get("additionalProperties", True) is not False  # unknown fields are ignored


@pytest.mark.parametrize("name", ALL_SCHEMAS)
def test_every_ref_resolves(name: str) -> None:
    schema = contract.load_schema(name)
    resolver = contract.registry().resolver(base_uri=schema["$id"])
    refs = list(_refs(schema))
    for ref in refs:
        assert resolver.lookup(ref).contents is not None, ref
    assert refs or name == contract.COMMON


def test_config_defs_are_referenceable() -> None:
    resolver = contract.registry().resolver()
    for ref in ("config_active", "config_idle"):
        resolved = resolver.lookup(f"{SCHEMA_BASE}config.schema.json#/$defs/{ref}")
        assert resolved.contents["type"] == "object"


# --- the examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "path"), _examples("valid"))
def test_valid_example_validates(name: str, path: Path) -> None:
    contract.validate(name, _load(path))


@pytest.mark.parametrize(("name", "path"), _examples("invalid"))
def test_invalid_example_fails(name: str, path: Path) -> None:
    with pytest.raises(ValidationError):
        contract.validate(name, _load(path))


@pytest.mark.parametrize("name", contract.schema_names())
def test_every_schema_has_examples(name: str) -> None:
    valid = list((contract.EXAMPLES_DIR / name / "valid").glob("*.json"))
    invalid = list((contract.EXAMPLES_DIR / name / "invalid").glob("*.json"))
    assert len(valid) >= MIN_VALID
    assert len(invalid) >= MIN_INVALID


def test_no_examples_without_a_schema() -> None:
    dirs = {p.name for p in contract.EXAMPLES_DIR.iterdir() if p.is_dir()}
    assert dirs == set(contract.schema_names())


@pytest.mark.parametrize(("name", "path"), [p for p in _examples("valid") if p.values[0] in DEVICE_TOPIC_SCHEMAS])
def test_valid_device_example_fits_the_firmware_buffer(name: str, path: Path) -> None:
    wire = json.dumps(_load(path), separators=(",", ":"), ensure_ascii=False).encode()
    assert len(wire) <= contract.MAX_DEVICE_PAYLOAD


def _doc_examples() -> list[Any]:
    """Every JSON object with "v" quoted in a ``**<schema>**`` paragraph of docs/contract.md."""
    found = []
    for paragraph in DOC.read_text(encoding="utf-8").split("\n\n"):
        head = re.match(r"\*\*(\w+)\*\*", paragraph)
        if head is None or head[1] not in contract.schema_names():
            continue
        for snippet in re.findall(r"`([^`]+)`", paragraph):
            try:
                obj = json.loads(snippet)
            except ValueError:
                continue
            if isinstance(obj, dict) and "v" in obj:
                found.append(pytest.param(head[1], obj, id=f"{head[1]}:{snippet}"))
    return found


def test_doc_examples_are_found() -> None:
    assert len(_doc_examples()) >= MIN_VALID  # the status birth and will, the heartbeat


@pytest.mark.parametrize(("name", "obj"), _doc_examples())
def test_doc_example_is_a_valid_example(name: str, obj: object) -> None:
    contract.validate(name, obj)
    valid = [_load(p) for p in (contract.EXAMPLES_DIR / name / "valid").glob("*.json")]
    assert obj in valid


# --- contract.py: stricter than plain jsonschema -----------------------------------------------


@pytest.mark.parametrize("value", [1.0, True, "1"])
def test_integers_are_json_integers(value: object) -> None:
    with pytest.raises(ValidationError):
        contract.validate("attendance_ack", {"v": value, "upto": 1})
    with pytest.raises(ValidationError):
        contract.validate("attendance_ack", {"v": 1, "upto": value})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^[a-z]{1,3}$", r"^[a-z]{1,3}\Z"),
        (r"^a\$b$", r"^a\$b\Z"),
        ("^[$]x$", r"^[$]x\Z"),
        ("^(a|b$)", r"^(a|b\Z)"),
    ],
)
def test_ecma_pattern_anchors_dollar_at_end(pattern: str, expected: str) -> None:
    assert contract.ecma_pattern(pattern) == expected


def test_dollar_does_not_match_before_trailing_newline() -> None:
    birth = {"v": 1, "online": True, "boot": 1}
    contract.validate("status", {**birth, "id": "esp32-a1b2c3d4e5f6"})
    with pytest.raises(ValidationError):
        contract.validate("status", {**birth, "id": "esp32-a1b2c3d4e5f6\n"})


def test_validate_reports_the_failing_field_of_an_active_config() -> None:
    active = _load(contract.EXAMPLES_DIR / "config" / "valid" / "active.json")
    assert isinstance(active, dict)
    with pytest.raises(ValidationError) as info:
        contract.validate("config", {**active, "ssid": "has space"})
    assert list(info.value.absolute_path) == ["ssid"]


def test_validator_is_cached() -> None:
    assert contract.validator("status") is contract.validator("status")


# --- schema_for_topic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "root", "expected"),
    [
        ("fleet/devices/esp32-a1b2c3d4e5f6/status", "fleet", "status"),
        ("fleet/devices/esp32-a1b2c3d4e5f6/heartbeat", "fleet", "heartbeat"),
        ("fleet/devices/esp32-a1b2c3d4e5f6/config", "fleet", "config"),
        ("fleet/devices/esp32-a1b2c3d4e5f6/state", "fleet", "state"),
        ("fleet/devices/esp32-a1b2c3d4e5f6/attendance", "fleet", "attendance"),
        ("fleet/devices/esp32-a1b2c3d4e5f6/attendance/ack", "fleet", "attendance_ack"),
        ("fleet/controller/status", "fleet", "controller_status"),
        ("fleet/controller/requests/alice", "fleet", "request"),
        ("fleet/clients/cli-alice-1234/replies", "fleet", "reply"),
        ("test/run-7/devices/dev-1/status", "test/run-7", "status"),
        ("test/run-7/controller/status", "test/run-7", "controller_status"),
        ("fleet/devices/BAD_ID/status", "fleet", "status"),  # shape only; id checked elsewhere
        ("fleet/devices/esp32-a1b2c3d4e5f6/status", "other", None),
        ("fleetx/devices/esp32-a1b2c3d4e5f6/status", "fleet", None),
        ("fleet/devices/esp32-a1b2c3d4e5f6", "fleet", None),
        ("fleet/devices/esp32-a1b2c3d4e5f6/reboot", "fleet", None),
        ("fleet/devices/esp32-a1b2c3d4e5f6/attendance/nack", "fleet", None),
        ("fleet/devices/esp32-a1b2c3d4e5f6/status/extra", "fleet", None),
        ("fleet/devices//status", "fleet", None),
        ("fleet/devices/+/status", "fleet", None),
        ("fleet/devices/#", "fleet", None),
        ("fleet/controller/requests", "fleet", None),
        ("fleet/controller/requests/alice/x", "fleet", None),
        ("fleet/controller", "fleet", None),
        ("fleet/clients/cli-1/replies/x", "fleet", None),
        ("fleet/clients//replies", "fleet", None),
        ("fleet/status", "fleet", None),
        ("fleet", "fleet", None),
        ("", "fleet", None),
    ],
)
def test_schema_for_topic(topic: str, root: str, expected: str | None) -> None:
    assert contract.schema_for_topic(topic, root) == expected


def test_schema_for_topic_defaults_to_fleet_root() -> None:
    assert contract.schema_for_topic("fleet/controller/status") == "controller_status"


# --- validate_publish --------------------------------------------------------------------------

DEVICE = "esp32-a1b2c3d4e5f6"
STATUS = f"fleet/devices/{DEVICE}/status"


def _wire(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _padded_status(size: int) -> bytes:
    head = _wire({"v": 1, "online": True, "boot": 1, "pad": ""})
    return _wire({"v": 1, "online": True, "boot": 1, "pad": "x" * (size - len(head))})


def test_validate_publish_returns_the_payload() -> None:
    obj = contract.validate_publish(STATUS, _wire({"v": 1, "id": DEVICE, "online": True, "boot": 3}))
    assert obj["boot"] == 3


def test_validate_publish_with_custom_root() -> None:
    topic = "t1/clients/c1/replies"
    reply = {"v": 1, "id": "r1", "ok": True, "result": {}}
    assert contract.validate_publish(topic, _wire(reply), root="t1") == reply


def test_device_payload_limit_is_1024_bytes() -> None:
    assert len(_padded_status(1024)) == 1024
    contract.validate_publish(STATUS, _padded_status(1024))
    with pytest.raises(contract.ContractViolation, match="1025 bytes"):
        contract.validate_publish(STATUS, _padded_status(1025))


def test_device_payload_limit_covers_controller_to_device_topics() -> None:
    ack = {"v": 1, "upto": 1, "pad": "x" * 1024}
    with pytest.raises(contract.ContractViolation, match="bytes"):
        contract.validate_publish(f"fleet/devices/{DEVICE}/attendance/ack", _wire(ack))


def test_controller_payloads_may_exceed_1024_bytes() -> None:
    reply = {"v": 1, "id": "r1", "ok": True, "result": {"devices": ["x" * 40] * 100}}
    contract.validate_publish("fleet/clients/c1/replies", _wire(reply))


@pytest.mark.parametrize(
    ("topic", "payload", "match"),
    [
        ("fleet/unknown", b'{"v":1}', "not a contract topic"),
        ("fleet/devices/Bad_Id/status", b'{"v":1,"online":true,"boot":1}', "bad device id"),
        (STATUS, b'{"v":1,"online":true}', "not a valid status"),
        (STATUS, b'{"v":1.0,"online":true,"boot":1}', "not a valid status"),
        (STATUS, b"[1]", "not a valid status"),
        (STATUS, b"not json", "not a valid status"),
        (STATUS, b'{"v":1,"online":true,"boot":1,"fw":"\xff"}', "not a valid status"),
        (STATUS, b'{"v":1,"online":true,"boot":1,"x":NaN}', "not a valid status"),
        (STATUS, b'{"v":1,"online":true,"boot":1,"boot":2}', "duplicate"),
        (STATUS, b'{"v":1,"id":"esp32-000000000000","online":true,"boot":1}', "does not match"),
    ],
)
def test_validate_publish_rejects(topic: str, payload: bytes, match: str) -> None:
    with pytest.raises(contract.ContractViolation, match=match):
        contract.validate_publish(topic, payload)


def test_id_must_match_only_on_device_sent_messages() -> None:
    other = {"v": 1, "upto": 5, "id": "someone-else"}  # ack is controller-sent; id is unknown
    contract.validate_publish(f"fleet/devices/{DEVICE}/attendance/ack", _wire(other))
