"""make pi-check's comparison: every window paired, each column under its own tolerance.

No emulation here: the arm64 side is played by edited copies of one x86-like window list."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))  # scripts/ is not a package: import as they do

import pi_check  # noqa: E402
from pi_check_compare import (  # noqa: E402
    DSP_RTOL,
    MODEL_ATOL,
    compare_windows,
    flatten,
    values_equal,
)


def _window(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "window_start_ns": 1_000 + 30 * i,
        "window_end_ns": 1_060 + 30 * i,
        "window_id": f"random-{i}",
        "episode_id": None,
        "heart_rate_bpm": 70.0 + i / 7,
        "beats": 68,
        "scl_us": 0.0,
        "scorer_state": "scored",
        "model_probability": 0.25,
        "stress_probability": 0.25,
        "in_episode": False,
        "model_input:hrv_rmssd": 41.5,
    }
    return row | overrides


def _pair(n: int = 5) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    x86 = [_window(i) for i in range(n)]
    return x86, [dict(w, window_id=f"other-{i}") for i, w in enumerate(x86)]


def test_identical_runs_with_their_own_random_ids_are_equal() -> None:
    x86, arm = _pair()
    result = compare_windows(x86, arm)
    assert (result.compared, result.equal, result.passed) == (5, 5, True)


def test_a_dsp_float_off_by_more_than_the_relative_tolerance_fails_that_window() -> None:
    x86, arm = _pair()
    arm[2]["heart_rate_bpm"] *= 1 + 10 * DSP_RTOL
    arm[3]["heart_rate_bpm"] *= 1 + DSP_RTOL / 10  # within
    result = compare_windows(x86, arm)
    assert (result.compared, result.equal, result.passed) == (5, 4, False)
    assert [d[1] for d in result.differences] == ["heart_rate_bpm"]
    assert result.max_dsp_rel == pytest.approx(10 * DSP_RTOL, rel=1e-3)


def test_model_outputs_get_an_absolute_float32_tolerance() -> None:
    x86, arm = _pair()
    arm[0]["model_probability"] += MODEL_ATOL / 2
    arm[1]["stress_probability"] += 2 * MODEL_ATOL
    result = compare_windows(x86, arm)
    assert result.equal == 4
    assert result.differences[0][:2] == (x86[1]["window_start_ns"], "stress_probability")
    assert result.max_model_abs == pytest.approx(2 * MODEL_ATOL)


@pytest.mark.parametrize(
    ("column", "a", "b", "equal"),
    [
        ("beats", 68, 69, False),  # counts: exactly
        ("scorer_state", "scored", "refused", False),
        ("model_probability", None, 0.25, False),  # missing only equals missing
        ("heart_rate_bpm", math.nan, math.nan, True),
        ("heart_rate_bpm", math.nan, 70.0, False),
        ("scl_us", 0.0, 1e-13, True),  # at zero the absolute floor applies
        ("scl_us", 0.0, 1e-9, False),
        ("in_episode", True, 1, False),  # a bool is not a number here
        ("episode_id", "e-1", "e-2", True),  # random per run: only presence counts
        ("episode_id", "e-1", None, False),
    ],
)
def test_values_equal_per_column(column: str, a: Any, b: Any, equal: bool) -> None:
    assert values_equal(column, a, b) is equal


def test_a_window_only_one_side_has_is_compared_and_unequal() -> None:
    x86, arm = _pair()
    result = compare_windows(x86, arm[:-1])
    assert (result.compared, result.equal, result.only_x86, result.only_arm64) == (5, 4, 1, 0)
    assert not compare_windows([], []).passed  # nothing compared is no pass


def test_a_model_input_only_one_side_has_fails() -> None:
    x86, arm = _pair()
    del arm[4]["model_input:hrv_rmssd"]
    assert compare_windows(x86, arm).equal == 4


def test_flatten_prefixes_the_model_inputs() -> None:
    assert flatten({"beats": 3}, {"b": 1.0, "a": 2.0}) == {
        "beats": 3,
        "model_input:a": 2.0,
        "model_input:b": 1.0,
    }


def _documents(tmp_path: Path, arm: list[dict[str, Any]]) -> tuple[Path, Path]:
    x86, _ = _pair()
    common = {"recorded_s": 1800.0, "scored_windows": 5, "cpu_model": "m", "python": "3.11"}
    side = common | {"replay_cpu_s": 1.0, "cpu_s_per_hour": 2.0, "qemu_cpu": None}
    emulated = common | {
        "replay_cpu_s": 7.5,
        "cpu_s_per_hour": 15.0,
        "qemu_cpu": "cortex-a72",
        "cold_compile_s": 600.04,
        "cold_compile_cpu_s": 590.0,
        "warm_start_s": 3.456,
        "warm_start_cpu_s": 3.0,
        "replay_wall_s": 8.0,
        "cold_kernels_compiled": 40,
        "warm_start_kernels_compiled": 0,
        "kernels_compiled": 0,
        "vagus_from": "/opt/vagus-venv/lib/python3.11/site-packages/vagus",
    }
    paths = tmp_path / "x86.json", tmp_path / "arm64.json"
    paths[0].write_text(json.dumps(side | {"windows": x86}))
    paths[1].write_text(json.dumps(emulated | {"windows": arm}))
    return paths


def test_compare_ends_with_one_json_line_and_fails_on_a_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, arm = _pair()
    assert pi_check.main(["compare", *map(str, _documents(tmp_path, arm))]) == 0
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (last["windows_compared"], last["windows_equal"]) == (5, 5)
    assert (last["cold_compile_s"], last["cpu_s_per_hour"]) == (600.0, 15.0)
    assert last["emulation_cpu_ratio"] == 7.5
    assert last["tolerance"]["dsp_rtol"] == DSP_RTOL

    arm[0]["beats"] += 1
    assert pi_check.main(["compare", *map(str, _documents(tmp_path, arm))]) == 1
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["windows_equal"] == 4
