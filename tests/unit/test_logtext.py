"""Unit tests for controller.logtext: client text in log lines (no I/O)."""

from __future__ import annotations

from controller.logtext import TEXT_LIMIT, shown


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
