"""The default demo proves the loop on a slow, cold machine: an empty numba cache (every kernel
compiles) and another process holding one of the two cores busy. Its outcome must not depend
on the host's speed: a session in the stress phase, none in the baseline, none rejected.

Embedded broker only: what it tests is the host (cold cache, busy core), not the broker; the
demo on Apache Kafka is tests/integration/test_demo.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_default_demo_with_a_cold_kernel_cache_and_a_busy_core(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    run_dir = tmp_path / "out"
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "vagus",
                "demo",  # the default speed, 60x, as `make demo` runs it
                "--summary-json",
                str(summary_path),
                "--output-dir",
                str(run_dir),
            ],
            cwd=ROOT,
            env={**_environment(), "NUMBA_CACHE_DIR": str(tmp_path / "empty-numba-cache")},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    finally:
        busy.kill()
        busy.wait()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert summary["speed"] == "60x"
    assert summary["sessions_by_phase"].get("stress", 0) >= 1
    assert summary["sessions_completed"] >= 1
    assert summary["sessions_in_baseline"] == 0
    assert summary["sessions_rejected"] == 0 and summary["rejections"] == []
    assert summary["events_lost"] == 0
    assert summary["warm_up_s"] > 0
    # The kernels compiled before the replay: the cache folder was filled.
    assert any((tmp_path / "empty-numba-cache").rglob("*.nbi"))
    # A healthy run prints no library log lines: they went to the log file.
    assert "INFO" not in result.stderr and "WARNING" not in result.stderr, result.stderr[-2000:]
    assert Path(summary["log_file"]).is_file()


def _environment() -> dict[str, str]:
    import os

    return dict(os.environ)
