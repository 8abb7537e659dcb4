"""The decision rule's search-back: a gap of 1.5 median RR intervals is searched for a missed beat,
first at half the threshold anywhere past the refractory period, then at a quarter of it between
the last beat's T-wave window and the refractory period before the next candidate."""

from __future__ import annotations

import warnings

import neurokit2 as nk
import numpy as np
import pytest

from dsp.ecg import detect_r_peaks
from dsp.ecg.kernels import _decide_kernel, decide_reference

REFRACTORY, T_WAVE = 25, 36  # samples at a nominal 100 Hz


def _train(beat_amp: list[float], t_amp: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of a regular rhythm (one beat per 80 samples, a T wave 30 after each)."""
    idx, amp, slope = [], [], []
    for i, a in enumerate(beat_amp):
        idx += [80 * i + 40, 80 * i + 70]
        amp += [a, t_amp]
        slope += [1.0, 0.2]
    return np.array(idx, dtype=np.int64), np.array(amp), np.array(slope)


def _both(idx: np.ndarray, amp: np.ndarray, slope: np.ndarray) -> np.ndarray:
    kernel = _decide_kernel(idx, amp, slope, 1.0, 0.05, REFRACTORY, T_WAVE, 80.0, 0)
    reference = decide_reference(
        idx, amp, slope, spki0=1.0, npki0=0.05, refractory=REFRACTORY, t_wave=T_WAVE, rr0=80.0
    )
    np.testing.assert_array_equal(kernel, reference)
    return kernel


def test_a_weak_beat_past_the_t_wave_is_found_by_the_second_tier() -> None:
    beats = [1.0] * 12
    beats[6] = (
        0.1  # a narrow-band-poor beat (a wide PVC, a small complex): below half the threshold
    )
    idx, amp, slope = _train(beats, 0.05)
    amp[11] = 0.13  # the T wave before it is larger than the beat, but inside the T-wave window
    is_qrs = _both(idx, amp, slope)
    assert is_qrs[12]  # the weak beat
    assert not is_qrs[11]  # not the T wave
    assert np.array_equal(np.flatnonzero(is_qrs), np.arange(0, 24, 2))


def test_no_beat_is_invented_in_a_gap_with_only_t_waves() -> None:
    beats = [1.0] * 12
    idx, amp, slope = _train(beats, 0.05)
    keep = np.ones(idx.size, dtype=bool)
    keep[12] = False  # a dropped beat (a sinus pause): only T waves and baseline remain
    is_qrs = _both(idx[keep], amp[keep], slope[keep])
    np.testing.assert_array_equal(is_qrs, slope[keep] == 1.0)  # every beat, no T wave


def test_the_median_rr_is_not_inflated_by_an_earlier_pause() -> None:
    # one long pause enters the RR history; the mean would then exceed the gap that a later
    # missed beat leaves (2 RR = 160 < 1.5 x mean), the median does not
    idx, amp, slope = _train([1.0] * 14, 0.05)
    idx[10:] += 300  # a 380-sample pause between beats 4 and 5
    amp[20] = 0.12  # beat 10: below half the threshold, only the search-back finds it
    is_qrs = _both(idx, amp, slope)
    assert is_qrs[20]


@pytest.mark.parametrize("heart_rate", [60, 90])
def test_a_small_complex_in_a_simulated_record_is_found(heart_rate: int) -> None:
    # one QRS shrunk to 30 % around the line joining its ends: its 5-15 Hz energy falls to
    # ~9 %, below half the threshold (Pan-Tompkins' search-back missed it, measured), but it
    # lies past the T-wave window, where the second tier looks
    fs = 250
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = nk.ecg_simulate(duration=30, sampling_rate=fs, heart_rate=heart_rate, random_state=4)
    peaks = detect_r_peaks(x, fs)
    centre = peaks[peaks.size // 2]
    lo, hi = centre - int(0.06 * fs), centre + int(0.06 * fs)
    line = np.linspace(x[lo], x[hi], hi - lo)
    y = x.copy()
    y[lo:hi] = line + 0.3 * (x[lo:hi] - line)
    found = detect_r_peaks(y, fs)
    assert found.size == peaks.size
    assert np.min(np.abs(found - centre)) <= int(0.05 * fs)
