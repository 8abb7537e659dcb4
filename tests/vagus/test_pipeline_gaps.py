"""Gaps in the pipeline: reported in the windows they cover, never stitched into an RR interval;
signal quality re-sent while steady."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.decoding import SampleBlock
from stream.events import SignalQuality
from vagus.config import WindowSettings
from vagus.pipeline import ClosedWindow, FeaturePipeline

NS = 1_000_000_000
T0 = 10**18
DEVICE = "d-test0001"


def _blocks(seconds: int, *, ecg_missing: tuple[int, int] = (0, 0)) -> list[SampleBlock]:
    """One-second blocks: ECG at 130 Hz with a beat every 0.8 s, 8 Hz EDA, 25 Hz ACC."""
    rng = np.random.default_rng(5)
    blocks = []
    for second in range(seconds):
        t = second + np.arange(130) / 130.0
        ecg = 1000 * np.exp(-0.5 * (((t % 0.8) - 0.4) / 0.012) ** 2) + rng.normal(0, 5, 130)
        eda = 2.0 + 0.1 * np.sin(2 * np.pi * (second + np.arange(8) / 8) / 30.0)
        acc = np.array([0.0, 1000.0, 0.0]) + rng.normal(0, 5, (25, 3))
        for stream, values in (("ecg", ecg), ("eda", eda), ("acc", acc)):
            if stream == "ecg" and ecg_missing[0] <= second < ecg_missing[1]:
                continue
            n = len(values)
            times = T0 + second * NS + (np.arange(n) * NS // n).astype(np.int64)
            blocks.append(SampleBlock(DEVICE, stream, times, values, "", float(n)))
    return blocks


def _run(pipeline: FeaturePipeline, blocks: list[SampleBlock]) -> list[ClosedWindow]:
    closed: list[ClosedWindow] = []
    for block in blocks:
        pipeline.add(block)
        closed += pipeline.advance(int(block.times_ns[-1]))
    return closed + pipeline.finish()


def _pipeline(*, quality_refresh_s: float | None) -> FeaturePipeline:
    return FeaturePipeline(
        patient_id="p-7k3m9q2x4v8w",
        producer_id="t",
        windows=WindowSettings(),
        quality_refresh_s=quality_refresh_s,
    )


def _ecg_quality(closed: list[ClosedWindow]) -> list[tuple[int, str]]:
    return [
        ((e.span_end_ns - T0) // NS, e.kind)
        for w in closed
        for e in w.events
        if isinstance(e, SignalQuality) and e.stream == "ecg"
    ]


def test_a_marked_gap_is_reported_and_no_interval_spans_it() -> None:
    pipeline = _pipeline(quality_refresh_s=None)
    blocks = _blocks(240, ecg_missing=(100, 112))
    for block in blocks[: 3 * 113]:  # the marker comes when the first sample after it does
        pipeline.add(block)
    pipeline.mark_gap("ecg", T0 + 100 * NS - NS // 130, T0 + 112 * NS)
    closed = _run(pipeline, blocks[3 * 113 :])
    # Windows [start, start + 60 s) that the 12 s gap covers by more than 10 %: "gap" quality.
    assert _ecg_quality(closed) == [(60, "ok"), (110, "gap"), (170, "ok")]
    for window in closed:
        features = window.window.features
        if features.mean_nn_ms is not None:
            # Every interval is the strap's 800 ms: none is joined across the 12 s hole.
            assert features.mean_nn_ms == pytest.approx(800.0, abs=2.0)
            assert features.rr_artifact_fraction == 0.0
            assert window.window.model_features["hrv_max_rr"] < 810.0


def test_an_unmarked_jump_in_ecg_times_is_not_an_interval_either() -> None:
    closed = _run(_pipeline(quality_refresh_s=None), _blocks(240, ecg_missing=(100, 103)))
    max_rr = [w.window.model_features.get("hrv_max_rr", 0.0) for w in closed]
    assert max(max_rr) < 810.0
    assert all(w.window.features.rr_artifact_fraction in (None, 0.0) for w in closed)


def test_a_lost_link_marks_every_stream_of_the_device() -> None:
    pipeline = _pipeline(quality_refresh_s=None)
    for block in _blocks(10):
        pipeline.add(block)
    pipeline.mark_gap("link", T0 + 10 * NS, T0 + 30 * NS, device_id=DEVICE)
    pipeline.mark_gap("link", T0 + 10 * NS, T0 + 30 * NS, device_id="d-other0002")
    assert sorted(pipeline.engine.gaps) == ["acc", "ecg", "eda"]
    assert all(log.overlap_ns(T0, T0 + 60 * NS) == 20 * NS for log in pipeline.engine.gaps.values())
    with pytest.raises(ValueError, match="end after"):
        pipeline.mark_gap("ecg", T0 + 5, T0 + 5)


def test_steady_quality_is_resent_on_the_configured_period() -> None:
    closed = _run(_pipeline(quality_refresh_s=120.0), _blocks(400))
    sent = _ecg_quality(closed)
    assert [t for t, _ in sent] == [60, 180, 300]
    assert _ecg_quality(_run(_pipeline(quality_refresh_s=None), _blocks(400))) == [(60, "ok")]
    with pytest.raises(ValueError, match="quality_refresh_s"):
        _pipeline(quality_refresh_s=0.0)
