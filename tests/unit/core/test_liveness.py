"""Liveness: birth/will with the boot rule, and the heartbeat TTL."""

from __future__ import annotations

from controller.contract.messages import Heartbeat, Status
from controller.core.liveness import FLOOD_WINDOW_S, FLOODING, Registry, Seen
from controller.core.selection import candidates

T0 = 1_000_000.0


def alive(reg: Registry, device_id: str, boot: int, at: float) -> None:
    reg.on_status(device_id, Status(True, boot), at, retained=False)
    reg.on_heartbeat(device_id, Heartbeat(boot, 1), at)


def test_birth_and_heartbeat_make_a_device_online_until_the_ttl() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-a", 1, T0)
    assert reg.online_ids(T0 + 90) == {"dev-a"}
    assert reg.online_ids(T0 + 90.1) == set()


def test_will_makes_it_offline_at_once() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-a", 3, T0)
    assert reg.on_status("dev-a", Status(False, 3), T0 + 1, retained=False) is Seen.APPLIED
    assert reg.online_ids(T0 + 1) == set()


def test_stale_will_of_an_older_boot_is_ignored() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-a", 4, T0)
    assert reg.on_status("dev-a", Status(False, 3), T0 + 1, retained=False) is Seen.STALE
    assert reg.online_ids(T0 + 1) == {"dev-a"}


def test_heartbeat_without_a_birth_is_not_online() -> None:
    reg = Registry(ttl=90)
    reg.on_heartbeat("dev-a", Heartbeat(1, 5), T0)
    assert reg.online_ids(T0) == set()


def test_birth_of_a_new_boot_after_offline() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-a", 1, T0)
    reg.on_status("dev-a", Status(False, 1), T0 + 1, retained=False)
    alive(reg, "dev-a", 2, T0 + 2)
    assert reg.online_ids(T0 + 2) == {"dev-a"}


def test_retained_birth_does_not_refresh_last_seen() -> None:
    reg = Registry(ttl=90)
    reg.restore("dev-a", last_seen=T0 - 200, boot=5, fw=None)
    reg.on_status("dev-a", Status(True, 5), T0, retained=True)
    assert reg.online_ids(T0) == set()  # last heartbeat too old: a retained birth proves nothing
    reg.restore("dev-b", last_seen=T0 - 10, boot=5, fw=None)
    reg.on_status("dev-b", Status(True, 5), T0, retained=True)
    assert reg.online_ids(T0) == {"dev-b"}  # a restart within the TTL keeps the fleet table right


def test_dirty_set_coalesces_many_heartbeats() -> None:
    reg = Registry(ttl=90)
    for i in range(100):
        alive(reg, "dev-a", 1, T0 + i)
    assert [d.device_id for d in reg.take_dirty()] == ["dev-a"]
    assert reg.take_dirty() == []


def test_selection_takes_the_freshest_free_online_device() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-old", 1, T0)
    alive(reg, "dev-new", 1, T0 + 20)
    alive(reg, "dev-busy", 1, T0 + 30)
    alive(reg, "dev-tie-b", 1, T0 + 10)
    alive(reg, "dev-tie-a", 1, T0 + 10)
    alive(reg, "dev-gone", 1, T0 - 500)
    order = candidates(reg, busy={"dev-busy"}, excluded=set(), now=T0 + 30, ttl=90)
    assert order == ["dev-new", "dev-tie-a", "dev-tie-b", "dev-old"]
    assert candidates(reg, busy=set(), excluded={"dev-busy", "dev-new"}, now=T0 + 30, ttl=90)[0] == "dev-tie-a"


def test_reconnecting_too_often_is_flapping_and_others_are_undisturbed() -> None:
    reg = Registry(ttl=90)
    for i in range(6):
        alive(reg, "dev-flap", 1 + i, T0 + i * 20)  # six boots in 100 s
    alive(reg, "dev-calm", 1, T0)
    alive(reg, "dev-calm", 2, T0 + 400)
    assert reg.devices["dev-flap"].flags(T0 + 100) == ["flapping"]
    assert reg.devices["dev-calm"].flags(T0 + 400) == []
    assert reg.raised == [("dev-flap", "flapping")]
    assert "dev-flap" in reg.online_ids(T0 + 100)  # flagged, still usable
    assert reg.devices["dev-flap"].flags(T0 + 100 + 601) == []  # the flag falls after 10 quiet minutes


def test_slow_reconnects_are_not_flapping() -> None:
    reg = Registry(ttl=90)
    for i in range(12):
        alive(reg, "dev-a", 1 + i, T0 + i * 120)
    assert reg.devices["dev-a"].flags(T0 + 1440) == []


def test_two_devices_sharing_an_id_are_flagged() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-twin", 12, T0)
    assert reg.on_status("dev-twin", Status(True, 3), T0 + 1, retained=False) is Seen.STALE  # the other twin
    assert reg.devices["dev-twin"].flags(T0 + 1) == ["duplicate_id"]
    assert reg.online_ids(T0 + 1) == {"dev-twin"}  # the genuine record is untouched
    assert reg.raised == [("dev-twin", "duplicate_id")]


def test_a_stale_retained_status_is_not_a_twin() -> None:
    reg = Registry(ttl=90)
    alive(reg, "dev-a", 5, T0)
    reg.on_status("dev-a", Status(False, 4), T0 + 1, retained=True)
    assert reg.devices["dev-a"].flags(T0 + 1) == []


def test_a_device_over_its_rate_is_cut_down_and_flagged_once_per_window() -> None:
    registry = Registry(max_rate=2.0)  # 20 messages per 10 s window
    registry.get("dev-a")
    admitted = [registry.admit("dev-a", 100.0 + i * 0.01) for i in range(30)]
    assert admitted == [True] * 20 + [False] * 10
    assert registry.raised == [("dev-a", FLOODING)]
    assert registry.devices["dev-a"].flags(101.0) == [FLOODING]
    assert registry.admit("dev-a", 100.0 + FLOOD_WINDOW_S)  # a new window
    assert registry.admit("dev-b", 100.0)  # unknown devices are not limited (yet)
    assert sum(registry.admit("dev-c", 100.0) for _ in range(100)) == 100


def test_a_flooding_device_is_not_a_candidate_while_flagged() -> None:
    registry = Registry(max_rate=1.0)
    alive(registry, "dev-a", 1, T0)
    alive(registry, "dev-b", 1, T0 + 1)  # the fresher one
    for _ in range(20):
        registry.admit("dev-b", T0 + 2)
    assert candidates(registry, busy={}, excluded=set(), now=T0 + 3, ttl=90) == ["dev-a"]
    assert candidates(registry, busy={}, excluded=set(), now=T0 + 2 + 601, ttl=900) == ["dev-b", "dev-a"]


def test_raised_flags_are_taken_once_and_a_failed_flush_keeps_its_devices_dirty() -> None:
    reg = Registry(ttl=90)
    for i in range(6):
        alive(reg, "dev-flap", 1 + i, T0 + i * 20)
    assert reg.take_raised() == [("dev-flap", "flapping")]
    assert reg.take_raised() == []
    assert [d.device_id for d in reg.take_dirty()] == ["dev-flap"]
    reg.keep_dirty(["dev-flap"])  # its flush failed
    assert [d.device_id for d in reg.take_dirty()] == ["dev-flap"]


def test_a_restored_record_is_not_dirty_and_a_forgotten_one_is_gone() -> None:
    reg = Registry(ttl=90)
    reg.restore("dev-a", last_seen=T0, boot=3, fw="1.0")
    assert reg.take_dirty() == []  # the database already has it
    alive(reg, "dev-a", 3, T0 + 1)
    reg.forget("dev-a")
    assert len(reg) == 0 and reg.take_dirty() == []
