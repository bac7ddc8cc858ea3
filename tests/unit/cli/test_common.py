"""Logging set up by `--log-format`: JSON lines that parse, one object per record."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO

import pytest
from rich.console import Console

from controller.cli.common import LogFormat, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.usefixtures("restore_logging")
def test_json_logs_are_one_object_a_line_with_the_exception_text() -> None:
    stream = StringIO()
    setup_logging(1, console=Console(file=stream), log_format=LogFormat.JSON)
    log = logging.getLogger("controller.test")
    log.info("device %s online\nsecond line «é»", "dev-a")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("tick failed")
    log.debug("not shown at -v")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "device dev-a online\nsecond line «é»"
    assert (first["level"], first["logger"]) == ("INFO", "controller.test")
    assert first["time"].endswith("+00:00") and "exception" not in first
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_stay_rich_lines() -> None:
    stream = StringIO()
    setup_logging(0, console=Console(file=stream, width=200), log_format=LogFormat.TEXT)
    logging.getLogger("controller.test").warning("plain %s", "text")
    assert "plain text" in stream.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(stream.getvalue().splitlines()[0])
