"""Hostile input to the firmware core's decoders (lib/fleet_core: messages, config, json_codec,
topics) and to a whole `fleet::Device`, through fleet-fuzz-driver built with AddressSanitizer and
UBSan (firmware/fuzz/, tests/faults/firmware_driver.py).

Properties:
* no input crashes the driver or trips a sanitizer, and memory stays flat;
* what the contract's schemas accept, the firmware accepts, and decodes to the same fields as the
  controller does (a differential test of the C++ and the Python decoders);
* a mutated message gets the contract's reason, as from the controller (where the firmware is
  deliberately stricter, the test says so);
* a device fed hostile configs, acks and topics publishes only contract-valid messages and still
  applies the next good config.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from controller.contract.messages import Config
from controller.contract.topics import Topics
from controller.contract.updates import UpdateCommand
from controller.errors import Rejected
from tests import contract
from tests.faults import hostile
from tests.faults.firmware_driver import FuzzDriver, ensure_built
from tests.faults.hostile import ANY_REJECTION, DEVICE_CHANNELS, UNKNOWN, Case
from tests.faults.test_fuzz_controller import outcome

KIND: Final = {"status": "s", "heartbeat": "h", "state": "S", "attendance": "a", "attendance_ack": "k",
               "config": "c"}
MAX_NESTING: Final = 16  # firmware/lib/fleet_core json_codec.cpp kMaxNesting, the top-level object included
FIRMWARE_REASONS: Final = frozenset({"too_large", "bad_json", "not_object", "bad_version", "schema", "id_mismatch"})
DEVICE_ID: Final = "esp32-f0f1f2f3f4f5"  # FuzzedDevice::kId in fuzz_driver.cpp


@pytest.fixture(scope="module")
def driver() -> Iterator[FuzzDriver]:
    fuzz = FuzzDriver(ensure_built())
    yield fuzz
    fuzz.close()  # LeakSanitizer reports at exit: a leak fails the last test of the module


def firmware_view(value: Any) -> dict[str, Any]:
    """The controller's decoded device message in the driver's output form: every field but v and id."""
    wire: dict[str, Any] = value.to_obj(None)
    return {k: v for k, v in wire.items() if k not in ("v", "id")}


def has_nul(payload: bytes) -> bool:
    return b"\\u0000" in payload


# --- the firmware agrees with the schemas and with the controller -----------------------------------


@pytest.mark.parametrize("channel", DEVICE_CHANNELS)
@given(data=st.data())
def test_schema_valid_device_messages_decode_as_in_the_controller(
    driver: FuzzDriver, channel: str, data: st.DataObject,
) -> None:
    case = data.draw(hostile.valid_cases(channel))
    # an escaped NUL: the controller keeps it (and cleans it before the database), the firmware refuses
    # it (cJSON would cut the string short): test_nul_in_a_string_is_kept_or_rejected
    assume(not has_nul(case.payload))
    reason, fields = driver.decoded(KIND[channel], case.device_id.encode(), case.payload)
    assert reason == case.reason, case
    if reason is None:
        controller_reason, value = outcome(case)
        assert controller_reason is None
        assert fields == firmware_view(value)


@given(obj=hostile.valid_objects("config"))
def test_schema_valid_configs_are_applied_as_published(driver: FuzzDriver, obj: dict[str, Any]) -> None:
    payload = hostile.to_json(obj)
    assume(len(payload) <= hostile.MAX_DEVICE_PAYLOAD and not has_nul(payload))
    reason, fields = driver.decoded("c", b"", payload)
    assert reason is None, payload
    # what the device stores in flash (and runs again after a reboot) is what the controller publishes
    assert fields == Config.from_obj(obj).to_obj()
    version_reason, version = driver.decoded("p", b"", payload)
    assert version_reason is None and version == {"version": obj["version"]}


@given(obj=hostile.valid_objects("update"))
def test_schema_valid_update_commands_decode_as_in_the_controller(driver: FuzzDriver, obj: dict[str, Any]) -> None:
    payload = hostile.to_json(obj)
    assume(len(payload) <= hostile.MAX_DEVICE_PAYLOAD and not has_nul(payload))
    reason, fields = driver.decoded("u", b"", payload)
    assert reason is None, payload
    expected = UpdateCommand.from_obj(obj).to_obj()
    del expected["v"]
    assert fields == expected


@given(obj=hostile.valid_objects("attendance_ack"))
def test_schema_valid_acks_are_accepted(driver: FuzzDriver, obj: dict[str, Any]) -> None:
    payload = hostile.to_json(obj)
    assume(len(payload) <= hostile.MAX_DEVICE_PAYLOAD)
    assert driver.decoded("k", b"", payload) == (None, {"upto": obj["upto"]})


def firmware_reasons(case: Case) -> set[str | None]:
    """The reasons the firmware may give `case`: the contract's, except where it is stricter on
    purpose — nesting beyond 16 levels is bad_json on a device —, words a malformed sender id as a
    schema error rather than id_mismatch, or skips a UTF-8 byte order mark (cJSON does; RFC 8259
    lets a parser ignore one; the controller's parser does not)."""
    if case.reason in (ANY_REJECTION, UNKNOWN):  # UNKNOWN: an empty payload, which clears a retained one
        return set(FIRMWARE_REASONS)
    allowed: set[str | None] = {case.reason}
    if case.what == "utf-8-sig":
        allowed.add(None)
    if case.what.startswith("nested") and 1 + int(case.what.split()[1]) > MAX_NESTING and case.reason is None:
        allowed = {"bad_json"}
    if case.reason == "id_mismatch":
        allowed.add("schema")
    return allowed


@pytest.mark.parametrize("channel", DEVICE_CHANNELS)
@given(data=st.data())
def test_mutated_device_messages_get_the_contracts_reason(
    driver: FuzzDriver, channel: str, data: st.DataObject,
) -> None:
    case = data.draw(hostile.mutated_cases(channel))
    assume(case.reason != "bad_device_id" and not has_nul(case.payload))
    reason, _ = driver.decoded(KIND[channel], case.device_id.encode(), case.payload)
    assert reason in firmware_reasons(case), f"firmware: {reason}; contract: {case.reason}; {case}"


@pytest.mark.parametrize("channel", [*DEVICE_CHANNELS, "request"])
@given(data=st.data())
def test_anything_is_decoded_or_rejected_without_a_crash(driver: FuzzDriver, channel: str, data: st.DataObject) -> None:
    case = data.draw(hostile.chaos_cases(channel))
    assert driver.call("A", b"fleet", case.payload) == "done"
    for kind in ("s", "h", "S", "a", "k", "c", "p", "u"):
        reason, _ = driver.decoded(kind, case.device_id.encode()[:200], case.payload)
        assert reason is None or reason in FIRMWARE_REASONS
        if case.reason == ANY_REJECTION:
            assert reason is not None


@given(payload=st.binary(max_size=2000))
def test_random_bytes_are_rejected_by_every_decoder(driver: FuzzDriver, payload: bytes) -> None:
    assert driver.call("A", b"fleet", payload) == "done"
    for kind in ("s", "h", "S", "a", "k", "c", "p", "u"):
        reason, _ = driver.decoded(kind, b"", payload)
        assert reason in FIRMWARE_REASONS


# --- topics ---------------------------------------------------------------------------------------


LEAVES: Final = ["status", "heartbeat", "state", "attendance", "config", "attendance/ack", "ack", "", "state/x",
                  "update", "update/state", "update/x"]


@given(topic=st.one_of(st.text(max_size=120), st.builds("fleet/devices/{}/{}".format, st.one_of(
    hostile.device_ids(), hostile.bad_device_ids()), st.sampled_from(LEAVES))))
def test_topics_parse_as_in_the_controller(driver: FuzzDriver, topic: str) -> None:
    line = driver.call("t", b"fleet", topic.encode("utf-8", errors="surrogatepass"))
    try:
        parsed = Topics("fleet").parse_device(topic)
    except Rejected:
        parsed = None
    if parsed is not None:
        assert line == f"ok {parsed.device_id} {parsed.channel.value}"
    elif line != "reject":  # the firmware also knows the controller's outbound channels, and update/state
        _, device_id, leaf = line.split(" ")
        assert leaf in ("config", "attendance/ack", "update", "update/state")
        assert topic == f"fleet/devices/{device_id}/{leaf}"


# --- a whole device under hostile input -------------------------------------------------------------


def deliver(driver: FuzzDriver, leaf: str, payload: bytes, device_id: str = DEVICE_ID) -> dict[str, Any]:
    line = driver.call("D", f"fleet/devices/{device_id}/{leaf}".encode(), payload)
    assert line.startswith("ok "), line
    answer: dict[str, Any] = json.loads(line[3:])
    for sent in answer.get("published", []):
        contract.validate_publish(sent["topic"], sent["payload"].encode(), "fleet")
    return answer


@st.composite
def device_input(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(leaf, payload, topic device id): a config, an ack or garbage, on a right or a wrong topic."""
    leaf = draw(st.sampled_from(["config", "attendance/ack", "config", "state", "x"]))
    payload = draw(st.one_of(
        st.builds(hostile.to_json, hostile.valid_objects("config")),
        st.builds(hostile.to_json, hostile.valid_objects("attendance_ack")),
        hostile.chaos_cases("state").map(lambda c: c.payload),
        st.binary(max_size=1100),
    ))
    device_id = draw(st.sampled_from([DEVICE_ID, DEVICE_ID, "esp32-000000000000", "ESP32-F0F1F2F3F4F5", ""]))
    return leaf, payload, device_id


@given(inputs=st.lists(device_input(), min_size=1, max_size=8))
def test_a_device_under_hostile_input_publishes_only_valid_messages_and_keeps_working(
    driver: FuzzDriver, inputs: list[tuple[str, bytes, str]],
) -> None:
    assert driver.call("R", b"", b"") == "ok"
    version = 0
    for leaf, payload, device_id in inputs:
        version = deliver(driver, leaf, payload, device_id)["version"]
    assume(version < 2**32 - 1)  # nothing is newer than the last version: the version rule's end
    good = {"v": 1, "version": version + 1, "active_session": True, "session_id": 7, "course_code": "CS101",
            "course_title": "Introduction", "session": "2024/2025", "semester": "1st Semester", "lecturer": "",
            "device_id": "ESP32_CS101", "device_name": "CS101 - Introduction", "ssid": "CS101_Attendance",
            "password": "", "location": "CS101 Classroom"}
    after = deliver(driver, "config", hostile.to_json(good))
    assert (after["version"], after["ap_running"], after["ssid"]) == (version + 1, True, "CS101_Attendance")


def test_decoding_hostile_input_leaks_nothing(driver: FuzzDriver) -> None:
    """Allocated bytes (the sanitizer's allocator) before and after thousands of hostile decodes."""
    import random

    rng = random.Random(5)
    cases = list(hostile.flood(rng, 3000, DEVICE_CHANNELS))
    for case in cases[:200]:  # warm up: first-use allocations (locale, iostream) are not leaks
        driver.call("A", b"fleet", case.payload)
    before = driver.allocated()
    for case in cases:
        driver.call("A", b"fleet", case.payload)
        driver.call(KIND[case.channel], case.device_id.encode(), case.payload)
    after = driver.allocated()
    print(f"firmware decoders: {len(cases)} hostile messages x 9 decoders, allocated {before} -> {after} bytes")
    assert after - before <= 1024


# --- found by the fuzzing: bugs the lead fixes (then drop the marker) ------------------------------

CONFIG: Final = {"v": 1, "version": 5, "active_session": True, "session_id": 7, "course_code": "CS101",
                 "course_title": "Introduction", "session": "2024/2025", "semester": "1st Semester",
                 "lecturer": "alice", "device_id": "ESP32_CS101", "device_name": "CS101 - Introduction",
                 "ssid": "CS101_Attendance", "password": "", "location": "CS101 Classroom"}


@pytest.mark.parametrize("field", ["course_title", "lecturer", "location"])
def test_nul_in_a_string_is_kept_or_rejected(driver: FuzzDriver, field: str) -> None:
    obj = CONFIG | {field: "Intro\u0000duction"}
    reason, fields = driver.decoded("c", b"", hostile.to_json(obj))
    assert reason is not None or (fields is not None and fields[field] == obj[field]), fields


@pytest.mark.parametrize("payload", [
    b'{"v":1,"version":5,"active_session":false,"version":9}',
    b'{"v":1,"upto":3,"upto":9}',
    b'{"v":1,"v":2,"version":5,"active_session":false}',
])
def test_duplicate_keys_are_rejected_as_bad_json(driver: FuzzDriver, payload: bytes) -> None:
    kind = "k" if b"upto" in payload else "c"
    assert driver.decoded(kind, b"", payload)[0] == "bad_json"


@pytest.mark.parametrize("payload", [
    b'{"v":1,"version":5,"active_session":false,"note":"a\nb"}',
    b'{"v":1,"version":5,"active_session":false,"note":"\x01"}',
    b'\x01{"v":1,"version":5,"active_session":false}',
    b'{"v":1,"version":5,"active_session":false}\x1f',
])
def test_raw_control_characters_are_rejected_as_bad_json(driver: FuzzDriver, payload: bytes) -> None:
    controller_reason, _ = outcome(Case("heartbeat", DEVICE_ID, payload, UNKNOWN, "control characters"))
    assert controller_reason == "bad_json"
    assert driver.decoded("c", b"", payload)[0] == "bad_json"


@pytest.mark.parametrize("password", ["\u00e9" * 40, "\u4e2d\u6587\u5bc6\u7801" * 6, "p\u00e4sswort-" * 7])
def test_schema_and_firmware_agree_on_passwords(driver: FuzzDriver, password: str) -> None:
    obj = CONFIG | {"password": password}
    schema_ok = hostile.is_valid("config", obj)
    reason, _ = driver.decoded("c", b"", hostile.to_json(obj))
    assert (reason is None) == schema_ok, f"schema valid: {schema_ok}, firmware: {reason}"
