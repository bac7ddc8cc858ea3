"""Hostile input to the controller's decoders, in memory: topic parsing, the JSON envelope and every
inbound message (status, heartbeat, state, attendance, requests).

Properties:
* what the contract's schemas accept, the decoders accept (hypothesis-jsonschema generates it), and
  what they decode encodes back to the same value and to a schema-valid message;
* a mutation of a valid message is rejected with exactly the reason the contract gives it;
* whatever the input, only `Rejected` leaves a decoder, with one of the contract's reasons.

The decoding is the daemon's own (`controller.contract.decode`); test_fuzz_controller_live.py sends
it all through a broker to a running controller.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.contract.decode import DECODERS, decode, request_envelope
from controller.contract.messages import (
    MAX_REQUEST_PAYLOAD,
    Config,
    Heartbeat,
    Request,
    decode_heartbeat,
    encode,
    load_object,
)
from controller.contract.readers import MAX_STORED_ID
from controller.contract.requests import METHODS, SessionStartParams
from controller.contract.topics import Channel, DeviceTopic, Topics
from controller.errors import BadRequest, Rejected, UnknownSession
from tests import contract
from tests.faults import hostile
from tests.faults.hostile import ANY_REJECTION, CHANNELS, DECODER_REASONS, DEVICE_CHANNELS, UNKNOWN, Case

TOPICS = Topics("fleet")
_NO_VALUE = object()


def decode_case(case: Case) -> object:
    """What the controller makes of one inbound message, with the daemon's decoding."""
    if case.channel == "request":  # the controller's order: the reply address, its topic, the rest
        return Request.from_obj(request_envelope(TOPICS, case.payload, max_bytes=MAX_REQUEST_PAYLOAD).obj)
    return decode(TOPICS, case.topic(TOPICS.root), case.payload)[1]


def outcome(case: Case) -> tuple[str | None, object]:
    """(None, value) when accepted, (reason, _NO_VALUE) when rejected; anything else propagates."""
    try:
        return None, decode_case(case)
    except Rejected as exc:
        assert exc.reason in DECODER_REASONS, f"unknown reason {exc.reason!r} for {case}"
        return exc.reason, _NO_VALUE


def check(case: Case) -> tuple[str | None, object]:
    reason, value = outcome(case)
    if case.reason == ANY_REJECTION:
        assert reason is not None, f"accepted: {case}"
    elif case.reason != UNKNOWN:
        assert reason == case.reason, f"got {reason}, contract says {case.reason}: {case}"
    return reason, value


# --- what the schemas accept is accepted ------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@given(data=st.data())
def test_schema_valid_messages_are_accepted_and_round_trip(channel: str, data: st.DataObject) -> None:
    case = data.draw(hostile.valid_cases(channel))
    reason, value = check(case)
    if reason is not None:
        return  # valid but over the size limit: too_large, as check() confirmed
    if isinstance(value, Request):
        again = Request.from_obj(load_object(encode(value.to_obj()), max_bytes=MAX_REQUEST_PAYLOAD))
        assert again == value
        return
    wire: dict[str, Any] = value.to_obj(case.device_id)  # type: ignore[attr-defined]
    contract.validate(channel, wire)
    assert type(value).from_obj(load_object(encode(wire), device_id=case.device_id)) == value  # type: ignore[attr-defined]


@given(obj=hostile.valid_objects("config"))
def test_schema_valid_configs_are_accepted_and_round_trip(obj: dict[str, Any]) -> None:
    """The controller reads its desired configs back from the database with `Config.from_obj`."""
    config = Config.from_obj(obj)
    contract.validate("config", config.to_obj())
    assert Config.from_obj(json.loads(encode(config.to_obj()))) == config


@given(obj=hostile.valid_objects("request"))
def test_schema_valid_request_params_are_accepted_by_the_api(obj: dict[str, Any]) -> None:
    """Read without bad_request. A session id the schema allows (a counter) but no database row can
    hold is answered unknown_session, as for any session that does not exist: an answer, not a refusal
    of the params (tests/unit/contract/test_requests.py holds the message)."""
    try:
        METHODS[obj["method"]].params.from_obj(obj.get("params", {}))
    except UnknownSession as exc:
        assert obj["params"]["session_id"] > MAX_STORED_ID, exc.message


# --- mutations are rejected for the contract's reason ----------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@given(data=st.data())
def test_mutated_messages_are_rejected_for_the_contracts_reason(channel: str, data: st.DataObject) -> None:
    check(data.draw(hostile.mutated_cases(channel)))


@pytest.mark.parametrize("channel", CHANNELS)
@given(data=st.data())
def test_anything_is_accepted_or_rejected_with_a_reason(channel: str, data: st.DataObject) -> None:
    check(data.draw(hostile.chaos_cases(channel)))


@given(payload=st.binary(max_size=9000), max_bytes=st.sampled_from([1024, 8192]))
def test_random_bytes_never_get_past_the_envelope_unrejected(payload: bytes, max_bytes: int) -> None:
    try:
        obj = load_object(payload, max_bytes=max_bytes)
    except Rejected as exc:
        assert exc.reason in DECODER_REASONS
    else:
        assert type(obj) is dict and obj["v"] == 1


# --- the heartbeat fast path decides as the general path does ---------------------------------------


def _verdicts(payload: bytes, device_id: str) -> tuple[object, object]:
    def run(decoder: Any) -> object:
        try:
            return decoder()
        except Rejected as exc:
            return exc.reason

    return (run(lambda: decode_heartbeat(payload, device_id)),
            run(lambda: Heartbeat.from_obj(load_object(payload, device_id=device_id))))


_EDGE_COUNTERS = st.one_of(st.integers(0, 300), st.sampled_from([2**32 - 1, 2**32, 10**10 - 1, 10**10]),
                           st.integers(-3, -1))


@given(boot=_EDGE_COUNTERS, uptime=_EDGE_COUNTERS, rssi=st.one_of(st.none(), st.integers(-200, 3)),
       heap=st.one_of(st.none(), _EDGE_COUNTERS), fw=st.one_of(st.none(), st.text(max_size=40)),
       rest=st.lists(st.one_of(st.none(), _EDGE_COUNTERS), min_size=6, max_size=6),
       sender=st.sampled_from(["same", "none", "other"]))
def test_canonical_heartbeats_decode_as_the_general_path_decodes(
    *, boot: int, uptime: int, rssi: int | None, heap: int | None, fw: str | None, rest: list[int | None], sender: str,
) -> None:
    """Payloads in the firmware's field order, values on and over every limit: both paths agree."""
    device_id = "esp32-aaaaaaaaaaaa"
    sent_id = {"same": device_id, "none": None, "other": "esp32-bbbbbbbbbbbb"}[sender]
    fields = {"v": 1, "id": sent_id, "boot": boot, "uptime_s": uptime, "rssi": rssi, "heap": heap, "fw": fw,
              "config_version": rest[0], "stations": rest[1], "queued": rest[2], "stations_peak": rest[3],
              "stations_refused": rest[4], "checkins_served": rest[5]}
    payload = encode({k: v for k, v in fields.items() if v is not None})
    fast, general = _verdicts(payload, device_id)
    assert fast == general


@given(data=st.data())
def test_any_heartbeat_payload_decodes_as_the_general_path_decodes(data: st.DataObject) -> None:
    case = data.draw(st.one_of(hostile.valid_cases("heartbeat"), hostile.mutated_cases("heartbeat"),
                               hostile.chaos_cases("heartbeat")))
    fast, general = _verdicts(case.payload, case.device_id)
    assert fast == general


# --- topics ----------------------------------------------------------------------------------------


@given(topic=st.one_of(st.text(max_size=120), st.builds("fleet/devices/{}/{}".format, st.text(max_size=40),
                                                       st.sampled_from([c.value for c in Channel] + ["x", ""]))))
def test_any_topic_parses_or_is_rejected_as_bad_topic_or_bad_device_id(topic: str) -> None:
    try:
        parsed = TOPICS.parse_device(topic)
    except Rejected as exc:
        assert exc.reason in {"bad_topic", "bad_device_id"}
    else:
        assert topic == TOPICS.device(parsed.device_id, parsed.channel.value)
        assert contract.is_device_id(parsed.device_id)


@given(device_id=hostile.device_ids(), channel=st.sampled_from(list(Channel)))
def test_device_topics_parse(device_id: str, channel: Channel) -> None:
    assert TOPICS.parse_device(TOPICS.device(device_id, channel.value)) == DeviceTopic(device_id, channel)


@given(device_id=hostile.bad_device_ids(), channel=st.sampled_from(list(Channel)))
def test_spoofed_topic_ids_are_bad_device_ids(device_id: str, channel: Channel) -> None:
    with pytest.raises(Rejected) as caught:
        TOPICS.parse_device(TOPICS.device(device_id, channel.value))
    assert caught.value.reason == "bad_device_id"


@given(device_id=hostile.device_ids(), channel=st.sampled_from(list(Channel)),
       shape=st.sampled_from(["{root}x/devices/{id}/{ch}", "{root}/device/{id}/{ch}", "{root}/devices/{id}/{ch}/x",
                              "{root}/devices/{id}", "{root}/devices/{id}/{ch}x", "/{root}/devices/{id}/{ch}",
                              "{root}/devices/{id}/config", "{root}/devices/{id}/attendance/ack",
                              "{root}/controller/status", "other/devices/{id}/{ch}"]))
def test_foreign_topics_are_bad_topics(device_id: str, channel: Channel, shape: str) -> None:
    with pytest.raises(Rejected) as caught:
        TOPICS.parse_device(shape.format(root=TOPICS.root, id=device_id, ch=channel.value))
    assert caught.value.reason == "bad_topic"


# --- found by the fuzzing: bugs the lead fixes (then drop the marker) ------------------------------

LONE_SURROGATES = [
    ("heartbeat", b'{"v":1,"boot":1,"uptime_s":1,"fw":"\\ud800"}'),
    ("status", b'{"v":1,"online":true,"boot":1,"ip":"10.0.0.1\\udfff"}'),
    ("state", b'{"v":1,"config_version":3,"result":"rejected","error":"\\udc00 softAP"}'),
    ("attendance", b'{"v":1,"session_id":1,"events":[{"seq":1,"student_id":"U1\\ud83d"}]}'),
    ("request", b'{"v":1,"id":"\\ud800","reply_to":"fleet/clients/c/replies","method":"stats"}'),
]


@pytest.mark.parametrize(("channel", "payload"), LONE_SURROGATES, ids=[c for c, _ in LONE_SURROGATES])
def test_lone_surrogate_escapes_are_rejected_as_bad_json(channel: str, payload: bytes) -> None:
    """A lone surrogate is not a Unicode character: no UTF-8 text can carry it, the firmware's
    parser rejects it (bad_json) and SQLite/PostgreSQL and `encode()` cannot store or echo it."""
    case = Case(channel, "esp32-aaaaaaaaaaaa", payload, "bad_json", "lone surrogate")
    reason, value = outcome(case)
    if reason is None:  # what happens today: accepted, then it cannot leave the controller again
        to_obj = getattr(value, "to_obj")  # noqa: B009
        encode(to_obj("esp32-aaaaaaaaaaaa") if channel != "request" else to_obj())
    assert reason == "bad_json"


DUPLICATE_KEYS = [
    ("heartbeat", b'{"v":1,"boot":1,"uptime_s":1,"boot":2}'),
    ("heartbeat", b'{"v":1,"id":"esp32-aaaaaaaaaaaa","boot":1,"uptime_s":1,"id":"esp32-bbbbbbbbbbbb"}'),
    ("state", b'{"v":1,"config_version":3,"result":"applied","active_session":false,"config_version":9}'),
    ("request", b'{"v":1,"id":"a","reply_to":"fleet/clients/c/replies","method":"stats","v":2}'),
]


@pytest.mark.parametrize(("channel", "payload"), DUPLICATE_KEYS)
def test_duplicate_keys_are_rejected_as_bad_json(channel: str, payload: bytes) -> None:
    assert outcome(Case(channel, "esp32-aaaaaaaaaaaa", payload, "bad_json", "duplicate keys"))[0] == "bad_json"


START = {"course": "CS101", "title": "Introduction to Computer Science", "session": "2024/2025",
         "semester": "1st Semester", "lecturer": "alice"}


ODD_BUT_VALID_START = [
    START | {"title": "Introduction\u00a0to Computer Science"},  # a no-break space, as pasted from a timetable
    START | {"lecturer": "\U0001f469\u200d\U0001f3eb Dr. Okafor"},  # an emoji with a zero-width joiner
    START | {"title": "\u05de\u05d1\u05d5\u05d0 \u200fCS"},  # Hebrew with a right-to-left mark
]


@pytest.mark.parametrize("params", ODD_BUT_VALID_START, ids=["nbsp", "zwj", "rlm"])
def test_schema_valid_session_start_params_are_accepted(params: dict[str, Any]) -> None:
    request = {"v": 1, "id": "r1", "reply_to": "fleet/clients/c/replies", "method": "session.start", "params": params}
    contract.validate("request", request)
    try:
        SessionStartParams.from_obj(params)
    except BadRequest as exc:
        pytest.fail(f"schema-valid params refused: {exc}")


@pytest.mark.parametrize("channel", DEVICE_CHANNELS)
def test_every_device_channel_has_a_decoder(channel: str) -> None:
    assert Channel(channel) in DECODERS
