"""Strict readers of the fields of a request's result, for the client: each returns the field with its
JSON type or raises Rejected("schema") naming the field (a boolean: `messages.boolean`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.contract.messages import Config
from controller.errors import Rejected


def bad(key: str, what: str) -> Rejected:
    return Rejected("schema", f"{key} must be {what}")


def integer(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise bad(key, "an integer")
    return value


def opt_int(obj: Mapping[str, Any], key: str) -> int | None:
    return None if obj.get(key) is None else integer(obj, key)


def number(obj: Mapping[str, Any], key: str) -> float:
    value = obj.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise bad(key, "a number")
    return value  # an int stays an int: written back as the controller sent it


def opt_number(obj: Mapping[str, Any], key: str) -> float | None:
    return None if obj.get(key) is None else number(obj, key)


def text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is not str:
        raise bad(key, "a string")
    return value


def opt_text(obj: Mapping[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else text(obj, key)


def texts(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    items = obj.get(key)
    if type(items) is not list or any(type(item) is not str for item in items):
        raise bad(key, "a list of strings")
    return tuple(items)


def object_list(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = obj.get(key)
    if type(items) is not list or any(type(item) is not dict for item in items):
        raise bad(key, "a list of objects")
    return items


def int_map(obj: Mapping[str, Any], key: str) -> dict[str, int]:
    counts = obj.get(key)
    if type(counts) is not dict or any(type(n) is not int for n in counts.values()):
        raise bad(key, "an object of integers")
    return dict(counts)


def read_config(obj: Mapping[str, Any], key: str) -> Config | None:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not dict:
        raise bad(key, "a config object")
    return Config.from_obj(value)
