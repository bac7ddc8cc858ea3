"""deploy/prometheus: promtool accepts the alerts and the example config, the alerts' unit tests
pass (each alert fires and stays quiet where it should), and the alerts name only metrics the
controller exports, each with a severity, a summary, a description and a README runbook."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.promql import REPO_ROOT, exported, metric_names, run_promtool, served

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
README = REPO_ROOT / "README.md"
PROMETHEUS_OWN = frozenset({"up"})
"""Series Prometheus itself writes for every target."""


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTS)["groups"] for rule in group["rules"]]


def test_promtool_checks_the_alert_rules() -> None:
    result = run_promtool("check", "rules", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_checks_the_example_config_and_the_rules_it_loads() -> None:
    result = run_promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout  # alerts.yml, found beside the config


def test_the_example_config_scrapes_the_controller_and_loads_the_alerts() -> None:
    config = load(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["alerts.yml"]
    [job] = config["scrape_configs"]
    assert job["job_name"] == "fleet-controller"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9310"]}]


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = run_promtool("test", "rules", PROMETHEUS / "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "FAILED" not in result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases = [case for test in load(PROMETHEUS / "alerts.test.yml")["tests"] for case in test["alert_rule_test"]]
    for rule in rules():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} never tested firing"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} never tested staying quiet"


def test_alerts_name_only_metrics_the_controller_exports() -> None:
    known = exported()
    for rule in rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric found in {rule['expr']!r}"
        stray = {name for name in names - PROMETHEUS_OWN if served(name, known) is None}
        assert not stray, f"{rule['alert']} names metrics the controller does not export: {sorted(stray)}"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_alert_has_severity_summary_description_and_a_runbook_in_the_readme(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in ("critical", "warning")
    annotations = rule["annotations"]
    assert annotations["summary"] and annotations["description"]
    anchor = annotations["runbook_url"].removeprefix("README.md#")
    assert anchor == f"alert-{rule['alert'].lower()}"
    assert re.search(rf'id="{re.escape(anchor)}"', README.read_text(encoding="utf-8")), (
        f"README.md has no anchor {anchor!r} for {rule['alert']}'s runbook")


def test_metric_names_skips_functions_labels_keywords_strings_durations_and_variables() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, job) (rate(a_bucket{x="{y}", le!="1"}[5m] offset 1h))) > 1e3 '
            'and on(instance) label_replace(b, "dst", "$1", "src", "(c.*)") or c:rec * 0x1f unless d[$__range:]')
    assert metric_names(expr) == {"a_bucket", "b", "c:rec", "d"}
