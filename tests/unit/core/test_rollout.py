"""The rollout state machine with plain data: every rule of core.rollout."""

from __future__ import annotations

from dataclasses import replace

import pytest

from controller.core.rollout import (
    Facts,
    Lecture,
    Plan,
    Policy,
    Target,
    budget,
    decide,
    downgrades,
    halt_reason,
    progress,
    waves,
)

NOW = 1_000_000.0
PLAN = Plan(id=1, version="1.3.0", canary=0.1, rate_per_min=20, max_failures=0.1, min_sample=5)


def fleet(n: int) -> list[str]:
    return [f"dev-{i:03d}" for i in range(n)]


def facts(ids: list[str], **kw: object) -> Facts:
    base = Facts(online=frozenset(ids), running={d: "1.2.0" for d in ids})
    return replace(base, **kw)  # type: ignore[arg-type]


def targets(ids: list[str], plan: Plan = PLAN) -> list[Target]:
    return [Target(d, w) for d, w in sorted(waves(ids, plan.canary, plan.rate_per_min).items())]


# --- planning -------------------------------------------------------------------------------------


def test_waves_put_a_spread_canary_first_then_batches_of_a_minute_at_the_rate() -> None:
    plan = waves(fleet(100), 0.05, 20)
    canary = sorted(d for d, w in plan.items() if w == 0)
    assert canary == ["dev-000", "dev-020", "dev-040", "dev-060", "dev-080"]
    assert [sum(1 for w in plan.values() if w == k) for k in range(1, 6)] == [20, 20, 20, 20, 15]


def test_a_canary_fraction_over_zero_is_at_least_one_device_and_zero_means_none() -> None:
    assert sorted(waves(fleet(3), 0.01, 5).values()) == [0, 1, 1]
    assert sorted(waves(fleet(3), 0, 5).values()) == [1, 1, 1]


def test_downgrades_are_devices_running_a_higher_version() -> None:
    assert downgrades("1.3.0", {"a": "1.4.0", "b": "1.3.0", "c": None, "d": "junk", "e": "1.2.9"}) == ["a"]


# --- commands -------------------------------------------------------------------------------------


def test_only_the_canary_wave_is_commanded_while_it_runs() -> None:
    ids = fleet(20)
    decision = decide(PLAN, targets(ids), facts(ids), NOW)
    assert decision.commanded == ("dev-000", "dev-010")
    assert all(t.state == "commanded" and t.attempts == 1 and t.commanded_at == NOW for t in decision.changed)
    assert decision.state == "running"


def test_later_waves_open_when_every_canary_is_terminal_within_the_threshold() -> None:
    ids = fleet(20)
    rows = [replace(t, state="confirmed") if t.wave == 0 else t for t in targets(ids)]
    decision = decide(PLAN, rows, facts(ids), NOW)
    assert len(decision.commanded) == 18 and decision.state == "running"


def test_the_rate_is_a_budget_over_the_last_commands() -> None:
    ids = fleet(60)
    plan = replace(PLAN, canary=0)
    rows = targets(ids, plan)
    sent = [replace(t, state="downloading", commanded_at=NOW - 30, changed_at=NOW - 30) for t in rows[:15]]
    assert budget(plan, sent + rows[15:], NOW) == 5
    assert len(decide(plan, sent + rows[15:], facts(ids), NOW).commanded) == 5
    assert budget(plan, sent + rows[15:], NOW + 31) == 20  # the window has passed


def test_a_rate_under_one_a_minute_spaces_single_commands() -> None:
    plan = replace(PLAN, rate_per_min=0.5)
    rows = [Target("a", 1, "commanded", 1, NOW - 100, NOW - 100), Target("b", 1)]
    assert budget(plan, rows, NOW) == 0
    assert budget(plan, rows, NOW + 21) == 1


@pytest.mark.parametrize(("fact", "why"), [
    ({"serving": frozenset({"dev-000"})}, "session"),
    ({"rooms": {"dev-000": "R1"}, "lectures": (Lecture("R1", NOW + 3000, NOW + 6000),)}, "lecture"),
    ({"rooms": {"dev-000": "R1"}, "lectures": (Lecture("R1", NOW - 600, NOW + 600),)}, "lecture"),
    ({"online": frozenset()}, "offline"),
])
def test_a_device_in_a_session_near_a_lecture_or_offline_waits(fact: dict[str, object], why: str) -> None:
    rows = [Target("dev-000", 0)]
    decision = decide(PLAN, rows, facts(["dev-000"], **fact), NOW)
    assert decision.commanded == () and decision.waiting == {"dev-000": why} and decision.changed == ()


def test_a_lecture_more_than_an_hour_ahead_or_over_does_not_hold_a_device() -> None:
    lectures = (Lecture("R1", NOW + 3700, NOW + 6000), Lecture("R1", NOW - 6000, NOW - 1))
    decision = decide(PLAN, [Target("dev-000", 0)], facts(["dev-000"], rooms={"dev-000": "R1"}, lectures=lectures),
                      NOW)
    assert decision.commanded == ("dev-000",)


def test_a_waiting_canary_does_not_open_the_later_waves() -> None:
    ids = fleet(10)
    decision = decide(PLAN, targets(ids), facts(ids, serving=frozenset({"dev-000"})), NOW)
    assert decision.commanded == () and decision.waiting == {"dev-000": "session"}


def test_a_device_already_running_the_version_is_confirmed_without_a_command() -> None:
    decision = decide(PLAN, [Target("a", 0), Target("b", 1)], facts(["a", "b"], running={"a": "1.3.0", "b": "1.2.0"}),
                      NOW)
    assert [(t.device_id, t.state) for t in decision.changed] == [("a", "confirmed"), ("b", "commanded")]


def test_a_device_on_its_trial_boot_of_the_version_is_not_confirmed_until_it_says_so() -> None:
    row = Target("a", 0, "rebooting", 1, NOW - 10, NOW - 60)  # its birth names 1.3.0; it may still roll back
    decision = decide(PLAN, [row], facts(["a"], running={"a": "1.3.0"}), NOW)
    assert decision.changed == () and decision.state == "running"


def test_a_downgrade_fails_unless_the_rollout_allows_it() -> None:
    older = facts(["a"], running={"a": "1.4.0"})
    refused = decide(PLAN, [Target("a", 0)], older, NOW)
    assert (refused.changed[0].state, refused.changed[0].reason) == ("failed", "downgrade")
    allowed = decide(replace(PLAN, allow_downgrade=True), [Target("a", 0)], older, NOW)
    assert allowed.commanded == ("a",)


# --- retries --------------------------------------------------------------------------------------


def test_no_progress_past_the_timeout_is_commanded_again() -> None:
    row = Target("a", 0, "downloading", 1, NOW - 600, NOW - 600, percent=40)
    decision = decide(PLAN, [row], facts(["a"]), NOW, Policy(timeout_s=600, max_attempts=3))
    assert decision.commanded == ("a",) and decision.changed[0].attempts == 2


def test_progress_within_the_timeout_is_left_alone() -> None:
    row = Target("a", 0, "downloading", 1, NOW - 599, NOW - 900, percent=40)
    assert decide(PLAN, [row], facts(["a"]), NOW, Policy(timeout_s=600)).changed == ()


def test_an_offline_device_is_recommanded_its_retained_command_waits_for_it() -> None:
    row = Target("a", 0, "commanded", 1, NOW - 700, NOW - 700)
    decision = decide(PLAN, [row], facts(["a"], online=frozenset()), NOW, Policy(timeout_s=600))
    assert decision.commanded == ("a",)


def test_a_stalled_device_that_now_serves_a_session_waits() -> None:
    row = Target("a", 0, "commanded", 1, NOW - 700, NOW - 700)
    decision = decide(PLAN, [row], facts(["a"], serving=frozenset({"a"})), NOW, Policy(timeout_s=600))
    assert decision.commanded == () and decision.waiting == {"a": "session"}


def test_a_stalled_device_that_runs_the_version_by_then_is_confirmed() -> None:
    row = Target("a", 0, "rebooting", 3, NOW - 700, NOW - 700)  # its confirmation was lost
    decision = decide(PLAN, [row, Target("b", 1)], facts(["a", "b"], running={"a": "1.3.0", "b": "1.2.0"}), NOW,
                      Policy(timeout_s=600, max_attempts=3))
    assert [(t.device_id, t.state) for t in decision.changed] == [("a", "confirmed"), ("b", "commanded")]


def test_after_the_last_attempt_a_stalled_device_fails_timeout() -> None:
    row = Target("a", 0, "commanded", 3, NOW - 700, NOW - 700)
    decision = decide(PLAN, [row], facts(["a"]), NOW, Policy(timeout_s=600, max_attempts=3))
    assert (decision.changed[0].state, decision.changed[0].reason) == ("failed", "timeout")


# --- halting and completing -------------------------------------------------------------------------


def test_canaries_that_roll_back_halt_the_rollout_and_leave_the_rest_untouched() -> None:
    ids = fleet(20)
    rows = [replace(t, state="rolled_back", reason="crashed") if t.wave == 0 else t for t in targets(ids)]
    decision = decide(PLAN, rows, facts(ids), NOW)
    assert decision.state == "halted" and decision.commanded == () and decision.changed == ()
    assert decision.reason == "canary wave: 2 of 2 updates failed (100% > 10% allowed)"


def test_failures_over_the_threshold_halt_only_after_the_minimum_sample() -> None:
    plan = replace(PLAN, canary=0, max_failures=0.2, min_sample=5)
    rows = [Target(f"d{i}", 1, s) for i, s in enumerate(["failed", "failed", "confirmed", "confirmed"])]
    rows += [Target(f"p{i}", 1) for i in range(10)]
    assert halt_reason(plan, rows) is None
    rows[4] = replace(rows[4], state="confirmed")
    decision = decide(plan, rows, facts([t.device_id for t in rows]), NOW)
    assert decision.state == "halted" and decision.reason == "2 of 5 updates failed (40% > 20% allowed)"
    assert decision.commanded == ()


def test_a_halted_rollout_commands_nothing_not_even_a_retry() -> None:
    plan = replace(PLAN, state="halted", reason="x")
    rows = [Target("a", 1), Target("b", 1, "downloading", 1, NOW - 900, NOW - 900, percent=10)]
    decision = decide(plan, rows, facts(["a", "b"]), NOW, Policy(timeout_s=600))
    assert decision.commanded == () and decision.changed == ()
    assert (decision.state, decision.reason) == ("halted", "x")
    # its devices in flight are still recorded as they report (progress() does not look at the rollout's state)
    assert progress(rows[1], "1.3.0", "confirmed", of="1.3.0", now=NOW) is not None


def test_a_paused_rollout_commands_nothing() -> None:
    decision = decide(replace(PLAN, state="paused"), [Target("a", 0)], facts(["a"]), NOW)
    assert decision.commanded == () and decision.state == "paused"


def test_every_device_terminal_completes_it() -> None:
    rows = [Target("a", 0, "confirmed"), Target("b", 1, "failed", reason="bad_signature")]
    assert decide(replace(PLAN, max_failures=0.5), rows, facts(["a", "b"]), NOW).state == "completed"


@pytest.mark.parametrize("state", ["aborted", "completed"])
def test_an_ended_rollout_decides_nothing(state: str) -> None:
    decision = decide(replace(PLAN, state=state), [Target("a", 0)], facts(["a"]), NOW)
    assert decision == replace(decision, changed=(), commanded=(), state=state)


# --- progress ---------------------------------------------------------------------------------------


def test_progress_moves_a_row_and_stamps_the_time() -> None:
    row = Target("a", 0, "commanded", 1, NOW - 10, NOW - 10)
    moved = progress(row, "1.3.0", "downloading", of="1.3.0", percent=10, now=NOW)
    assert moved == replace(row, state="downloading", percent=10, changed_at=NOW)


def test_a_percent_within_one_state_keeps_the_time_and_the_same_state_again_changes_nothing() -> None:
    row = Target("a", 0, "downloading", 1, NOW - 10, NOW - 10, percent=10)
    assert progress(row, "1.3.0", "downloading", of="1.3.0", percent=50, now=NOW) == replace(row, percent=50)
    assert progress(row, "1.3.0", "downloading", of="1.3.0", percent=10, now=NOW) is None


def test_a_failure_keeps_its_reason() -> None:
    row = Target("a", 0, "verifying", 1, NOW - 10, NOW - 10)
    moved = progress(row, "1.3.0", "failed", of="1.3.0", reason="bad_signature", now=NOW)
    assert moved is not None and (moved.state, moved.reason) == ("failed", "bad_signature")


def test_another_versions_state_and_anything_after_confirmed_change_nothing() -> None:
    row = Target("a", 0, "commanded", 1, NOW - 10, NOW - 10)
    assert progress(row, "1.3.0", "confirmed", of="1.2.0", now=NOW) is None
    done = replace(row, state="confirmed")
    assert progress(done, "1.3.0", "failed", of="1.3.0", reason="x", now=NOW) is None


def test_after_a_failure_only_a_confirmation_counts() -> None:
    failed = Target("a", 0, "failed", 1, NOW - 10, NOW - 10, reason="download_error")
    assert progress(failed, "1.3.0", "downloading", of="1.3.0", percent=5, now=NOW) is None
    made_it = progress(failed, "1.3.0", "confirmed", of="1.3.0", now=NOW)
    assert made_it is not None and (made_it.state, made_it.reason) == ("confirmed", "")


def test_a_failed_device_found_running_the_version_stays_failed_until_it_confirms() -> None:
    rows = [Target("a", 0, "failed", 1, NOW - 10, NOW - 10, reason="download_error")]
    decision = decide(PLAN, rows, facts(["a"], running={"a": "1.3.0"}), NOW)
    assert decision.changed == ()
