"""The rules that make a rise an SCR (dsp.eda.response_rules), on signals built to break one."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.eda import detect_scrs
from dsp.eda.response_rules import (
    MAX_RISE_S,
    NOISE_MULTIPLE,
    NOISE_WINDOW_S,
    noise_sd_kernel,
    response_mask_kernel,
    stands_out_kernel,
    tonic_kernel,
)
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


def _mask_plain(
    x: np.ndarray, fs: float, onsets: np.ndarray, peaks: np.ndarray, floor: float
) -> np.ndarray:
    """The rules as first written: the tonic level always, both medians for every rise."""
    keep = np.zeros(peaks.size, dtype=bool)
    if peaks.size == 0:
        return keep
    tonic = tonic_kernel(x, fs)
    reach = round(NOISE_WINDOW_S * fs)
    for k, (o, p) in enumerate(zip(onsets.tolist(), peaks.tolist(), strict=True)):
        if (p - o) / fs > MAX_RISE_S:
            continue
        amplitude = x[p] - x[o] - max(0.0, tonic[p] - tonic[o])
        if amplitude < floor:
            continue
        noise = noise_sd_kernel(x, max(0, p - reach), min(x.size, p + reach + 1))
        keep[k] = amplitude >= NOISE_MULTIPLE * noise
    return keep


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 600),
    noise=st.sampled_from([0.0, 1e-4, 0.005, 0.05, 0.3]),
    trend=st.sampled_from([0.0, 0.002, -0.01, 0.05]),
    floor=st.sampled_from([0.0, 0.01, 0.05]),
)
def test_the_mask_equals_the_rules_as_first_written(
    seed: int, n: int, noise: float, trend: float, floor: float
) -> None:
    """The shortcuts (the tonic level made once needed, the medians skipped where a one-pass
    bound decides) change no decision, on clean, noisy, trending and quantised signals."""
    rng = np.random.default_rng(seed)
    x = 2.0 + trend * np.arange(n) + rng.normal(0.0, noise, n)
    x[rng.random(n) < 0.05] += rng.uniform(0.0, 0.5)
    if seed % 3 == 0:
        x = np.round(x, 2)  # repeated values: ties in both medians
    onsets = rng.integers(0, n, size=rng.integers(0, 12))
    peaks = np.minimum(onsets + rng.integers(0, 30, size=onsets.size), n - 1)
    got = response_mask_kernel(x, FS, onsets, peaks, floor)
    np.testing.assert_array_equal(got, _mask_plain(x, FS, onsets, peaks, floor))


def test_stands_out_decides_as_the_medians_do_at_the_boundary() -> None:
    """Amplitudes at, just below and just above NOISE_MULTIPLE noise SDs, and far above it
    (where the one-pass bound decides), on spans from none to hundreds of changes."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 300))
        x = np.cumsum(rng.normal(0.0, rng.choice([1e-3, 0.02, 0.2]), n))
        if rng.random() < 0.3:
            x[rng.integers(0, n, size=n // 3)] += 1.0  # outliers: the bound alone cannot decide
        lo = int(rng.integers(0, n))
        hi = int(rng.integers(lo, n + 1))
        threshold = NOISE_MULTIPLE * noise_sd_kernel(x, lo, hi)
        for amplitude in (threshold, np.nextafter(threshold, 0.0), np.nextafter(threshold, 9.0),
                          10.0 * threshold + 1e-12, 0.0):  # fmt: skip
            assert stands_out_kernel(x, lo, hi, amplitude) == (amplitude >= threshold)
