"""bench/stage_paths.py runs end to end and prints its JSON contract (no timing is asserted)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BENCH = ROOT / "bench" / "stage_paths.py"
VARIANTS = ("shipped", "ecg_per_step", "eda_per_step")


@pytest.mark.slow
def test_a_short_run_prints_each_variants_cpu_and_ratio_as_the_last_line() -> None:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    }
    done = subprocess.run(
        [sys.executable, str(BENCH), "--seconds", "180", "--pairs", "1", "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = [result[f"{name}_cpu_s"] for name in VARIANTS]
    ratios = [result[f"{name}_ratio"] for name in VARIANTS[1:]]
    assert all(math.isfinite(x) and x > 0 for x in cpu + ratios)
    assert all(result[f"{name}_slower_rounds"] in (0, 1) for name in VARIANTS[1:])
    assert result["data_s"] == 180.0 and result["pairs"] == 1 and result["windows"] > 0
    assert result["neurokit2_imported"] is False  # the bench never loads neurokit2
