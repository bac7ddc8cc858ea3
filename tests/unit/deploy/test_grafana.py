"""deploy/grafana/fleet.json: every expression names only metrics the controller exports, every
exported metric is on the dashboard, every expression parses (promtool, as a recording rule), and
every query goes through the ${DS_PROMETHEUS} data source variable."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.unit.deploy.promql import REPO_ROOT, exported, metric_names, run_promtool, served, variable_query_names

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "fleet.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside rows."""
    for panel in node.get("panels", []):
        yield panel
        yield from panels(panel)


def expressions() -> list[str]:
    return [target["expr"] for panel in panels(dashboard()) for target in panel.get("targets", [])]


def variable_queries() -> list[str]:
    return [var["definition"] for var in dashboard()["templating"]["list"] if var["type"] == "query"]


def as_prometheus(expr: str) -> str:
    """A Grafana expression as Prometheus would get it: $__rate_interval and the like as a duration,
    other variables (label values in a regex matcher) as `.*`."""
    return re.sub(r"\$\{?\w+\}?", ".*", re.sub(r"\$__\w+", "5m", expr))


def test_every_expression_names_only_exported_metrics() -> None:
    known = exported()
    queries = [(expr, metric_names(expr)) for expr in expressions()]
    queries += [(query, variable_query_names(query)) for query in variable_queries()]
    for query, names in queries:
        assert names, f"no metric found in {query!r}"
        stray = {name for name in names if served(name, known) is None}
        assert not stray, f"{query!r} names metrics the controller does not export: {sorted(stray)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    known = exported()
    shown = {served(name, known) for expr in expressions() for name in metric_names(expr)}
    assert set(known) - shown == set()


def test_every_expression_parses(tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:expr_{i}", "expr": as_prometheus(expr)} for i, expr in enumerate(expressions())]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_every_query_uses_the_datasource_variable() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    [variable] = [var for var in board["templating"]["list"] if var["name"] == "DS_PROMETHEUS"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["datasource"] == DATASOURCE, panel["title"]
            assert panel["targets"], panel["title"]
            assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]


def test_panel_ids_are_unique() -> None:
    ids = [panel["id"] for panel in panels(dashboard())]
    assert len(ids) == len(set(ids))
