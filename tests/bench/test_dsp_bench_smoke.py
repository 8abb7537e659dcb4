"""bench/dsp_bench.py runs end to end and prints its JSON contract (no timing is asserted)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
KEYS = {"hrv_speedup_vs_neurokit2", "rpeak_speedup_vs_neurokit2", "realtime_factor", "peak_rss_mb"}


@pytest.mark.slow
def test_quick_run_prints_the_four_figures_as_the_last_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dsp_bench.py"), "--quick", "--json"],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.keys() >= KEYS
    assert all(math.isfinite(result[k]) and result[k] > 0 for k in KEYS)
    assert result["neurokit2_imported"] == 0.0  # the gateway subprocess stayed neurokit2-free
    assert result["data_s"] == 120.0 and result["windows"] > 0
