"""bench/closedloop_bench.py runs end to end against the real worker and prints its JSON contract
(no timing is asserted): a bench the worker silently stops answering (as when it began to refuse
unsigned events) must fail here, not in a check script."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
KEYS = {"events_per_s", "engine_events_per_s", "p50_ms", "p99_ms"}


@pytest.mark.broker
@pytest.mark.slow
def test_a_small_run_decides_every_event_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "closedloop_bench.py"),
         "--patients", "4", "--events", "200", "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.keys() >= KEYS
    assert all(math.isfinite(result[k]) and result[k] > 0 for k in KEYS)
    assert result["events"] == 200
