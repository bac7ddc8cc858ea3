"""Unit tests for controller.logtext: client text in log lines, and denials counted (no I/O)."""

from __future__ import annotations

from controller.logtext import TEXT_LIMIT, DenialLog, Suppressed, shown


def test_short_text_is_quoted_as_repr() -> None:
    assert shown("dev-1") == "'dev-1'"
    assert shown(None) == "None"


def test_long_text_is_cut_with_its_length() -> None:
    line = shown("a" * 65_535)
    assert line == f"{'a' * TEXT_LIMIT!r}... (65,535 characters)"
    assert len(line) < TEXT_LIMIT + 40


def test_control_format_and_bidi_characters_are_escaped() -> None:
    assert shown("a\nb") == "'a\\nb'"  # no forged second line
    assert shown("x\u202ey") == "'x\\u202ey'"  # no reordered line
    assert shown("a\x00\x1b[31m") == "'a\\x00\\x1b[31m'"  # no terminal escapes
    assert shown("caf\u00e9") == "'caf\u00e9'"  # printable text stays readable


def test_bytes_are_shown_without_decoding_all_of_them() -> None:
    assert shown(b"t/\xff") == "'t/\\\\xff'"
    assert len(shown(b"\xff" * 1_000_000)) < 4 * TEXT_LIMIT + 40


def test_the_first_denial_per_client_and_reason_is_logged_then_counted() -> None:
    log = DenialLog(window_s=60.0, max_keys=10)
    assert log.admit("dev-a", "denied PUBLISH", 0.0)
    assert not log.admit("dev-a", "denied PUBLISH", 1.0)
    assert not log.admit("dev-a", "denied PUBLISH", 2.0)
    assert log.admit("dev-a", "refused CONNECT", 2.0)  # another reason
    assert log.admit("dev-b", "denied PUBLISH", 3.0)  # another client
    assert not log.due(59.0)
    assert log.due(60.0)
    assert log.flush() == ([Suppressed("dev-a", "denied PUBLISH", 2)], 0)
    assert not log.due(1000.0)  # nothing since
    assert log.admit("dev-a", "denied PUBLISH", 1000.0)  # a new window logs it again


def test_memory_is_bounded_by_max_keys() -> None:
    log = DenialLog(window_s=60.0, max_keys=3)
    admitted = [log.admit(f"dev-{i}", "denied PUBLISH", float(i)) for i in range(1000)]
    assert admitted.count(True) == 3
    suppressed, unlisted = log.flush()
    assert suppressed == []
    assert unlisted == 997
