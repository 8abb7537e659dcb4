"""detect_r_peaks (one kernel call, dsp.ecg.fused) equals its numpy twin at every rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.ecg.peaks import detect_r_peaks, detect_r_peaks_reference


def _ecg(seed: int, seconds: float, fs: float, noise_uv: float) -> np.ndarray:
    """Gaussian QRS complexes at a varying rate, with wander and noise (µV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = 100.0 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, noise_uv, t.size)
    beat = 0.4
    while beat < seconds:
        x += 1000.0 * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
        x += 250.0 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
        beat += 0.8 + 0.1 * np.sin(beat / 3.0) + rng.normal(0, 0.03)
    return x


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 100_000),
    st.sampled_from([50.0, 100.0, 128.0, 130.0, 200.0, 250.0, 360.0, 500.0, 1000.0]),
    st.floats(0.5, 30.0),
    st.floats(0.0, 300.0),
    st.booleans(),
    st.booleans(),
)
def test_fused_equals_reference(
    seed: int, fs: float, seconds: float, noise_uv: float, inverted: bool, full_rate: bool
) -> None:
    x = _ecg(seed, seconds, fs, noise_uv) * (-1.0 if inverted else 1.0)
    np.testing.assert_array_equal(
        detect_r_peaks(x, fs, full_rate=full_rate),
        detect_r_peaks_reference(x, fs, full_rate=full_rate),
    )


def test_finds_the_beats() -> None:
    peaks = detect_r_peaks(_ecg(1, 20.0, 130.0, 20.0), 130.0)
    assert 20 <= peaks.size <= 27  # ~0.8 s apart over 20 s
    clinical = detect_r_peaks(_ecg(1, 20.0, 360.0, 20.0), 360.0)
    assert 20 <= clinical.size <= 27


@pytest.mark.parametrize("detect", [detect_r_peaks, detect_r_peaks_reference])
def test_bad_input_is_a_clear_error(detect: object) -> None:
    assert callable(detect)
    with pytest.raises(ValueError, match="NaN"):
        detect(np.where(np.arange(500) == 9, np.nan, 0.0), 130.0)
    with pytest.raises(ValueError, match="too low"):
        detect(np.zeros(500), 20.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        detect(np.zeros((500, 2)), 130.0)
