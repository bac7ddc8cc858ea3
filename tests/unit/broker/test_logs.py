"""Unit tests for controller.broker.logs: amqtt's own log lines bounded and kept off rich's highlighter."""

from __future__ import annotations

import logging

from controller.broker.logs import AmqttRecords


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("amqtt.broker", logging.WARNING, __file__, 1, message, args, None)


def test_a_long_amqtt_line_is_cut_and_says_how_long_it_was() -> None:
    record = _record("subscription to %s", "t/" + "x" * 65_533)
    assert AmqttRecords().filter(record)
    line = record.getMessage()
    assert len(line) < 400
    assert line.endswith("... (65,551 characters)")


def test_amqtt_lines_are_never_highlighted() -> None:
    record = _record("client %s connected", "dev-a")
    assert AmqttRecords().filter(record)
    assert record.highlighter is None  # type: ignore[attr-defined]
    assert record.getMessage() == "client dev-a connected"


def test_the_lines_we_report_ourselves_are_dropped() -> None:
    assert not AmqttRecords().filter(_record("Broker startup failed: %s", "boom"))
    assert not AmqttRecords().filter(_record("Failed to initialize client session: %s", "refused"))
