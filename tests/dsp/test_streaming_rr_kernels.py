"""The fused RR-series kernel equals corrected_series + clean_rr (the former per-window path)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.hrv import apply_corrections
from dsp.streaming.rr import rr_series, rr_series_reference
from dsp.streaming.rr_kernels import apply_corrections_kernel


def _beats(seed: int, n: int, n_gaps: int) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (ns) with a missed, an extra-like and an ectopic-like beat, and some gaps."""
    rng = np.random.default_rng(seed)
    rr = 750.0 + 40.0 * np.sin(np.arange(n) / 4.0) + rng.normal(0, 15, n)
    picks = rng.integers(0, n, 3)
    rr[picks[0]] *= 2.0
    rr[picks[1]] *= 0.4
    rr[picks[2]] *= 1.3
    beats = (np.cumsum(rr) * 1e6).astype(np.int64)
    real = np.ones(n - 1, dtype=np.bool_)
    real[rng.integers(0, n - 1, n_gaps)] = False
    return beats, real


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 100_000), st.integers(3, 260), st.integers(0, 4))
def test_kernel_equals_reference(seed: int, n: int, n_gaps: int) -> None:
    beats, real = _beats(seed, n, n_gaps)
    ours = rr_series(beats, real, fs=130.0)
    theirs = rr_series_reference(beats, real, fs=130.0)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)  # same operations in the same order: bit-equal


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 60))
def test_apply_corrections_kernel_equals_reference(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    rr = rng.uniform(400.0, 1200.0, n)
    codes = rng.choice(np.arange(6, dtype=np.int8), n, p=[0.6, 0.1, 0.08, 0.08, 0.07, 0.07])
    np.testing.assert_allclose(
        apply_corrections_kernel(rr, codes), apply_corrections(rr, codes), rtol=1e-12
    )


def test_corrections_happen_in_the_tested_series() -> None:
    """The equality above covers the correcting branch, not only the clean one."""
    beats, real = _beats(7, 240, 0)
    _, _, flagged, _ = rr_series(beats, real, fs=130.0)
    assert flagged.any()


def test_beats_out_of_order_are_a_clear_error() -> None:
    beats = np.array([0, 2_000_000_000, 1_000_000_000, 3_000_000_000], dtype=np.int64)
    with pytest.raises(ValueError, match="finite and positive"):
        rr_series(beats, np.ones(3, dtype=np.bool_), fs=130.0)
