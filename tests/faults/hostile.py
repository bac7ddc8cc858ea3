"""Hostile input for the fault suite: valid messages drawn from `schemas/`, and their mutations.

Valid messages come from hypothesis-jsonschema's `from_schema` over the contract's schemas, with
every `$ref` inlined (the schemas refer to each other by `$id`, which must never be fetched) and
every pattern given ECMA's `$` (tests/contract.py). A mutation changes one thing and knows the
rejection reason the contract gives the result: by construction (`bad_version`, `too_large`,
`bad_json`, ...) or, for a changed field value, by asking the JSON Schema validator — an oracle
independent of the hand-written decoders under test.

`Case` is one message on the wire (channel, topic device id, payload bytes, expected reason);
`flood` makes thousands of them from a seed, for the broker tests, out of the same mutations.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final, cast

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from tests import contract

DEVICE_CHANNELS: Final = ("status", "heartbeat", "state", "attendance")
CHANNELS: Final = (*DEVICE_CHANNELS, "request")
MAX_DEVICE_PAYLOAD: Final = 1024
MAX_REQUEST_PAYLOAD: Final = 8192
MAX_JSON_DEPTH: Final = 512
"""Nesting levels past which a message is bad_json (docs/contract.md, "Rejection reasons")."""
DECODER_REASONS: Final = frozenset({"too_large", "bad_json", "not_object", "bad_version", "schema", "bad_topic",
                                    "bad_device_id", "id_mismatch", "bad_request_id", "bad_reply_to"})
"""What the controller's decoders may answer (docs/contract.md, "Rejection reasons")."""
ANY_REJECTION: Final = "*"
"""`Case.reason` of a message that must be rejected, for a reason the generator does not know."""
UNKNOWN: Final = "?"
"""`Case.reason` of a message the decoder may accept or reject (with a reason)."""

DEVICE_ID_RE: Final = r"[a-z0-9][a-z0-9-]{2,31}"
ODD_CHARS: Final = (
    "\x00", "\x01", "\x1f", "\x7f", "\u0085", "\u00a0", "\u200b", "\u200d", "\u200e", "\u200f", "\u202e",
    "\u2028", "\u2029", "\ufeff", "\ufffd", "\uffff", "\U0010ffff", "\U0001f469\u200d\U0001f4bb", "\u0301",
    "\u4e2d", "\u05d0", "\\", "\"", "/", "+", "#", "%s", "\n", "\t",
)
"""NUL, controls, NEL, NBSP, zero-width, RTL marks and override, line/paragraph separators, BOM,
replacement and non-characters, an emoji ZWJ sequence, a combining mark, CJK, Hebrew, JSON and MQTT
metacharacters, a format string."""
WRONG_VALUES: Final[tuple[object, ...]] = (
    None, True, False, 0, -1, 1, 255, 2**31, 2**32 - 1, 2**32, 10**20, -(2**63), 1.0, 1.5, -0.0, 1e300, "", "x",
    "1", "true", [], [1], {}, {"v": 1}, "x" * 300,
)
"""Replacement values for one field: every JSON type, the edges of a u32, floats that equal ints."""
WRONG_VERSIONS: Final[tuple[object, ...]] = (0, 2, -1, 2**32 + 1, 1.0, 1.5, True, False, None, "1", "v1", [1], {"v": 1})

Path = tuple[str | int, ...]
JsonObj = dict[str, Any]


# --- the schemas, made generator-ready ----------------------------------------------------------

_DROP: Final = frozenset({"$defs", "$id", "$schema", "$comment", "description", "title", "default", "examples"})


@cache
def inlined_schema(name: str) -> Mapping[str, Any]:
    """The message schema `name` with every `$ref` replaced by its target and ECMA patterns."""
    schema = contract.load_schema(name)

    def walk(node: object, resolver: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                resolved = resolver.lookup(node["$ref"])
                target = walk(resolved.contents, resolved.resolver)
                rest = {k: v for k, v in node.items() if k not in _DROP and k != "$ref"}
                return {"allOf": [target, walk(rest, resolver)]} if rest else target
            return {k: contract.ecma_pattern(v) if k == "pattern" else walk(v, resolver)
                    for k, v in node.items() if k not in _DROP}
        if isinstance(node, list):
            return [walk(item, resolver) for item in node]
        return node

    inlined: Mapping[str, Any] = walk(schema, contract.registry().resolver(base_uri=schema["$id"]))
    return inlined


def is_valid(name: str, obj: object) -> bool:
    """The oracle: does the contract's JSON Schema accept `obj` as a `name` message?"""
    return contract.best_error(name, obj) is None


def _discriminated(schema: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """One schema per value of the enum property that an `allOf` of `if`/`then` switches on
    (request: `method`, state: `result`), or None. hypothesis-jsonschema takes minutes to merge
    the request schema's fifteen `if`/`then` pairs; one method at a time it takes milliseconds."""
    rules = schema.get("allOf")
    if not isinstance(rules, list) or not all(isinstance(r, dict) and set(r) == {"if", "then"} for r in rules):
        return None
    keys = {k for r in rules for k in r["if"].get("properties", {})}
    if len(keys) != 1:
        return None
    key = keys.pop()
    values = schema.get("properties", {}).get(key, {}).get("enum")
    if not isinstance(values, list):
        return None
    base = {k: v for k, v in schema.items() if k != "allOf"}
    branches = []
    for value in values:
        then = [r["then"] for r in rules if r["if"]["properties"][key].get("const") == value]
        branch = base | {"properties": dict(base["properties"]) | {key: {"const": value}},
                         "required": sorted({*base.get("required", []), key})}
        branches.append(branch | {"allOf": then} if then else branch)
    return branches


@cache
def valid_objects(name: str) -> st.SearchStrategy[JsonObj]:
    """Objects the contract's schema `name` accepts (checked again with tests/contract.py)."""
    schema = dict(inlined_schema(name))
    branches = _discriminated(schema)
    strategy = from_schema(schema) if branches is None else st.one_of([from_schema(b) for b in branches])
    return cast(st.SearchStrategy[JsonObj], strategy.filter(lambda obj: is_valid(name, obj)))


def device_ids() -> st.SearchStrategy[str]:
    return st.from_regex(DEVICE_ID_RE, fullmatch=True)


def bad_device_ids() -> st.SearchStrategy[str]:
    """One topic level that is not a device id: too short or long, upper case, odd characters."""
    return st.one_of(
        st.sampled_from(["", "ab", "-abc", "ESP32-AAAA", "esp32_aaaa", "a" * 33, "esp32-aaaa\x00", "esp32 aaaa",
                         "+", "#", "esp32-\u00e9aaa", "esp32-aaaa\u202e", "\ufeffesp32-aaaa"]),
        st.text(min_size=0, max_size=40).filter(lambda s: "/" not in s and not _is_device_id(s)),
    )


def _is_device_id(text: str) -> bool:
    return contract.is_device_id(text)


def odd_text(max_size: int) -> st.SearchStrategy[str]:
    """Text made mostly of awkward characters (no lone surrogates: see the surrogate tests)."""
    return st.lists(st.one_of(st.sampled_from(ODD_CHARS), st.characters(exclude_categories=["Cs"])),
                    max_size=max_size).map("".join)


# --- wire form ------------------------------------------------------------------------------------


def to_json(obj: object, *, ascii_only: bool = False) -> bytes:
    """Compact JSON: non-ASCII raw in UTF-8, or every one escaped (both are what devices may send)."""
    return json.dumps(obj, ensure_ascii=ascii_only, separators=(",", ":"), allow_nan=False).encode()


def limit(channel: str) -> int:
    return MAX_REQUEST_PAYLOAD if channel == "request" else MAX_DEVICE_PAYLOAD


@dataclass(frozen=True, slots=True)
class Case:
    """One message: `reason` is what the controller must count it as (None: accepted)."""

    channel: str
    device_id: str
    payload: bytes
    reason: str | None
    what: str

    def topic(self, root: str) -> str:
        if self.channel == "request":
            return f"{root}/controller/requests/hostile"
        return f"{root}/devices/{self.device_id}/{self.channel}"

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return f"Case({self.what}: {self.channel} on {self.device_id!r}, {self.payload[:300]!r} -> {self.reason})"


def with_sender(channel: str, obj: JsonObj, device_id: str, keep_id: bool) -> JsonObj:
    """A device message carries its own id, or none (both allowed); a request asks for its reply
    under the root "fleet", the one the tests' controller answers under."""
    if channel == "request":
        return {**obj, "reply_to": "fleet/clients/" + str(obj["reply_to"]).split("/clients/")[-1]}
    out = {k: v for k, v in obj.items() if k != "id"}
    if keep_id:
        out["id"] = device_id
    return out


def judged(channel: str, device_id: str, payload: bytes, reason: str | None, what: str) -> Case:
    """A case, judged in the controller's order: the topic's device id first, then the size (the
    decoder looks at nothing else of an oversize payload), then `reason`."""
    if channel != "request" and not _is_device_id(device_id):
        reason = "bad_device_id"
    elif len(payload) > limit(channel):
        reason = "too_large"
    elif not payload and channel in ("status", "state", "request"):
        reason = UNKNOWN  # clears a retained message: the controller ignores it, a decoder calls it bad_json
    return Case(channel, device_id, payload, reason, what)


def valid_case(channel: str, obj: JsonObj, device_id: str, *, ascii_only: bool = False) -> Case:
    return judged(channel, device_id, to_json(obj, ascii_only=ascii_only), None, "valid")


# --- mutations ------------------------------------------------------------------------------------


def read_paths(channel: str, obj: Mapping[str, Any]) -> list[Path]:
    """Fields the controller's decoder reads for this message (present or not).

    The decoder ignores what the contract lets it ignore (a rejected state's session fields, say);
    a changed field it reads must be judged exactly like the JSON Schema judges it.
    """
    if channel == "status":
        return [("online",), ("boot",), ("fw",), ("ip",), ("reason",)]
    if channel == "heartbeat":
        return [(k,) for k in ("boot", "uptime_s", "rssi", "heap", "fw", "config_version", "stations", "queued",
                               "stations_peak", "stations_refused", "checkins_served")]
    if channel == "state":
        paths: list[Path] = [("config_version",), ("result",), ("applied_version",)]
        if obj.get("result") == "rejected":
            paths.append(("error",))
        elif obj.get("result") == "applied":
            paths.append(("active_session",))
            if obj.get("active_session") is True:
                paths += [("session_id",), ("ssid",)]
        return paths
    if channel == "attendance":
        paths = [("session_id",), ("events",)]
        events = obj.get("events")
        if isinstance(events, list):
            for i, event in enumerate(events):
                paths.append(("events", i))
                if isinstance(event, dict):
                    paths += [("events", i, k) for k in ("seq", "student_id", "station_mac", "uptime_ms")]
        return paths
    if channel == "request":
        return [("id",), ("reply_to",), ("params",)]  # method: any name, the API answers unknown_method
    raise ValueError(channel)


def set_path(obj: JsonObj, path: Path, value: object) -> JsonObj:
    """A deep copy of `obj` with `path` set to `value`."""
    out: JsonObj = json.loads(json.dumps(obj))
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


@cache
def _envelope_validator() -> Any:
    """The request schema without its per-method params rules and method list: what
    `Request.from_obj` checks (params are the request API's job: bad_request, unknown_method)."""
    schema = dict(inlined_schema("request"))
    schema.pop("allOf", None)
    schema["properties"] = dict(schema["properties"]) | {"method": {"type": "string"}}
    return contract.ContractValidator(schema, registry=contract.registry())


def schema_reason(channel: str, obj: object) -> str | None:
    """None if the contract accepts `obj` on `channel`, else "schema" (decoders' word for it)."""
    if channel == "request":
        errors = list(_envelope_validator().iter_errors(obj))
        if not errors:
            return None
        fields = {next(iter(e.absolute_path), None) for e in errors}
        # the controller checks the reply address first, so that it can answer any further fault
        if isinstance(obj, dict) and "v" in obj and obj["v"] == 1 and type(obj["v"]) is int:
            if "id" in fields or "id" not in obj:
                return "bad_request_id"
            if "reply_to" in fields or "reply_to" not in obj:
                return "bad_reply_to"
        return "schema"
    return None if is_valid(channel, obj) else "schema"


def changed_field(channel: str, device_id: str, obj: JsonObj, path: Path, value: object) -> Case:
    mutated = set_path(obj, path, value)
    return judged(channel, device_id, to_json(mutated), schema_reason(channel, mutated), f"{path} = {value!r:.40}")


def dropped_field(channel: str, device_id: str, obj: JsonObj, path: Path) -> Case:
    mutated: JsonObj = json.loads(json.dumps(obj))
    node: Any = mutated
    for key in path[:-1]:
        node = node[key]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    return judged(channel, device_id, to_json(mutated), schema_reason(channel, mutated), f"without {path}")


def wrong_version(channel: str, device_id: str, obj: JsonObj, version: object) -> Case:
    return judged(channel, device_id, to_json({**obj, "v": version}), "bad_version", f"v = {version!r}")


def missing_version(channel: str, device_id: str, obj: JsonObj) -> Case:
    return judged(channel, device_id, to_json({k: v for k, v in obj.items() if k != "v"}), "schema", "no v")


def spoofed_id(channel: str, device_id: str, obj: JsonObj, other: object) -> Case:
    """A device message whose "id" is not its topic's device: never accepted."""
    return judged(channel, device_id, to_json({**obj, "id": other}), "id_mismatch", f"id = {other!r:.40}")


def oversize(channel: str, device_id: str, obj: JsonObj, extra: int) -> Case:
    padded = {**obj, "pad": ""}
    filler = limit(channel) - len(to_json(padded)) + max(1, extra)
    return Case(channel, device_id, to_json({**obj, "pad": "x" * filler}), "too_large", f"{extra} bytes over")


def nested(channel: str, device_id: str, obj: JsonObj, depth: int) -> Case:
    """An unknown field nested `depth` deep inside the message: ignored (the contract: unknown fields
    are ignored) while the whole stays within MAX_JSON_DEPTH levels, bad_json past it, whatever the
    interpreter's recursion limit."""
    payload = to_json(obj)[:-1] + b',"nest":' + b"[" * depth + b"]" * depth + b"}"
    return judged(channel, device_id, payload, None if depth + 1 <= MAX_JSON_DEPTH else "bad_json",
                  f"nested {depth}")


def non_finite(channel: str, device_id: str, obj: JsonObj, path: Path, literal: str) -> Case:
    """NaN / Infinity / -Infinity: not JSON, whatever field they stand in."""
    marker = "\u0000NONFINITE\u0000"
    payload = to_json(set_path(obj, path, marker), ascii_only=True)
    payload = payload.replace(json.dumps(marker).encode(), literal.encode(), 1)
    return judged(channel, device_id, payload, "bad_json", f"{path} = {literal}")


def other_encoding(channel: str, device_id: str, obj: JsonObj, encoding: str) -> Case:
    """The same text in UTF-16/UTF-32 or behind a UTF-8 BOM: not the contract's UTF-8."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    payload = b"\xef\xbb\xbf" + text.encode() if encoding == "utf-8-sig" else text.encode(encoding)
    return judged(channel, device_id, payload, "bad_json", encoding)


def truncated(channel: str, device_id: str, obj: JsonObj, keep: float) -> Case:
    payload = to_json(obj)
    cut = payload[: int(len(payload) * keep) % len(payload)]
    return judged(channel, device_id, cut, "bad_json", f"cut at {len(cut)}")


def invalid_utf8(channel: str, device_id: str, obj: JsonObj, raw: bytes) -> Case:
    """Bytes that are not UTF-8 (a lone continuation byte, an overlong form, an encoded surrogate)
    inside a string value."""
    text = to_json({**obj, "junk": "\u0000MARK"})
    payload = text.replace(b"\\u0000MARK", raw, 1)
    return judged(channel, device_id, payload, "bad_json", f"raw {raw!r}")


def not_an_object(channel: str, device_id: str, value: object) -> Case:
    return judged(channel, device_id, to_json(value), "not_object", f"top level {type(value).__name__}")


INVALID_UTF8: Final = (b"\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff", b"\xc3")


# --- hypothesis strategies ------------------------------------------------------------------------


@st.composite
def valid_cases(draw: st.DrawFn, channel: str) -> Case:
    """A schema-valid message on `channel`, within the payload limit."""
    device_id = draw(device_ids())
    obj = with_sender(channel, draw(valid_objects(channel)), device_id, draw(st.booleans()))
    # a schema-valid message over the size limit is too_large: that rule is the contract's, not the schema's
    return valid_case(channel, obj, device_id, ascii_only=draw(st.booleans()))


def _base(draw: st.DrawFn, channel: str) -> tuple[str, JsonObj]:
    device_id = draw(device_ids())
    return device_id, with_sender(channel, draw(valid_objects(channel)), device_id, draw(st.booleans()))


def _spoof(draw: st.DrawFn, channel: str, device_id: str, obj: JsonObj, _path: Path) -> Case:
    other = draw(st.one_of(device_ids(), st.sampled_from(WRONG_VALUES), odd_text(40)))
    if other == device_id:
        other = device_id + "x" if len(device_id) < 32 else device_id[:-1]
    return spoofed_id(channel, device_id, obj, other)


def _nested(draw: st.DrawFn, channel: str, device_id: str, obj: JsonObj, _path: Path) -> Case:
    depth = draw(st.one_of(st.integers(1, 40), st.integers(100, 500),
                           st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 3), st.integers(1500, 4000)))
    return nested(channel, device_id, obj, depth)


def _not_object(draw: st.DrawFn, channel: str, device_id: str, _obj: JsonObj, _path: Path) -> Case:
    value = draw(st.one_of(st.lists(st.integers(), max_size=3), st.text(max_size=20), st.integers(),
                           st.booleans(), st.none(), st.floats(allow_nan=False, allow_infinity=False)))
    return not_an_object(channel, device_id, value)


_Mutation = Callable[[st.DrawFn, str, str, JsonObj, Path], Case]
_MUTATIONS: dict[str, _Mutation] = {
    "field": lambda draw, ch, dev, obj, path: changed_field(ch, dev, obj, path, draw(st.sampled_from(WRONG_VALUES))),
    "odd_text": lambda draw, ch, dev, obj, path: changed_field(ch, dev, obj, path, draw(odd_text(140))),
    "drop": lambda _draw, ch, dev, obj, path: dropped_field(ch, dev, obj, path),
    "version": lambda draw, ch, dev, obj, _path: wrong_version(ch, dev, obj, draw(st.sampled_from(WRONG_VERSIONS))),
    "no_version": lambda _draw, ch, dev, obj, _path: missing_version(ch, dev, obj),
    "spoof": _spoof,
    "oversize": lambda draw, ch, dev, obj, _path: oversize(ch, dev, obj, draw(st.integers(1, 3000))),
    "nested": _nested,
    "non_finite": lambda draw, ch, dev, obj, path: non_finite(
        ch, dev, obj, path, draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))),
    "encoding": lambda draw, ch, dev, obj, _path: other_encoding(
        ch, dev, obj, draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"]))),
    "truncated": lambda draw, ch, dev, obj, _path: truncated(ch, dev, obj, draw(st.floats(0, 1, exclude_max=True))),
    "utf8": lambda draw, ch, dev, obj, _path: invalid_utf8(ch, dev, obj, draw(st.sampled_from(INVALID_UTF8))),
    "not_object": _not_object,
}


@st.composite
def mutated_cases(draw: st.DrawFn, channel: str) -> Case:
    """One mutation of a valid message, with the reason the contract gives it."""
    device_id, obj = _base(draw, channel)
    kind = draw(st.sampled_from(list(_MUTATIONS)))
    if kind == "spoof" and channel == "request":
        kind = "version"
    path = draw(st.sampled_from(read_paths(channel, obj)))
    return _MUTATIONS[kind](draw, channel, device_id, obj, path)


@st.composite
def chaos_cases(draw: st.DrawFn, channel: str) -> Case:
    """Anything at all: random bytes, random JSON, duplicate keys, lone surrogate escapes. The
    generator does not know the outcome; the decoder must accept it or reject it with a reason."""
    device_id = draw(st.one_of(device_ids(), bad_device_ids()))
    kind = draw(st.sampled_from(["bytes", "json", "duplicates", "surrogate", "mutated"]))
    if kind == "bytes":
        payload = draw(st.binary(max_size=1100))
    elif kind == "json":
        payload = to_json(draw(st.dictionaries(st.sampled_from(["v", "id", "boot", "online", "x", "events"]),
                                               _json_values(), max_size=6)))
    elif kind == "duplicates":
        _, obj = _base(draw, channel)
        key = draw(st.sampled_from(sorted(obj)))
        dup = json.dumps(draw(st.sampled_from(WRONG_VALUES)))
        payload = to_json(obj)[:-1] + f',"{key}":{dup}}}'.encode()
    elif kind == "surrogate":
        _, obj = _base(draw, channel)
        path = draw(st.sampled_from(read_paths(channel, obj)))
        lone = draw(st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\udbff"]))
        payload = to_json(set_path(obj, path, lone), ascii_only=True)
    else:
        return draw(mutated_cases(channel))
    return judged(channel, device_id, payload, ANY_REJECTION if kind == "bytes" else UNKNOWN, kind)


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=20))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(max_size=5), inner, max_size=3), max_leaves=10)


# --- a seeded flood, for the broker tests -----------------------------------------------------------

EXAMPLE_BASES: Final = {channel: contract.EXAMPLES_DIR / channel / "valid" for channel in CHANNELS}


@cache
def example_bases(channel: str) -> tuple[JsonObj, ...]:
    """The contract's own valid examples of `channel`: the flood's starting points."""
    return tuple(json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLE_BASES[channel].glob("*.json")))


FloodMutation = Callable[[random.Random, str, str, JsonObj], Case]

_FLOOD: Final[tuple[FloodMutation, ...]] = (
    lambda r, c, d, o: changed_field(c, d, o, r.choice(read_paths(c, o)), r.choice(WRONG_VALUES)),
    lambda r, c, d, o: changed_field(c, d, o, r.choice(read_paths(c, o)),
                                     "".join(r.choice(ODD_CHARS) for _ in range(r.randint(1, 200)))),
    lambda r, c, d, o: wrong_version(c, d, o, r.choice(WRONG_VERSIONS)),
    lambda r, c, d, o: missing_version(c, d, o),
    lambda r, c, d, o: oversize(c, d, o, r.randint(1, 4000)),
    lambda r, c, d, o: non_finite(c, d, o, r.choice(read_paths(c, o)), r.choice(["NaN", "Infinity", "-Infinity"])),
    lambda r, c, d, o: other_encoding(c, d, o, r.choice(["utf-16", "utf-16-be", "utf-32", "utf-8-sig"])),
    lambda r, c, d, o: truncated(c, d, o, r.random()),
    lambda r, c, d, o: invalid_utf8(c, d, o, r.choice(INVALID_UTF8)),
    lambda r, c, d, o: not_an_object(c, d, r.choice([[], [1, 2], "text", 42, None, True])),
    lambda r, c, d, o: judged(c, d, r.randbytes(r.randint(1, 1500)), ANY_REJECTION, "random bytes"),
)
_FLOOD_DEVICE_ONLY: Final[tuple[FloodMutation, ...]] = (
    lambda r, c, d, o: spoofed_id(c, d, o, f"esp32-{r.getrandbits(48):012x}"),
    lambda r, c, d, o: Case(c, _random_bad_id(r), to_json(o), "bad_device_id", "bad topic id"),
)


def _random_bad_id(rng: random.Random) -> str:
    choices = ["ESP32-" + f"{rng.getrandbits(48):012X}", f"esp32_{rng.getrandbits(32):08x}", "x" * rng.randint(33, 60),
               f"esp32-{rng.getrandbits(16):04x}\u00e9", f"e{rng.getrandbits(8):02x}\u202e", "ab", "-abc"]
    return rng.choice(choices)


def flood(rng: random.Random, n: int, channels: tuple[str, ...] = CHANNELS) -> Iterator[Case]:
    """`n` hostile messages spread over `channels`, every one a mutation of a contract example."""
    for _ in range(n):
        channel = rng.choice(channels)
        device_id = f"esp32-{rng.getrandbits(48):012x}"
        obj = with_sender(channel, rng.choice(example_bases(channel)), device_id, rng.random() < 0.5)
        mutations = _FLOOD + (_FLOOD_DEVICE_ONLY if channel != "request" else ())
        yield rng.choice(mutations)(rng, channel, device_id, obj)
