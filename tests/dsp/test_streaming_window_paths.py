"""The ECG and EDA stages' one-call window kernels (dsp.streaming.ecg_window,
dsp.streaming.eda_window) give the windows the stages' step-by-step path gives, and hand over to
it wherever they cannot go on: gaps, jumps in sample times, bad samples, an EDA rate too slow
for the model's traces. The step-by-step windows come from the reference stages
(tests/reference/streaming.py: the same stages on the reference buffer).

tests/vagus/test_pipeline_reference.py compares the shipped pipeline with every reference
patched in on clean data; here the same recording is cut, gapped and spoiled, and the two paths
of the one shipped pipeline are compared window by window.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import msgspec
import pytest

from dsp.streaming import STAGES
from dsp.streaming import stages as streaming_stages
from ingest.decoding import SampleBlock
from tests.helpers import count_results, dsp_bench
from tests.reference.streaming import REFERENCE_STAGES
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

NS = 1_000_000_000


@pytest.fixture(scope="module")
def blocks() -> list[tuple[int, SampleBlock]]:
    result: list[tuple[int, SampleBlock]] = dsp_bench()._gateway_blocks(900.0)
    return result


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often each one-call path ran to the end (returned results, not a hand-over)."""
    return count_results(monkeypatch, streaming_stages, ("ecg_window", "eda_window"))


def _run(
    blocks: list[tuple[int, SampleBlock]],
    gaps: list[tuple[str, int, int]] | None = None,
    *,
    reference: bool = False,
) -> list[tuple[dict[str, Any], dict[str, float], dict[str, float]]]:
    pipe = FeaturePipeline(
        patient_id="p",
        producer_id="t",
        windows=WindowSettings(),
        stages=REFERENCE_STAGES if reference else STAGES,
    )
    closed = []
    for arrival_ns, block in blocks:
        pipe.add(block)
        for stream, start, end in gaps or []:
            if start <= arrival_ns < start + 1_000_000_000:
                pipe.mark_gap(stream, start, end)
        closed += pipe.advance(arrival_ns)
    closed += pipe.finish()
    return [
        (msgspec.structs.asdict(c.window.features), c.window.model_features, c.window.coverage)
        for c in closed
    ]


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _both_paths(
    blocks: list[tuple[int, SampleBlock]], gaps: list[tuple[str, int, int]] | None = None
) -> int:
    """Windows of both paths compared; how many."""
    fused = _run(blocks, gaps)
    per_step = _run(blocks, gaps, reference=True)
    assert len(fused) == len(per_step) > 50
    for ours, theirs in zip(fused, per_step, strict=True):
        assert _same(ours, theirs), (ours, theirs)
    return len(fused)


def test_clean_streams_take_the_one_call_paths_with_the_same_windows(
    blocks: list[tuple[int, SampleBlock]], monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    windows = _both_paths(blocks)
    assert calls["ecg_window"] >= windows - 1
    assert calls["eda_window"] >= windows - 1


def _without(
    blocks: list[tuple[int, SampleBlock]], stream: str, start_s: float, end_s: float
) -> list[tuple[int, SampleBlock]]:
    t0 = int(blocks[0][1].times_ns[0])
    lo, hi = t0 + int(start_s * NS), t0 + int(end_s * NS)
    return [(a, b) for a, b in blocks if b.stream != stream or not lo <= int(b.times_ns[0]) < hi]


def test_a_jump_in_sample_times_hands_over_and_gives_the_same_windows(
    blocks: list[tuple[int, SampleBlock]], monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    """ECG and EDA each lose 40 s, unmarked: only the sample times show it."""
    gapped = _without(_without(blocks, "ecg", 300.0, 340.0), "eda", 500.0, 540.0)
    windows = _both_paths(gapped)
    # the one-call paths ran before each jump and again once it left the look-back, and handed
    # over in between
    assert 0 < calls["ecg_window"] < windows - 10
    assert 0 < calls["eda_window"] < windows - 10


def test_a_marked_gap_hands_over_and_gives_the_same_windows(
    blocks: list[tuple[int, SampleBlock]], monkeypatch: pytest.MonkeyPatch
) -> None:
    t0 = int(blocks[0][1].times_ns[0])
    gapped = _without(blocks, "ecg", 400.0, 401.0)
    marks = [("ecg", t0 + 400 * NS, t0 + 401 * NS), ("eda", t0 + 600 * NS, t0 + 600 * NS + 1)]
    _both_paths(gapped, marks)


def test_an_eda_rate_too_slow_for_the_model_gives_the_same_windows(
    blocks: list[tuple[int, SampleBlock]], monkeypatch: pytest.MonkeyPatch, calls: dict[str, int]
) -> None:
    """At 2 Hz the model's 1 Hz smoothing is undefined: readable skin numbers only."""
    slow = [
        (a, b)
        if b.stream != "eda"
        else (
            a,
            dataclasses.replace(b, times_ns=b.times_ns[::2], values=b.values[::2], rate_hz=2.0),
        )
        for a, b in blocks
    ]
    windows = _both_paths(slow)
    assert calls["eda_window"] >= windows - 1
    features, model, _ = _run(slow)[-1]
    assert features["scl_us"] is not None and not any(k.startswith("scr_") for k in model)


def _spoiled(
    blocks: list[tuple[int, SampleBlock]], stream: str, after_s: float
) -> list[tuple[int, SampleBlock]]:
    """The first 300 s, with one NaN in the first block of ``stream`` after after_s."""
    t0, spoilt = blocks[0][0], False
    out = []
    for arrival_ns, block in blocks:
        if arrival_ns - t0 > 300 * NS:
            break
        if not spoilt and block.stream == stream and arrival_ns - t0 > after_s * NS:
            values = block.values.copy()
            values[0] = math.nan
            block = dataclasses.replace(block, values=values)  # noqa: PLW2901 - the spoilt copy
            spoilt = True
        out.append((arrival_ns, block))
    return out


@pytest.mark.parametrize("stream", ["ecg", "eda"])
def test_a_bad_sample_raises_the_per_step_paths_clear_error(
    blocks: list[tuple[int, SampleBlock]], monkeypatch: pytest.MonkeyPatch, stream: str
) -> None:
    spoiled = _spoiled(blocks, stream, 200.0)
    with pytest.raises(ValueError, match="NaN") as fused:
        _run(spoiled)
    with pytest.raises(ValueError, match="NaN") as per_step:
        _run(spoiled, reference=True)
    assert str(fused.value) == str(per_step.value)
