"""The fused Welch band-power kernel equals welch_psd + band_power (the former per-window path)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.hrv.welch_kernels import (
    welch_band_powers,
    welch_band_powers_kernel,
    welch_band_powers_tabled,
    welch_twiddles,
)
from dsp.stress.features import BAND_EDGES, hrv_frequency_features
from tests.reference.hrv import welch_band_powers_reference
from tests.reference.stress import hrv_frequency_features_reference

_RTOL = 1e-9


def _nn_series(seed: int, seconds: float, mean_ms: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nn = mean_ms + rng.normal(0, 40, int(seconds * 1000 / mean_ms) + 5)
    t = np.cumsum(nn) / 1000.0
    keep = t <= seconds
    return t[keep] - seconds, nn[keep]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(40.0, 200.0), st.floats(450.0, 1300.0))
def test_kernel_equals_reference(seed: int, seconds: float, mean_ms: float) -> None:
    t, nn = _nn_series(seed, seconds, mean_ms)
    ours = welch_band_powers(t, nn, BAND_EDGES)
    theirs = welch_band_powers_reference(t, nn, BAND_EDGES)
    np.testing.assert_allclose(ours, theirs, rtol=_RTOL, atol=1e-12)


@pytest.mark.parametrize("seconds", [60.0, 180.0])
def test_features_equal_reference(seconds: float) -> None:
    t, nn = _nn_series(3, seconds, 800.0)
    ours, theirs = hrv_frequency_features(t, nn), hrv_frequency_features_reference(t, nn)
    assert ours.keys() == theirs.keys()
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=_RTOL), name


def test_a_sine_lands_in_its_band() -> None:
    t = np.arange(1, 240) * 0.75
    nn = 800.0 + 50.0 * np.sin(2 * np.pi * 0.25 * t)  # HF
    vlf, lf, hf, vhf = welch_band_powers(t, nn, BAND_EDGES)
    assert hf > 20 * max(vlf, lf, vhf)


def test_bad_input_is_a_clear_error() -> None:
    t = np.arange(10.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        welch_band_powers(t[::-1].copy(), t, BAND_EDGES)
    with pytest.raises(ValueError, match="same length"):
        welch_band_powers(t, t[:5], BAND_EDGES)
    with pytest.raises(ValueError, match="too few samples"):
        welch_band_powers(np.array([0.0, 1.0]), np.array([800.0, 810.0]), BAND_EDGES)
    with pytest.raises(ValueError, match="shape"):
        welch_band_powers(t, t, np.zeros(3))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.floats(40.0, 200.0), st.floats(450.0, 1300.0))
def test_precomputed_tables_give_the_same_powers(seed: int, seconds: float, mean_ms: float) -> None:
    """The gateway passes welch_twiddles' tables; short series (smaller segments) and tables of
    the wrong shape fall back to computing them: every path gives the same numbers."""
    t, nn = _nn_series(seed, seconds, mean_ms)
    design = np.array([4.0, 64.0])
    cos_rows, sin_rows = welch_twiddles(BAND_EDGES, 4.0, 64.0)
    plain = welch_band_powers_kernel(t, nn, BAND_EDGES, 4.0, 64.0)
    tabled = welch_band_powers_tabled(t, nn, BAND_EDGES, design, cos_rows, sin_rows)
    wrong = welch_band_powers_tabled(t, nn, BAND_EDGES, design, cos_rows[:3], sin_rows[:3])
    np.testing.assert_array_equal(tabled, plain)
    np.testing.assert_array_equal(wrong, plain)
