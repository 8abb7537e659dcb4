"""R-peak detection: MIT-BIH 100 against cardiologist labels, neurokit2 as a second opinion."""

from __future__ import annotations

import warnings
from pathlib import Path

import neurokit2 as nk
import numpy as np
import pytest

from dsp.ecg.peaks import (
    _decide_kernel,
    _local_peaks_kernel,
    decide_reference,
    detect_r_peaks,
    local_peaks_reference,
)
from ingest.importers.wfdb import read_annotations, read_record

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def _distance_to_nearest(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    j = np.clip(np.searchsorted(ref, x), 1, ref.size - 1)
    distance: np.ndarray = np.minimum(np.abs(ref[j] - x), np.abs(ref[j - 1] - x))
    return distance


def _agreement(ours: np.ndarray, ref: np.ndarray, tol: float) -> tuple[float, float]:
    """(share of reference beats we found, share of our beats the reference has), within tol."""
    found = float(np.mean(_distance_to_nearest(ref, ours) <= tol))
    confirmed = float(np.mean(_distance_to_nearest(ours, ref) <= tol))
    return found, confirmed


def _nk_peaks(ecg: np.ndarray, fs: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neurokit2 warns about pandas internals
        _, info = nk.ecg_peaks(ecg, sampling_rate=fs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _inner(peaks: np.ndarray, n: int, margin: int) -> np.ndarray:
    """Drop the first and last margin samples, where a beat may be cut in half."""
    return peaks[(peaks >= margin) & (peaks < n - margin)]


@pytest.mark.shared_data
@needs_shared
def test_mitdb_100_against_annotations() -> None:
    base = SHARED / "ecg" / "mitdb100" / "100"
    record = read_record(base)
    beats = read_annotations(base.with_suffix(".atr")).beats()
    peaks = detect_r_peaks(record.lead("MLII"), record.fs)
    sensitivity, ppv = _agreement(peaks, beats, 0.150 * record.fs)
    print(f"MIT-BIH 100 MLII: {beats.size} beats, {peaks.size} detections, Se={sensitivity:.4f}")
    print(f"MIT-BIH 100 MLII: +P={ppv:.4f}")
    assert sensitivity >= 0.995
    assert ppv >= 0.995
    # the refinement lands on the R wave, not just near it
    assert np.median(_distance_to_nearest(beats, peaks)) <= 0.010 * record.fs


@pytest.mark.shared_data
@needs_shared
def test_inverted_and_rescaled_record_gives_same_beats() -> None:
    record = read_record(SHARED / "ecg" / "mitdb100" / "100")
    ecg = record.lead("MLII")[: int(120 * record.fs)]
    upright = detect_r_peaks(ecg, record.fs)
    np.testing.assert_array_equal(detect_r_peaks(ecg * 1000.0, record.fs), upright)  # mV -> µV
    inverted = detect_r_peaks(-ecg, record.fs)
    found, confirmed = _agreement(inverted, upright, 0.150 * record.fs)
    assert found == confirmed == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("heart_rate", [55, 100, 150])
def test_simulated_130hz_strap_matches_neurokit(seed: int, heart_rate: int) -> None:
    fs = 130.0
    ecg = nk.ecg_simulate(
        duration=60, sampling_rate=int(fs), noise=0.1, heart_rate=heart_rate, random_state=seed
    )
    margin = int(0.5 * fs)
    ref = _inner(_nk_peaks(ecg, fs), ecg.size, margin)
    ours = _inner(detect_r_peaks(ecg * 1000.0, fs), ecg.size, margin)  # the strap sends µV
    found, confirmed = _agreement(ours, ref, 0.050 * fs)
    assert found >= 0.98
    assert confirmed >= 0.98


@pytest.mark.shared_data
@needs_shared
def test_neurokit_1000hz_recording_matches_neurokit() -> None:
    column = np.genfromtxt(SHARED / "ecg" / "neurokit" / "ecg_1000hz.csv", skip_header=1)
    fs = 1000.0
    margin = int(0.5 * fs)
    ref = _inner(_nk_peaks(column, fs), column.size, margin)
    ours = _inner(detect_r_peaks(column, fs), column.size, margin)
    found, confirmed = _agreement(ours, ref, 0.050 * fs)
    assert found >= 0.98
    assert confirmed >= 0.98


def test_output_contract_and_degenerate_input() -> None:
    fs = 250.0
    ecg = nk.ecg_simulate(duration=20, sampling_rate=int(fs), heart_rate=70, random_state=5)
    peaks = detect_r_peaks(ecg, fs)
    assert peaks.dtype == np.int64
    assert np.all(np.diff(peaks) > 0)
    assert 20 <= peaks.size <= 25
    assert detect_r_peaks(np.zeros(int(10 * fs)), fs).size == 0
    assert detect_r_peaks(np.zeros(10), fs).size == 0
    with pytest.raises(ValueError, match="NaN"):
        detect_r_peaks(np.full(1000, np.nan), fs)


def test_kernels_match_references() -> None:
    rng = np.random.default_rng(3)
    x = np.convolve(rng.standard_normal(3000) ** 2, np.ones(9) / 9, mode="same")
    x[100:103] = x[100]  # a plateau: only its first sample may count
    for half in (1, 5, 20):
        np.testing.assert_array_equal(_local_peaks_kernel(x, half), local_peaks_reference(x, half))
    idx = _local_peaks_kernel(x, 10)
    amp = x[idx]
    slope = rng.uniform(0.5, 1.5, idx.size)
    for refractory, t_wave, rr0 in [(20, 60, 80.0), (5, 10, 30.0), (40, 40, 200.0)]:
        for spki, npki in [(amp.max(), 0.0), (np.median(amp), np.median(x))]:
            kernel = _decide_kernel(idx, amp, slope, spki, npki, refractory, t_wave, rr0)
            reference = decide_reference(
                idx,
                amp,
                slope,
                spki0=spki,
                npki0=npki,
                refractory=refractory,
                t_wave=t_wave,
                rr0=rr0,
            )
            np.testing.assert_array_equal(kernel, reference)
