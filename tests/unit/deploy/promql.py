"""What the deploy/ monitoring files may name: the metrics the controller exports, read from its own
registry, and the metric names a PromQL expression uses, by a small tokenizer (PyPI has no
well-kept PromQL parser; promtool checks the syntax, this only finds the names)."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest

from controller.adapters.metrics import Metrics, Reading
from controller.contract.results import StatsResult
from controller.core.census import DeviceCounts, SessionCounts

REPO_ROOT = Path(__file__).resolve().parents[3]
PROMTOOL = Path(os.environ.get("FLEET_TEST_PROMTOOL", "/usr/bin/promtool"))
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")  # ranges and subqueries, with Grafana's $__rate_interval
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][\w:]*")  # not a number's exponent, unit or a $variable
_KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                       "offset", "bool", "inf", "nan"})
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*\w+\s*\)\s*$", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects: identifiers that are not functions or aggregations (those
    are followed by "("), keywords, label names (inside {} or a grouping's ()) or durations."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("{}", text)
    text = _RANGES.sub("[]", text)
    text = _GROUPING.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        is_call = text[match.end():].lstrip().startswith("(")
        if not is_call and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def variable_query_names(query: str) -> set[str]:
    """The metric names of a Grafana variable's query: `label_values(selector, label)` names the
    selector's; `label_values(label)` names none."""
    match = _LABEL_VALUES.match(query)
    return metric_names(match.group("selector")) if match else set()


def exported() -> dict[str, str]:
    """Every name the controller's registry serves → its type (counters under their `_total`
    name, histograms under their base name). The reading has every optional part present."""
    reading = Reading(devices=DeviceCounts(**_zeros(dataclasses.fields(DeviceCounts))),
                      sessions=SessionCounts(**_zeros(dataclasses.fields(SessionCounts))), stats=StatsResult(
        received={}, rejected={}, checkins={}, unsent={}, connections=1, broker={"dropped": 0}),
        connected=True, last_tick=0.0, lectures={}, rollouts={}, rollout_devices={})
    registry = Metrics(lambda: reading, version="test", controller_id="test", methods=()).registry
    return {f"{family.name}_total" if family.type == "counter" else family.name: family.type
            for family in registry.collect()}


def served(name: str, known: dict[str, str]) -> str | None:
    """The exported metric a series name belongs to (a histogram's `_bucket`, `_sum` and `_count`
    series belong to it), or None when the controller serves no such series."""
    if name in known:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        stem = name.removesuffix(suffix)
        if stem != name and known.get(stem) == "histogram":
            return stem
    return None


def promtool() -> Path:
    """promtool, or a failure naming what to install: never a skip (CI must not pass without it)."""
    if not PROMTOOL.exists():
        pytest.fail(f"promtool not found at {PROMTOOL}: install Debian's prometheus package "
                    "(`make system-deps` as root does) or set FLEET_TEST_PROMTOOL", pytrace=False)
    return PROMTOOL


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`promtool *args`, its output captured as text."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)


def _zeros(fields: tuple[dataclasses.Field[object], ...]) -> dict[str, int]:
    return {field.name: 0 for field in fields}
