"""The simulated device with plain data: the firmware's limits and check-in rules (the queue
capacity, the duplicate-student check and when it starts over), the config rule and batching."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import pytest

from controller.contract.messages import AP_SLOTS, Config, JsonObject, SessionConfig, encode
from controller.sim import device as device_module
from controller.sim.device import (
    MAX_SEEN_STUDENTS,
    QUEUE_CAPACITY,
    STUDENTS_PER_CLASS,
    CheckinResult,
    SeenStudents,
    SimDevice,
)
from tests.firmware import firmware_constant

MAC = "aa:bb:cc:dd:ee:01"


def config_obj(version: int, session_id: int | None = 42) -> JsonObject:
    if session_id is None:
        return Config(version).to_obj()
    session = SessionConfig(
        session_id, "CS101", "Introduction to Computer Science", "2024/2025", "1st Semester", "alice",
        "ESP32_CS101_2024_2025_1st_Semester", "CS101 - Introduction to Computer Science", "CS101_Attendance", "",
        "CS101 Classroom - 2024/2025 1st Semester",
    )
    return Config(version, session).to_obj()


def config(version: int, session_id: int | None = 42) -> bytes:
    return encode(config_obj(version, session_id))


def in_session(session_id: int = 42) -> SimDevice:
    device = SimDevice("sim-00001", 1, random.Random(1), now=0.0)
    assert device.on_config(config(1, session_id)) is not None
    return device


def students(device: SimDevice) -> list[str]:
    return [event.student_id for _, event in device.queue]


# --- the firmware's limits -----------------------------------------------------------------------


@pytest.mark.parametrize(("ours", "theirs"), [
    (QUEUE_CAPACITY, "kQueueCapacity"), (MAX_SEEN_STUDENTS, "kMaxSeenStudents"), (AP_SLOTS, "kApMaxConnections"),
])
def test_limits_are_the_firmwares(ours: int, theirs: str) -> None:
    assert ours == firmware_constant(theirs)


def test_the_device_model_imports_no_io() -> None:
    tree = ast.parse(Path(device_module.__file__).read_text(encoding="utf-8"))
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m.split(".")[0] for m in modules} <= {"__future__", "collections", "dataclasses", "enum", "itertools",
                                                 "random", "typing", "controller"}
    ours = {m for m in modules if m.startswith("controller")}
    assert all(m.startswith(("controller.contract", "controller.errors", "controller.sim.update")) for m in ours)


# --- check-ins -----------------------------------------------------------------------------------


def test_no_checkin_without_a_session() -> None:
    device = SimDevice("sim-00001", 1, random.Random(1), now=0.0)
    assert device.checkin(1.0, "U2024/0001", MAC) is CheckinResult.NO_ACTIVE_SESSION
    assert device.visit(1.0) is CheckinResult.NO_ACTIVE_SESSION
    assert (len(device.queue), device.next_seq) == (0, 1)


def test_a_student_is_queued_once_per_session() -> None:
    device = in_session()
    assert device.checkin(1.5, "U2024/0001", MAC) is CheckinResult.CHECKED_IN
    assert device.checkin(2.0, "U2024/0001", "aa:bb:cc:dd:ee:02") is CheckinResult.ALREADY_CHECKED_IN
    assert device.checkin(2.5, "U2024/0002", MAC) is CheckinResult.CHECKED_IN
    assert [(s, e.seq, e.student_id, e.uptime_ms) for s, e in device.queue] == [
        (42, 1, "U2024/0001", 1500), (42, 2, "U2024/0002", 2500),
    ]
    assert device.next_seq == 3  # a refused repeat takes no seq


def test_a_new_session_starts_the_duplicate_check_over() -> None:
    device = in_session(42)
    device.checkin(1.0, "U2024/0001", MAC)
    assert device.on_config(config(1, 99)) is None  # an ignored config (same version) changes nothing
    assert device.checkin(2.0, "U2024/0001", MAC) is CheckinResult.ALREADY_CHECKED_IN
    assert device.on_config(encode({**config_obj(5, 43), "password": "short"})) is not None  # rejected
    assert device.checkin(2.0, "U2024/0001", MAC) is CheckinResult.ALREADY_CHECKED_IN
    assert device.on_config(config(2, 42)) is not None  # a newer config of the same session: kept
    assert device.checkin(2.0, "U2024/0001", MAC) is CheckinResult.ALREADY_CHECKED_IN
    assert device.on_config(config(3, 43)) is not None
    assert device.checkin(3.0, "U2024/0001", MAC) is CheckinResult.CHECKED_IN
    assert [(s, e.student_id) for s, e in device.queue] == [(42, "U2024/0001"), (43, "U2024/0001")]


def test_heartbeats_report_the_sessions_slot_use_without_refusals() -> None:
    device = in_session(42)
    device.checkin(1.0, "U2024/0001", MAC)
    device.checkin(1.5, "U2024/0001", MAC)  # a repeat is not served again
    beats = [device.heartbeat(2.0) for _ in range(20)]
    assert [b.checkins_served for b in beats] == [1] * 20
    assert [b.stations_peak for b in beats] == [max(b.stations or 0 for b in beats[: i + 1]) for i in range(20)]
    assert all(b.stations_refused is None for b in beats)  # no radio model: left out, as an ESP32 does
    assert device.on_config(config(2, 43)) is not None
    assert device.heartbeat(3.0).checkins_served == 0


def test_an_idle_config_between_forgets_the_session() -> None:
    device = in_session(42)
    device.checkin(1.0, "U2024/0001", MAC)
    assert device.on_config(config(2, None)) is not None
    assert device.on_config(config(3, 42)) is not None  # the same session again, as the firmware sees it: new
    assert device.checkin(2.0, "U2024/0001", MAC) is CheckinResult.CHECKED_IN


def test_after_a_reboot_the_queue_is_what_is_remembered() -> None:
    device = in_session()
    device.checkin(1.0, "U2024/0001", MAC)
    device.checkin(1.0, "U2024/0002", MAC)
    device.on_ack(b'{"v": 1, "upto": 1}')
    device.reboot(now=5.0)  # the firmware rebuilds its seen students from the queued check-ins
    assert device.checkin(6.0, "U2024/0002", MAC) is CheckinResult.ALREADY_CHECKED_IN
    assert device.checkin(6.0, "U2024/0001", MAC) is CheckinResult.CHECKED_IN


def test_a_full_queue_refuses_and_forgets() -> None:
    device = in_session()
    for n in range(QUEUE_CAPACITY):
        assert device.checkin(1.0, f"U2024/{n:04d}", MAC) is CheckinResult.CHECKED_IN
    assert device.checkin(2.0, "U2024/9999", MAC) is CheckinResult.QUEUE_FULL
    assert (len(device.queue), device.next_seq) == (QUEUE_CAPACITY, QUEUE_CAPACITY + 1)
    assert device.queue[0][1].seq == 1  # the oldest is kept, as in flash
    device.on_ack(b'{"v": 1, "upto": 1}')
    assert device.checkin(3.0, "U2024/9999", MAC) is CheckinResult.CHECKED_IN  # refused, so not remembered
    assert device.queue[-1][1].seq == QUEUE_CAPACITY + 1


def test_visits_draw_from_the_class_and_repeats_are_refused() -> None:
    device = in_session()
    results = [device.visit(float(i)) for i in range(2000)]
    assert results.count(CheckinResult.CHECKED_IN) == len(device.queue) <= STUDENTS_PER_CLASS
    assert CheckinResult.ALREADY_CHECKED_IN in results
    assert len(set(students(device))) == len(device.queue)
    assert all(re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", e.station_mac or "") for _, e in device.queue)


def test_seen_students_are_bounded() -> None:
    seen = SeenStudents(capacity=2)
    seen.reset(7)
    assert seen.insert("a") and seen.insert("b") and seen.insert("a")
    assert not seen.insert("c")
    assert "c" not in seen and "a" in seen and len(seen) == 2
    seen.reset(8)
    assert (seen.session_id, len(seen)) == (8, 0)


# --- batches and the config rule -----------------------------------------------------------------


def test_batches_respect_the_event_and_byte_limits() -> None:
    device = in_session()
    for i in range(100):
        device.checkin(float(i), f"U2024/{i:04d}", MAC)
    batches = device.unsent_batches()
    assert [e.seq for b in batches for e in b.events] == list(range(1, 101))
    assert all(1 <= len(b.events) <= 32 and len(encode(b.to_obj(device.device_id))) <= 1024 for b in batches)
    assert device.unsent_batches() == []
    device.link_up()
    assert len(device.unsent_batches()) == len(batches)


def test_batches_hold_one_session_each() -> None:
    device = in_session(42)
    device.checkin(1.0, "U2024/0001", MAC)
    device.on_config(config(2, 43))
    device.checkin(2.0, "U2024/0001", MAC)
    assert [(b.session_id, [e.seq for e in b.events]) for b in device.unsent_batches()] == [(42, [1]), (43, [2])]


def test_config_rule_and_bad_payloads() -> None:
    device = SimDevice("sim-00001", 1, random.Random(1), now=0.0)
    assert device.on_config(b"not json") is not None and device.state is not None
    assert device.state.result == "rejected" and device.state.config_version == 0
    applied = device.on_config(config(4))
    assert applied is not None and applied.applied and device.applied_version == 4
    assert device.on_config(config(4)) is None  # equal: ignored
    rejected = device.on_config(encode({**config_obj(9), "password": "short"}))
    assert rejected is not None and rejected.result == "rejected" and rejected.applied_version == 4
    device.reboot(now=1.0)
    assert (device.boot, device.applied_version) == (2, 4)  # the config is kept in flash


# --- the ack timeout -----------------------------------------------------------------------------


def test_the_sim_ack_timeout_is_the_firmwares() -> None:
    from controller.sim.simulator import SimConfig

    assert SimConfig().ack_timeout_s * 1000 == firmware_constant("kAckTimeoutMs")


def test_unacked_checkins_are_sent_again_after_the_ack_timeout_and_only_then() -> None:
    device = in_session()
    device.checkin(1.0, "U2024/0001", MAC)
    device.checkin(1.0, "U2024/0002", MAC)
    assert device.resend_unacked(2.0, 30.0) is False  # not sent yet: nothing to resend
    assert [len(b.events) for b in device.unsent_batches()] == [2]
    assert device.resend_unacked(2.0, 30.0) is False  # the wait starts
    assert device.resend_unacked(31.0, 30.0) is False
    assert device.resend_unacked(32.0, 30.0) is True
    assert [len(b.events) for b in device.unsent_batches()] == [2]  # all of them again
    device.on_ack(encode({"v": 1, "upto": 1}))
    assert device.resend_unacked(40.0, 30.0) is False  # the queue moved: the wait starts over
    assert device.resend_unacked(69.0, 30.0) is False
    assert device.resend_unacked(70.0, 30.0) is True
    assert [[e.seq for e in b.events] for b in device.unsent_batches()] == [[2]]
    device.on_ack(encode({"v": 1, "upto": 2}))
    assert device.resend_unacked(200.0, 30.0) is False  # all acked


def test_new_checkins_do_not_put_off_the_resend_of_unacked_ones() -> None:
    # a controller holding its ack for a lost batch waits for this resend (controller.core.acks):
    # a hall checking in more often than the ack timeout must not restart it
    device = in_session()
    device.checkin(1.0, "U2024/0001", MAC)
    device.unsent_batches()
    assert device.resend_unacked(1.0, 30.0) is False  # the wait starts
    for n, now in ((2, 10.0), (3, 20.0), (4, 30.0)):
        device.checkin(now, f"U2024/{n:04d}", MAC)
        assert device.resend_unacked(now, 30.0) is False  # not all sent yet
        device.unsent_batches()
        assert device.resend_unacked(now + 0.5, 30.0) is False
    assert device.resend_unacked(31.0, 30.0) is True
    assert [[e.seq for e in b.events] for b in device.unsent_batches()] == [[1, 2, 3, 4]]
