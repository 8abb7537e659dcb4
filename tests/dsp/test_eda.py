"""SCR detection on simulated EDA with a known number of responses and on a real recording."""

from __future__ import annotations

import warnings
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest

from dsp.eda.detect import (
    ScrSet,
    _refine_kernel,
    _scr_kernel,
    clean_eda,
    detect_scrs,
    scr_rate_per_min,
    tonic_level_us,
)
from tests.reference.eda import refine_reference, scr_reference

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


@pytest.mark.parametrize("fs", [4, 8, 32])
@pytest.mark.parametrize("scr_number", [3, 6, 10])
@pytest.mark.parametrize("drift", [0.0, -0.01])
def test_simulated_scr_count(fs: int, scr_number: int, drift: float) -> None:
    for seed in range(3):
        eda = nk.eda_simulate(
            duration=120,
            sampling_rate=fs,
            scr_number=scr_number,
            noise=0,
            drift=drift,
            random_state=seed,
        )
        # neurokit2's own noise lies above 4 Hz and is dropped at these rates: add sensor noise
        eda = eda + np.random.default_rng(seed).normal(0.0, 0.01, eda.size)
        scrs = detect_scrs(eda, fs)
        assert abs(len(scrs) - scr_number) <= 1, (seed, len(scrs))
        assert np.all(scrs.amplitude_us >= 0.05)
        assert np.all(scrs.peak_idx > scrs.onset_idx)
        np.testing.assert_allclose(scrs.rise_time_s, (scrs.peak_idx - scrs.onset_idx) / fs)
        recovered = scrs.half_recovery_idx >= 0
        assert np.mean(recovered) >= 0.8  # simulated responses decay before the next one
        assert np.all(scrs.half_recovery_idx[recovered] > scrs.peak_idx[recovered])
        np.testing.assert_array_equal(np.isnan(scrs.half_recovery_time_s), ~recovered)


@pytest.mark.shared_data
@needs_shared
def test_real_recording_responses_follow_events() -> None:
    table = np.genfromtxt(
        SHARED / "eda" / "neurokit" / "bio_eventrelated_100hz.csv", delimiter=",", names=True
    )
    fs = 100.0
    eda, light = table["EDA"], table["Photosensor"]
    events = np.flatnonzero(np.diff((light < light.mean()).astype(int)) == 1) + 1
    assert events.size == 4
    ours = detect_scrs(eda, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.eda_peaks(nk.eda_phasic(nk.eda_clean(eda, fs), fs)["EDA_Phasic"], fs)
    theirs = np.asarray(info["SCR_Onsets"], dtype=np.int64)
    print(f"SCRs: ours {len(ours)}, neurokit2 {theirs.size}")
    assert abs(len(ours) - theirs.size) <= max(3, theirs.size // 2)
    # every event neurokit2 answers with an SCR within 1-5 s, we answer too (within 1 s of it)
    for event in events:
        answered = theirs[(theirs > event + 1 * fs) & (theirs < event + 5 * fs)]
        for onset in answered:
            assert np.min(np.abs(ours.onset_idx - onset)) <= fs, event
    assert tonic_level_us(eda, fs) == pytest.approx(float(np.median(eda)), rel=0.05)


def test_no_responses_in_flat_or_falling_signal() -> None:
    fs = 8.0
    t = np.arange(0, 60, 1 / fs)
    assert len(detect_scrs(np.full(t.size, 2.0), fs)) == 0
    assert len(detect_scrs(5.0 - 0.01 * t, fs)) == 0
    assert len(detect_scrs(np.array([1.0, 2.0]), fs)) == 0
    with pytest.raises(ValueError, match="NaN"):
        detect_scrs(np.array([1.0, np.nan, 1.0]), fs)
    with pytest.raises(ValueError, match="unknown SCR method"):
        detect_scrs(np.ones(100), fs, method="peaks")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        detect_scrs(np.ones(100), 0.0)


@pytest.mark.parametrize("fs", [4.0, 8.0, 32.0])
def test_one_synthetic_response(fs: float) -> None:
    """A 0.5 uS response (linear rise over 2 s, exponential decay, tau 4 s) on a 2 uS level."""
    t = np.arange(0, 40, 1 / fs)
    rise = np.clip((t - 10.0) / 2.0, 0.0, 1.0)
    decay = np.where(t > 12.0, np.exp(-(t - 12.0) / 4.0), 1.0)
    scrs = detect_scrs(2.0 + 0.5 * rise * decay, fs)
    assert len(scrs) == 1
    assert scrs.amplitude_us[0] == pytest.approx(0.5, abs=0.03)
    # the 1 Hz low-pass rounds the ramp's corners, so the rise measures a little long
    assert scrs.rise_time_s[0] == pytest.approx(2.0, abs=0.5)
    # half recovery of an exponential: tau ln 2 = 2.77 s after the peak (the low-pass blurs it)
    assert scrs.half_recovery_time_s[0] == pytest.approx(4.0 * np.log(2.0), abs=0.4)


def test_tonic_level_and_rate() -> None:
    fs = 4.0
    eda = nk.eda_simulate(duration=60, sampling_rate=4, scr_number=2, drift=0.0, noise=0)
    assert 1.0 <= tonic_level_us(eda, fs) <= 2.0
    scrs = ScrSet(
        onset_idx=np.array([1, 5]),
        peak_idx=np.array([3, 8]),
        amplitude_us=np.array([0.2, 0.3]),
        rise_time_s=np.array([0.5, 0.75]),
        half_recovery_idx=np.array([4, -1]),
        half_recovery_time_s=np.array([0.25, np.nan]),
    )
    assert scr_rate_per_min(scrs, 30.0) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="positive"):
        scr_rate_per_min(scrs, 0.0)


def test_scr_kernel_matches_reference() -> None:
    rng = np.random.default_rng(5)
    slope = np.convolve(rng.normal(0.0, 0.05, 4000), np.ones(15) / 15, mode="same")
    for threshold in (0.0, 0.005, 0.01, 0.02):
        kernel, reference = _scr_kernel(slope, threshold), scr_reference(slope, threshold)
        assert kernel[0].size > 10
        np.testing.assert_array_equal(kernel[0], reference[0])
        np.testing.assert_array_equal(kernel[1], reference[1])


def test_refine_kernel_matches_reference() -> None:
    rng = np.random.default_rng(11)
    x = np.cumsum(rng.normal(0.0, 0.02, 3000))
    x[100:110] = x[100]  # a plateau: ties resolve to the first sample in both
    slope = np.convolve(np.gradient(x), np.ones(9) / 9, mode="same")
    onsets, peaks = _scr_kernel(slope, 0.001)
    assert onsets.size > 20
    for reach in (0, 2, 8):
        kernel_on, kernel_pk = onsets.copy(), peaks.copy()
        ref_on, ref_pk = onsets.copy(), peaks.copy()
        _refine_kernel(x, kernel_on, kernel_pk, reach)
        refine_reference(x, ref_on, ref_pk, reach)
        np.testing.assert_array_equal(kernel_on, ref_on)
        np.testing.assert_array_equal(kernel_pk, ref_pk)
        assert np.all(kernel_on <= kernel_pk)


@pytest.mark.parametrize("fs", [4.0, 8.0, 32.0])
def test_clean_eda_keeps_responses_and_removes_fast_noise(fs: float) -> None:
    t = np.arange(0, 60, 1 / fs)
    level = 2.0 + 0.5 * np.exp(-(((t - 30.0) / 2.0) ** 2))  # a 0.5 uS response, ~4 s wide
    noise = 0.05 * np.sin(2 * np.pi * 0.45 * fs * t)  # just under Nyquist: electrode noise
    cleaned = clean_eda(level + noise, fs)
    inner = slice(round(5 * fs), -round(5 * fs))  # away from the filter's edge transients
    assert np.max(np.abs(cleaned - level)[inner]) < 0.02
    assert np.max(cleaned) == pytest.approx(2.5, abs=0.02)
    slow = np.array([1.0, 1.2, 1.1, 1.3])
    np.testing.assert_array_equal(clean_eda(slow, 2.0), slow)  # nothing above 1 Hz to remove
