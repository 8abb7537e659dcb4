"""eda_features (one kernel call) equals eda_features_reference (the numpy path)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.stress.features_eda import (
    EdaTraces,
    eda_features,
    eda_features_reference,
    eda_traces,
)


def _eda(seed: int, n: int, fs: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    kicks = (rng.random(n) < 0.25 / fs) * rng.uniform(0.05, 0.6, n)
    tau = 4.0 * fs
    shape = np.exp(-np.arange(int(15 * tau)) / tau) * (1 - np.exp(-np.arange(int(15 * tau)) / fs))
    out: np.ndarray = (
        4.0 + 0.5 * np.sin(2 * np.pi * k / (600 * fs)) + np.convolve(kicks, shape)[:n]
    ) + rng.normal(0, 0.003, n)
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 100_000),
    st.sampled_from([4.0, 8.0, 32.0]),
    st.floats(0.0, 0.9),
    st.floats(20.0, 90.0),
)
def test_kernel_equals_reference(seed: int, fs: float, where: float, seconds: float) -> None:
    traces = eda_traces(_eda(seed, int(240 * fs), fs), fs)
    start = int(where * (traces.tonic_us.size - seconds * fs))
    stop = start + int(seconds * fs)
    ours = eda_features(traces, fs, start=start, stop=stop)
    theirs = eda_features_reference(traces, fs, start=start, stop=stop)
    assert ours.keys() == theirs.keys()
    assert all(_same(ours[k], theirs[k]) for k in ours), (ours, theirs)


def test_responses_are_found_and_equal() -> None:
    fs = 4.0
    traces = eda_traces(_eda(2, 2400, fs), fs)
    ours = eda_features(traces, fs, start=400, stop=2000)
    theirs = eda_features_reference(traces, fs, start=400, stop=2000)
    assert ours["scr_peak_count"] >= 3  # the comparison covers the SCR branch
    assert all(_same(ours[k], theirs[k]) for k in ours)


def test_bad_traces_are_a_clear_error() -> None:
    flat = np.ones(100)
    bad = EdaTraces(flat, flat, np.where(np.arange(100) == 5, np.nan, 0.0))
    with pytest.raises(ValueError, match="NaN"):
        eda_features(bad, 4.0, start=0, stop=100)
    with pytest.raises(ValueError, match="outside"):
        eda_features(EdaTraces(flat, flat, flat), 4.0, start=50, stop=200)
