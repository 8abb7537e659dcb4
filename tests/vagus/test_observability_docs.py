"""docs/observability.md, the metrics code and the Grafana dashboard name the same metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"vagus_(?:gateway|worker)_[a-z_]+")


def _exported() -> set[str]:
    source = (ROOT / "vagus" / "gateway_metrics.py").read_text()
    prefixes = {"g": "vagus_gateway_", "w": "vagus_worker_"}
    found = re.findall(r'f"\{(g|w)\}([a-z_]+)"', source)
    return {prefixes[p] + suffix for p, suffix in found}


def test_every_exported_metric_is_documented_and_nothing_else() -> None:
    table = (ROOT / "docs" / "observability.md").read_text().split("## Metrics")[1]
    documented = set(re.findall(r"^\| `(vagus_[a-z_]+)` \|", table, flags=re.M))
    assert len(_exported()) >= 20
    assert documented == _exported()


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "vagus.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in NAME.findall(target["expr"])
    }
    assert queried and queried <= _exported(), queried - _exported()
