"""The MQTT contract v1 (docs/contract.md) as test helpers.

Owns loading ``schemas/`` into one ``referencing`` registry, validating a payload against a
message schema, and mapping a topic to its schema. Used by unit, integration and end-to-end tests
on both sides of the wire (controller, simulator, host firmware).

Two points where plain ``jsonschema`` is looser than the contract, made strict here:

* integers: JSON Schema treats ``1.0`` as an integer; the contract says integers are JSON
  integers with no fraction, so ``"integer"`` accepts only Python ``int`` (never ``bool``/``float``).
* ``pattern``: JSON Schema patterns are ECMA-262, where ``$`` matches only at the end of the
  string; Python's ``$`` also matches before a final newline, so ``"CS101\\n"`` would pass
  ``^[A-Za-z0-9_-]{1,32}$``. Patterns are translated so ``$`` means end of string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, TypeChecker, ValidationError, validators
from jsonschema.exceptions import WEAK_MATCHES, best_match, relevance
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
"""Directory holding ``<name>.schema.json``, ``examples/<name>/{valid,invalid}/*.json`` and
``methods/<method>.schema.json`` (each request method's ``$defs/params`` and ``$defs/result``)."""

EXAMPLES_DIR = SCHEMA_DIR / "examples"
SCHEMA_SUFFIX = ".schema.json"
COMMON = "common"
"""Schema of shared ``$defs`` only; not a message."""

DEFAULT_ROOT = "fleet"
MAX_DEVICE_PAYLOAD = 1024
"""Largest payload in bytes on any ``{root}/devices/{id}/...`` topic (the firmware's buffer)."""

DEVICE_TOPICS: Mapping[tuple[str, ...], str] = {
    ("status",): "status",
    ("heartbeat",): "heartbeat",
    ("config",): "config",
    ("state",): "state",
    ("attendance",): "attendance",
    ("attendance", "ack"): "attendance_ack",
    ("update",): "update",
    ("update", "state"): "update_state",
}
SENDER_ID_SCHEMAS = frozenset({"status", "heartbeat", "state", "attendance", "update_state"})
"""Device-sent messages that may carry ``"id"``, which must equal the topic's device id."""


class ContractViolation(AssertionError):
    """A publish breaks the contract: bad topic, too large, not JSON, schema, id mismatch."""


def schema_names() -> tuple[str, ...]:
    """Names of the message schemas (every ``<name>.schema.json`` except ``common``)."""
    names = (p.name.removesuffix(SCHEMA_SUFFIX) for p in SCHEMA_DIR.glob(f"*{SCHEMA_SUFFIX}"))
    return tuple(sorted(n for n in names if n != COMMON))


def method_names() -> tuple[str, ...]:
    """Request methods with a schema of their params and result (``methods/<method>.schema.json``)."""
    return tuple(sorted(p.name.removesuffix(SCHEMA_SUFFIX) for p in (SCHEMA_DIR / "methods").glob(f"*{SCHEMA_SUFFIX}")))


def schema_path(name: str) -> Path:
    """Path of the schema file called ``name`` (``common`` included)."""
    return SCHEMA_DIR / f"{name}{SCHEMA_SUFFIX}"


@cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The parsed schema ``name``."""
    schema: Mapping[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return schema


@cache
def registry() -> Registry[Any]:
    """A registry of every schema file under its ``$id``, so relative ``$ref``s resolve."""
    resources = []
    for path in sorted(SCHEMA_DIR.rglob(f"*{SCHEMA_SUFFIX}")):
        schema = load_schema(path.relative_to(SCHEMA_DIR).as_posix().removesuffix(SCHEMA_SUFFIX))
        resources.append((schema["$id"], Resource.from_contents(schema, DRAFT202012)))
    return Registry().with_resources(resources).crawl()


def _is_json_integer(_checker: TypeChecker, instance: object) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def ecma_pattern(pattern: str) -> str:
    """Translate an ECMA-262 pattern so Python's ``re`` gives ``$`` its ECMA meaning.

    Every unescaped ``$`` outside a character class becomes ``\\Z`` (end of string only). Other
    ECMA/Python differences do not arise in the patterns used by ``schemas/``.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            ch = r"\Z"
        out.append(ch)
        i += 1
    return "".join(out)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern))


def _pattern_keyword(
    validator: Validator, pattern: str, instance: object, _schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _compiled(pattern).search(str(instance)):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


ContractValidator = validators.extend(
    Draft202012Validator,
    validators={"pattern": _pattern_keyword},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_json_integer),
)
"""Draft 2020-12 with the contract's strict integers and ECMA ``$`` (no format checking)."""


@cache
def validator(name: str) -> Validator:
    """A cached draft 2020-12 validator for the message schema ``name`` (e.g. ``"status"``)."""
    return ContractValidator(load_schema(name), registry=registry())


def _relevance(error: ValidationError) -> tuple[object, ...]:
    """``jsonschema``'s relevance, but any concrete error beats a ``oneOf``/``anyOf`` summary.

    Plain ``best_match`` prefers the shallowest error, which for a bad active config is the
    ``oneOf`` and then its idle branch ("False was expected"); the config schema's if/then yields
    the real cause (e.g. the ``ssid`` pattern), and this key picks it.
    """
    return (error.validator not in WEAK_MATCHES, *relevance(error))


def best_error(name: str, obj: object) -> ValidationError | None:
    """The most useful error of ``obj`` against the message schema ``name``, or ``None``."""
    return best_match(validator(name).iter_errors(obj), key=_relevance)


@cache
def method_validator(method: str, part: str) -> Validator:
    """A validator for a request method's ``params`` or ``result`` (``methods/<method>.schema.json``)."""
    uri = f"{load_schema(f'methods/{method}')['$id']}#/$defs/{part}"
    return ContractValidator({"$ref": uri}, registry=registry())


def validate_method(method: str, part: str, obj: object) -> None:
    """Raise ``jsonschema.ValidationError`` (the best match) if ``obj`` is not ``method``'s valid ``part``."""
    error = best_match(method_validator(method, part).iter_errors(obj), key=_relevance)
    if error is not None:
        raise error


def validate(name: str, obj: object) -> None:
    """Raise ``jsonschema.ValidationError`` (the best match) if ``obj`` is not a valid ``name``."""
    error = best_error(name, obj)
    if error is not None:
        raise error


def schema_for_topic(topic: str, root: str = DEFAULT_ROOT) -> str | None:
    """The schema name for a publish topic under ``root``, or ``None`` if the topic is not ours.

    Only the topic's shape is checked; a device id that breaks the id pattern still maps (the
    controller counts it as ``bad_device_id``, not ``bad_topic``).
    """
    prefix = f"{root}/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if any(not part or "+" in part or "#" in part for part in parts):
        return None
    match parts:
        case ["devices", _device_id, *kind]:
            return DEVICE_TOPICS.get(tuple(kind))
        case ["controller", "status"]:
            return "controller_status"
        case ["controller", "requests", _user]:
            return "request"
        case ["clients", _client_id, "replies"]:
            return "reply"
    return None


def is_device_id(device_id: str) -> bool:
    """Whether ``device_id`` matches ``common.schema.json#/$defs/device_id``."""
    pattern: str = load_schema(COMMON)["$defs"]["device_id"]["pattern"]
    return _compiled(pattern).search(device_id) is not None


def _reject_constant(token: str) -> object:
    raise ValueError(f"{token} is not JSON")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate keys in {keys}")
    return dict(pairs)


def decode(payload: bytes | bytearray) -> object:
    """Strict JSON decoding: UTF-8 only, no NaN/Infinity, no duplicate keys."""
    return json.loads(
        bytes(payload).decode("utf-8"),
        parse_constant=_reject_constant,
        object_pairs_hook=_unique_keys,
    )


def validate_publish(topic: str, payload: bytes | bytearray, root: str = DEFAULT_ROOT) -> dict[str, Any]:
    """Check one publish against the contract and return the decoded payload.

    Checks: the topic maps to a schema; on ``{root}/devices/{id}/...`` the id matches the device-id
    pattern and the payload is at most 1024 bytes; the payload is strict UTF-8 JSON valid under the
    topic's schema; a device-sent ``"id"`` equals the topic's id. Raises ``ContractViolation``.
    """
    name = schema_for_topic(topic, root)
    if name is None:
        raise ContractViolation(f"{topic!r}: not a contract topic under root {root!r}")
    device_id = _device_id(topic, root)
    if device_id is not None:
        if not is_device_id(device_id):
            raise ContractViolation(f"{topic!r}: bad device id {device_id!r}")
        if len(payload) > MAX_DEVICE_PAYLOAD:
            raise ContractViolation(f"{topic!r}: payload is {len(payload)} bytes, limit {MAX_DEVICE_PAYLOAD}")
    try:
        obj = decode(payload)
        validate(name, obj)
    except (ValueError, ValidationError) as exc:
        raise ContractViolation(f"{topic!r}: not a valid {name}: {exc}") from exc
    if not isinstance(obj, dict):  # unreachable: every schema says "type": "object"
        raise ContractViolation(f"{topic!r}: payload is not a JSON object")
    if name in SENDER_ID_SCHEMAS and "id" in obj and obj["id"] != device_id:
        raise ContractViolation(f"{topic!r}: id {obj['id']!r} does not match the topic")
    return obj


def _device_id(topic: str, root: str) -> str | None:
    parts = topic[len(root) + 1 :].split("/")
    return parts[1] if parts[0] == "devices" else None
