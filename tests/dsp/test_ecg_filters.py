"""The detector's paired zero-phase filters equal two separate dsp.filters passes, bit for bit."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.ecg.filter_pair import two_filtfilt_kernel, two_filtfilt_reference
from dsp.filters import butter_bandpass_sos, butter_highpass_sos, prepared_sos


def _design(fs: float) -> tuple[np.ndarray, int, np.ndarray, int]:
    band = butter_bandpass_sos(5.0, 15.0, fs)
    high = butter_highpass_sos(0.5, fs)
    band_s, band_pad = prepared_sos(band.tobytes(), band.shape[0])
    high_s, high_pad = prepared_sos(high.tobytes(), high.shape[0])
    return band_s, band_pad, high_s, high_pad


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 10_000),
    st.sampled_from([50.0, 120.0, 130.0, 180.0, 250.0]),
    st.integers(2, 4000),
)
def test_pair_equals_two_passes(seed: int, fs: float, n: int) -> None:
    band, band_pad, high, high_pad = _design(fs)
    x = np.random.default_rng(seed).normal(0.0, 100.0, n) + 500.0
    pads = (min(band_pad, n - 1), min(high_pad, n - 1))
    got = two_filtfilt_kernel(band, pads[0], high, pads[1], x)
    want = two_filtfilt_reference(band, pads[0], high, pads[1], x)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_band_pass_removes_the_baseline() -> None:
    band, band_pad, high, high_pad = _design(130.0)
    t = np.arange(2600) / 130.0
    x = 1000.0 + 200.0 * np.sin(2 * np.pi * 0.1 * t) + np.sin(2 * np.pi * 10.0 * t)
    banded, high_passed = two_filtfilt_kernel(band, band_pad, high, high_pad, x)
    inner = slice(260, -260)
    assert np.max(np.abs(banded[inner])) < 1.1  # the 10 Hz tone, not the 200-unit wander
    assert abs(float(np.mean(high_passed[inner]))) < 5.0  # the 1000-unit offset is gone
