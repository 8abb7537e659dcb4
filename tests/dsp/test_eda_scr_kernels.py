"""The fused SCR kernels find the responses detect_scrs finds (their reference), per method."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.eda import (
    ScrMethod,
    clean_eda,
    clean_eda_design,
    detect_scrs,
    response_scr_indices,
    skin_kernel,
    slope_scr_indices,
)
from dsp.stress.features_eda import model_scrs
from tests.reference.stress import model_scrs_reference

Kernel = Callable[..., tuple[np.ndarray, np.ndarray]]


def _eda(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drift = 4.0 + np.cumsum(rng.normal(0, 0.01, n))
    kicks = (rng.random(n) < 0.03) * rng.uniform(0.02, 0.5, n)
    shape = np.exp(-np.arange(60) / 12.0) * (1 - np.exp(-np.arange(60) / 2.0))
    out: np.ndarray = drift + np.convolve(kicks, shape)[:n]
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, 100_000),
    st.integers(3, 800),
    st.sampled_from([2.0, 4.0, 5.0, 8.0, 32.0]),
    st.sampled_from([0.01, 0.05]),
)
def test_kernel_equals_detect_scrs(seed: int, n: int, fs: float, floor: float) -> None:
    clean = clean_eda(_eda(seed, n), fs)
    pairs: tuple[tuple[ScrMethod, Kernel], ...] = (
        ("slope", slope_scr_indices),
        ("response", response_scr_indices),
    )
    for method, kernel in pairs:
        ref = detect_scrs(clean, fs, method=method, prefiltered=True, min_amplitude_us=floor)
        onsets, peaks = kernel(clean, fs, min_amplitude_us=floor)
        np.testing.assert_array_equal(onsets, ref.onset_idx)
        np.testing.assert_array_equal(peaks, ref.peak_idx)


def test_model_scrs_equal_reference_and_find_responses() -> None:
    phasic = np.maximum(0.0, np.gradient(clean_eda(_eda(5, 2000), 4.0), 0.25))
    ours, theirs = model_scrs(phasic, 4.0), model_scrs_reference(phasic, 4.0)
    assert ours[0].size > 5  # the comparison covers real responses
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="finite"):
        slope_scr_indices(np.array([1.0, np.nan, 2.0]), 4.0)
    with pytest.raises(ValueError, match="finite"):
        response_scr_indices(np.array([1.0, np.nan, 2.0]), 4.0)
    with pytest.raises(ValueError, match="positive rate"):
        slope_scr_indices(np.ones(10), 0.0)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 100_000), st.integers(1, 600), st.sampled_from([2.0, 4.0, 8.0, 32.0]))
def test_skin_kernel_equals_clean_median_and_detect(seed: int, n: int, fs: float) -> None:
    eda = _eda(seed, n)
    clean = clean_eda(eda, fs)
    lowpass, pad = clean_eda_design(fs)
    level, count = skin_kernel(eda, fs, lowpass, pad, 0.05)
    assert level == float(np.median(clean))
    assert count == len(detect_scrs(clean, fs, prefiltered=True))
