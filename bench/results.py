"""The results table: rows every phase contributes, rendered as Markdown and JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    measured: str
    baseline: str
    comparison: str
    target: str
    verdict: str
    """"met", "MISSED", or "" when there is no target."""


@dataclass(frozen=True, slots=True)
class Environment:
    started_utc: str
    commit: str
    cores: int
    python: str
    mosquitto: str
    paho: str
    amqtt: str
    sqlalchemy: str
    duration_s: float


def verdict(ok: bool | None) -> str:
    return "" if ok is None else "met" if ok else "MISSED"


def rate(x: float) -> str:
    return f"{x:,.0f} msg/s"


def duration(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    seconds = max(0.0, seconds)  # two clocks read microseconds apart can disagree in sign
    if seconds < 1.0:
        return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def size(n: float) -> str:
    return f"{n / 1024:.2f} KiB" if abs(n) >= 1024 else f"{n:.0f} B"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def markdown(env: Environment, rows: Sequence[Row], notes: Sequence[str]) -> str:
    lines = [
        "# Fleet controller benchmarks",
        "",
        f"`make bench`, {env.started_utc}, commit `{env.commit}`, {env.cores} cores, {env.duration_s:.0f} s in all. "
        f"Python {env.python}, Mosquitto {env.mosquitto}, paho-mqtt {env.paho}, amqtt {env.amqtt}, "
        f"SQLAlchemy {env.sqlalchemy}. Each figure is compared with a baseline measured in the same run.",
        "",
        "| figure | measured | baseline (same run) | comparison | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.figure} | {r.measured} | {r.baseline} | {r.comparison} | {r.target} | {r.verdict} |" for r in rows]
    if notes:
        lines += ["", "How each figure was measured:", ""]
        lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _jsonable(obj: object) -> object:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write(out_dir: Path, env: Environment, rows: Sequence[Row], notes: Sequence[str],
          phases: dict[str, object]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "latest.md", out_dir / "latest.json"
    md.write_text(markdown(env, rows, notes), encoding="utf-8")
    document = {"environment": _jsonable(env), "rows": _jsonable(list(rows)), "phases": _jsonable(phases)}
    js.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return md, js
