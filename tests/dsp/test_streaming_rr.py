"""The pipeline's RR series: Lipponen-Tarvainen corrected, with the corrected share reported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.hrv import clean_rr
from dsp.hrv.rr_correction import detect_rr_artefacts
from dsp.streaming.rr import corrected_series
from ingest.decoding import SampleBlock
from stream.events import StressScore
from tests.reference.hrv import detect_rr_artefacts_reference
from vagus.config import WindowSettings
from vagus.pipeline import ClosedWindow, FeaturePipeline

NS = 1_000_000_000
T0 = 10**18
FS = 130.0


def _ecg_blocks(beat_s: np.ndarray, seconds: int) -> list[SampleBlock]:
    """1-s blocks of 130 Hz ECG with a narrow R wave at each given beat time (s)."""
    t = np.arange(int(seconds * FS)) / FS
    x = np.random.default_rng(2).normal(0, 5, t.size)
    for beat in beat_s:
        lo, hi = np.searchsorted(t, (beat - 0.1, beat + 0.1))
        x[lo:hi] += 1000 * np.exp(-0.5 * ((t[lo:hi] - beat) / 0.012) ** 2)
    blocks = []
    for second in range(seconds):
        part = slice(int(second * FS), int((second + 1) * FS))
        times = T0 + (np.arange(part.start, part.stop) * (NS / FS)).astype(np.int64)
        blocks.append(SampleBlock("d-test0001", "ecg", times, x[part], "uV", FS))
    return blocks


def _windows(beat_s: np.ndarray, seconds: int) -> list[ClosedWindow]:
    pipeline = FeaturePipeline(
        patient_id="p-7k3m9q2x4v8w", producer_id="t", windows=WindowSettings()
    )
    closed: list[ClosedWindow] = []
    for block in _ecg_blocks(beat_s, seconds):
        pipeline.add(block)
        closed += pipeline.advance(int(block.times_ns[-1]))
    return closed + pipeline.finish()


def test_a_missed_beat_is_corrected_and_counted() -> None:
    rng = np.random.default_rng(4)
    rr = 0.8 + 0.02 * np.sin(2 * np.pi * np.arange(300) / 15) + rng.normal(0, 0.008, 300)
    beats = 0.5 + np.concatenate(([0.0], np.cumsum(rr)))
    beats = np.delete(beats, 150)  # near 120.5 s the strap misses a beat: one ~1.6 s interval
    closed = _windows(beats, 240)
    hit = [w for w in closed if w.window.window_start_ns <= T0 + 120 * NS < w.window.window_end_ns]
    assert hit
    for window in hit:
        features = window.window.features
        # One of the window's ~74 intervals was corrected (split in two), none is 1.6 s.
        assert features.rr_artifact_fraction == pytest.approx(1 / features.beats, rel=0.05)
        assert features.mean_nn_ms == pytest.approx(800.0, abs=5.0)
        assert window.window.model_features["hrv_max_rr"] < 900.0
    clean = [w for w in closed if w.window.window_end_ns <= T0 + 115 * NS]
    assert clean and all(w.window.features.rr_artifact_fraction == 0.0 for w in clean[1:])


def test_resonant_breathing_is_not_taken_for_artefacts() -> None:
    # 6 breaths per minute swinging RR by +-250 ms around 900 ms: the resonance response.
    rr = [0.9]
    while sum(rr) < 300:
        rr.append(0.9 + 0.25 * np.sin(2 * np.pi * 0.1 * sum(rr)))
    beats = 0.5 + np.cumsum(rr)
    closed = _windows(beats, 300)
    late = [w.window.features for w in closed if w.window.window_start_ns >= T0 + 60 * NS]
    assert late and all(f.rr_artifact_fraction == 0.0 for f in late)
    # clean_rr, the pipeline's former cleaner, rejects a large share of the same intervals.
    rejected = 1.0 - float(np.mean(clean_rr(np.diff(beats) * 1000.0)))
    assert rejected > 0.1
    scores = [e for w in closed for e in w.events if isinstance(e, StressScore)]
    assert scores  # and the windows are still scored, not held for "poor signal" by L-T


def test_corrected_series_keeps_runs_apart() -> None:
    beats = (np.array([0.0, 0.8, 1.6, 2.4, 10.0, 10.8, 11.6, 12.4]) * NS).astype(np.int64)
    real = np.ones(beats.size - 1, dtype=np.bool_)
    real[3] = False  # a gap between 2.4 s and 10 s
    times, kept, ends, flagged = corrected_series(beats, real, fs=FS)
    assert kept.tolist() == [True, True, True, False, True, True, True]
    assert times[4] == pytest.approx(10.0 * NS, abs=NS / FS)
    assert not flagged.any() and ends.size == real.size


@settings(max_examples=150, deadline=None)
@given(
    arrays(np.float64, st.integers(0, 300), elements=st.floats(300.0, 1800.0)),
    st.sampled_from([None, 7.6923, 1.0]),
)
def test_fused_lt_detection_equals_its_numpy_twin(rr: np.ndarray, resolution: float | None) -> None:
    """The gateway's every-window L-T kernel labels as the step-by-step numpy version."""
    if rr.size > 10:  # plant a missed beat and an ectopic pair among the random intervals
        rr[3] *= 2.0
        rr[7], rr[8] = 0.6 * rr[7], 1.4 * rr[8]
    np.testing.assert_array_equal(
        detect_rr_artefacts(rr, resolution_ms=resolution),
        detect_rr_artefacts_reference(rr, resolution_ms=resolution),
    )
