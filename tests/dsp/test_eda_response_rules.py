"""The rules that make a rise an SCR (dsp.eda.response_rules), on signals built to break one."""

from __future__ import annotations

import numpy as np

from dsp.eda import detect_scrs
from dsp.eda.response_rules import tonic_kernel
from dsp.filters import butter_lowpass_sos, sosfiltfilt

FS = 4.0


def _scr(t: np.ndarray, at: float, amplitude: float, rise_tau: float = 0.75) -> np.ndarray:
    """A Bateman-like response starting at `at` s, peaking at about `amplitude` µS."""
    s = np.clip(t - at, 0.0, None)
    shape = np.exp(-s / 4.0) - np.exp(-s / rise_tau)
    return np.asarray(amplitude * shape / shape.max())


def test_a_textbook_response_is_found_by_both_methods() -> None:
    t = np.arange(0, 60, 1 / FS)
    eda = 2.0 + _scr(t, 20.0, 0.3)
    for method in ("response", "slope"):
        scrs = detect_scrs(eda, FS, method=method)
        assert len(scrs) == 1 and 21.0 <= scrs.peak_idx[0] / FS <= 24.0


def test_a_slow_climb_is_a_tonic_shift_not_a_response() -> None:
    t = np.arange(0, 90, 1 / FS)
    climb = 0.2 / (1.0 + np.exp(-(t - 40.0) / 1.5))  # 0.2 µS over ~10 s, then level
    eda = 2.0 + climb
    assert len(detect_scrs(eda, FS, method="slope")) == 1  # the plain detector counts it
    assert len(detect_scrs(eda, FS)) == 0


def test_a_wiggle_on_a_rising_level_is_not_credited_with_the_rise() -> None:
    t = np.arange(0, 120, 1 / FS)
    # 0.04 µS bump (below the 0.05 floor) riding on a 0.01 µS/s rise of the tonic level
    eda = 2.0 + 0.01 * t + _scr(t, 60.0, 0.04)
    assert len(detect_scrs(eda, FS)) == 0
    assert len(detect_scrs(2.0 + 0.01 * t + _scr(t, 60.0, 0.3), FS)) == 1


def test_noise_raises_the_floor_on_noisy_signal() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0, 300, 1 / FS)
    noisy = 2.0 + rng.normal(0.0, 0.08, t.size)  # electrode noise, no response at all
    plain = len(detect_scrs(noisy, FS, method="slope"))
    assert plain > 5  # the plain 0.05 µS floor counts noise as responses
    assert len(detect_scrs(noisy, FS)) < plain / 2


def test_a_notch_in_one_rise_is_one_response_and_two_rises_apart_are_two() -> None:
    for fs in (4.0, 32.0):
        t = np.arange(0, 60, 1 / fs)
        # 0.2 µS up, a 0.05 µS dip, 0.2 µS up again: the peaks are 1.5 s apart
        notched = 2.0 + np.interp(t, [0, 20, 21.5, 22, 23, 60], [0, 0, 0.2, 0.15, 0.35, 0])
        assert len(detect_scrs(notched, fs, method="slope")) == 2  # the plain detector splits it
        one = detect_scrs(notched, fs)
        assert len(one) == 1
        assert 23.0 <= one.peak_idx[0] / fs <= 23.5 and one.onset_idx[0] / fs < 20.5
        # the same two rises 6 s apart are two responses
        apart = 2.0 + np.interp(
            t, [0, 20, 21.5, 22, 26, 27.5, 60], [0, 0, 0.2, 0.15, 0.15, 0.35, 0]
        )
        assert len(detect_scrs(apart, fs)) == 2


def test_tonic_kernel_is_the_zero_phase_butterworth() -> None:
    x = np.cumsum(np.random.default_rng(0).normal(size=400))
    for fs in (4.0, 32.0):
        expected = sosfiltfilt(butter_lowpass_sos(0.05, fs), x)
        np.testing.assert_allclose(tonic_kernel(x, fs), expected, rtol=0, atol=1e-9)
