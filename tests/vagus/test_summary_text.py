"""The demo's printed summary says when its latency figures include the closed loop's backlog."""

from __future__ import annotations

from pathlib import Path

import pytest

from vagus.report import render_summary
from vagus.summary import not_started_summary

BACKLOG = "include the loop's backlog"


@pytest.mark.parametrize(("speed", "noted"), [("max", True), ("60x", False), ("realtime", False)])
def test_latency_at_full_speed_is_said_to_include_the_backlog(speed: str, noted: bool) -> None:
    summary = dict(
        not_started_summary(
            recording=Path("r.vrec"), speed=speed, broker="embedded", wall_s=1.0, interrupted=""
        )
    )
    assert BACKLOG not in render_summary(summary)  # no latency measured: nothing to qualify
    summary["latency_ms"] = {"p50": 100.0, "p95": 100.0, "p99": 100.0, "n": 1}
    assert (BACKLOG in render_summary(summary)) is noted
