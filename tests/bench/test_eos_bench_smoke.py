"""bench/eos_bench.py runs end to end on Apache Kafka and prints its JSON contract (no timing is
asserted): both guarantees decide every event, lose none across the kill, and the exactly-once
worker's committed decisions hold no duplicate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stream.local_kafka import java_missing

ROOT = Path(__file__).parents[2]


@pytest.mark.broker
@pytest.mark.slow
def test_a_small_run_measures_both_guarantees() -> None:
    missing = java_missing()
    if missing:
        pytest.skip(missing)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "eos_bench.py"),
         "--patients", "4", "--events", "200", "--json"],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert [r["guarantee"] for r in results] == ["at_least_once", "exactly_once"]
    for result in results:
        assert result["events"] == 200 and result["events_per_s"] > 0
        assert result["kill_lost_triggers"] == 0
        assert result["kill_after_s"] < result["kill_sending_s"]  # the kill lands mid-stream
        assert result["idempotent_producer"] is True
    assert results[1]["duplicates_by_phase"] == {}
