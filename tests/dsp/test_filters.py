"""Butterworth design and filtering against scipy, and the numba kernel against its twin."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from dsp.filters.sos import (
    butter_bandpass_sos,
    butter_highpass_sos,
    butter_lowpass_sos,
    sosfilt,
    sosfilt_kernel,
    sosfilt_zi,
    sosfiltfilt,
)
from tests.reference.filters import sosfilt_reference

RATES = [4.0, 32.0, 130.0, 360.0, 1000.0]
ORDERS = [1, 2, 3, 4, 5]


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    return np.random.default_rng(7).standard_normal(3000).cumsum()


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("order", ORDERS)
def test_design_matches_scipy(fs: float, order: int) -> None:
    def scipy_sos(wn: float | list[float], btype: str) -> np.ndarray:
        return np.asarray(scipy.signal.butter(order, wn, btype, fs=fs, output="sos"))

    cases = [
        (butter_lowpass_sos(fs / 7, fs, order), scipy_sos(fs / 7, "lowpass")),
        (butter_highpass_sos(fs / 9, fs, order), scipy_sos(fs / 9, "highpass")),
        (butter_bandpass_sos(fs / 50, fs / 3, fs, order), scipy_sos([fs / 50, fs / 3], "band")),
        # so wide that some band-pass poles are real: exercises the real-pole pairing
        (
            butter_bandpass_sos(fs / 500, fs / 2.1, fs, order),
            scipy_sos([fs / 500, fs / 2.1], "band"),
        ),
    ]
    for ours, expected in cases:
        assert ours.shape == expected.shape
        np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-12)


def test_invalid_cutoffs_raise() -> None:
    with pytest.raises(ValueError, match="cut-off"):
        butter_lowpass_sos(60.0, 100.0)
    with pytest.raises(ValueError, match="below"):
        butter_bandpass_sos(15.0, 5.0, 100.0)
    with pytest.raises(ValueError, match="order"):
        butter_lowpass_sos(1.0, 100.0, order=0)


@pytest.mark.parametrize("fs", RATES)
def test_sosfilt_and_sosfiltfilt_match_scipy(fs: float, walk: np.ndarray) -> None:
    sos = butter_bandpass_sos(fs / 40, fs / 4, fs, order=3)
    scale = np.abs(walk).max()
    np.testing.assert_allclose(
        sosfilt(sos, walk), scipy.signal.sosfilt(sos, walk), rtol=1e-9, atol=1e-11 * scale
    )
    np.testing.assert_allclose(
        sosfiltfilt(sos, walk), scipy.signal.sosfiltfilt(sos, walk), rtol=1e-8, atol=1e-10 * scale
    )
    np.testing.assert_allclose(sosfilt_zi(sos), scipy.signal.sosfilt_zi(sos), rtol=1e-10)


def test_sosfiltfilt_short_signal_is_padded_not_rejected() -> None:
    sos = butter_lowpass_sos(1.0, 32.0)
    x = np.linspace(0.0, 1.0, 10)  # shorter than scipy's pad length of 15
    y = sosfiltfilt(sos, x)
    assert y.shape == x.shape
    expected = scipy.signal.sosfiltfilt(sos, x, padlen=x.size - 1)
    np.testing.assert_allclose(y, expected, rtol=1e-9, atol=1e-12)
    assert sosfiltfilt(sos, np.ones(1)).tolist() == [1.0]


def test_kernel_matches_reference(walk: np.ndarray) -> None:
    sos = butter_bandpass_sos(0.5, 40.0, 250.0, order=4)
    x = walk[:500]
    zi = np.random.default_rng(1).standard_normal((sos.shape[0], 2))
    zi_kernel, zi_ref = zi.copy(), zi.copy()
    np.testing.assert_allclose(
        sosfilt_kernel(sos, x, zi_kernel), sosfilt_reference(sos, x, zi_ref), rtol=1e-12
    )
    np.testing.assert_allclose(zi_kernel, zi_ref, rtol=1e-12)
