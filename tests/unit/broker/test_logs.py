"""Unit tests for controller.broker.logs: amqtt's own log lines bounded and kept off rich's highlighter,
and denials counted (no I/O)."""

from __future__ import annotations

import logging

from controller.broker.logs import AmqttRecords, DenialLog, Suppressed


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
