"""RR intervals, artefact rejection and time-domain HRV against neurokit2's hrv_time."""

from __future__ import annotations

import math
import warnings

import neurokit2 as nk
import numpy as np
import pytest

from dsp.ecg import detect_r_peaks
from dsp.hrv.intervals import clean_rr, neighbour_median_kernel, rr_intervals_ms, time_domain
from tests.reference.hrv import neighbour_median_reference


def test_rr_intervals_ms() -> None:
    np.testing.assert_allclose(rr_intervals_ms([0, 130, 273], 130.0), [1000.0, 1100.0])
    assert rr_intervals_ms([5], 100.0).size == 0
    with pytest.raises(ValueError, match="positive"):
        rr_intervals_ms([0, 1], 0.0)


@pytest.mark.parametrize(("seed", "heart_rate"), [(0, 60), (1, 75), (2, 90)])
def test_time_domain_matches_neurokit(seed: int, heart_rate: int) -> None:
    fs = 250
    ecg = nk.ecg_simulate(
        duration=180, sampling_rate=fs, heart_rate=heart_rate, heart_rate_std=6, random_state=seed
    )
    peaks = detect_r_peaks(ecg, fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # neurokit2 warns about short recordings and pandas
        ref = nk.hrv_time(peaks, sampling_rate=fs).iloc[0]
    hrv = time_domain(rr_intervals_ms(peaks, fs))
    assert hrv.n_intervals == peaks.size - 1
    np.testing.assert_allclose(hrv.mean_nn_ms, ref["HRV_MeanNN"], rtol=1e-9)
    np.testing.assert_allclose(hrv.sdnn_ms, ref["HRV_SDNN"], rtol=1e-9)
    np.testing.assert_allclose(hrv.rmssd_ms, ref["HRV_RMSSD"], rtol=1e-9)
    np.testing.assert_allclose(hrv.sdsd_ms, ref["HRV_SDSD"], rtol=1e-9)
    # neurokit2 divides NN50 by the number of differences + 1; we divide by the number of them
    n_diff = hrv.n_intervals - 1
    np.testing.assert_allclose(hrv.pnn50_pct * n_diff / (n_diff + 1), ref["HRV_pNN50"], rtol=1e-9)
    np.testing.assert_allclose(hrv.mean_hr_bpm, 60000.0 / ref["HRV_MeanNN"], rtol=1e-9)


def test_clean_rr_rejects_range_and_ectopic_beats() -> None:
    rr = np.full(40, 800.0)
    rr[5] = 250.0  # below min_ms
    rr[10] = 2500.0  # above max_ms
    rr[20] = 500.0  # premature beat ...
    rr[21] = 1100.0  # ... and its compensatory pause
    rr[30] = 900.0  # 12.5 % slower: normal variability
    keep = clean_rr(rr)
    assert keep.dtype == np.bool_
    assert np.flatnonzero(~keep).tolist() == [5, 10, 20, 21]
    assert clean_rr(rr, max_relative_change=0.5).sum() == 38
    assert clean_rr(np.array([800.0])).tolist() == [True]  # no neighbours: range only
    assert clean_rr(np.array([np.nan, 800.0])).tolist() == [False, True]


def test_successive_differences_skip_rejected_intervals() -> None:
    rr = np.array([800.0, 810.0, 1900.0, 820.0, 860.0, 850.0])
    keep = np.array([True, True, False, True, True, True])
    hrv = time_domain(rr, keep)
    diffs = np.array([10.0, 40.0, -10.0])  # 810 -> 820 spans the rejected beat: not a difference
    assert hrv.n_intervals == 5
    np.testing.assert_allclose(hrv.rmssd_ms, math.sqrt(np.mean(diffs**2)))
    np.testing.assert_allclose(hrv.sdsd_ms, diffs.std(ddof=1))
    np.testing.assert_allclose(hrv.sdnn_ms, rr[keep].std(ddof=1))
    assert hrv.pnn50_pct == 0.0


def test_too_few_intervals_give_nan() -> None:
    hrv = time_domain([800.0, 810.0])
    assert hrv.n_intervals == 2
    assert math.isnan(hrv.sdnn_ms)
    assert math.isnan(hrv.mean_hr_bpm)
    with pytest.raises(ValueError, match="same shape"):
        time_domain([800.0, 810.0, 820.0], [True, False])


def test_neighbour_median_kernel_matches_reference() -> None:
    rng = np.random.default_rng(11)
    rr = rng.normal(800.0, 60.0, 300)
    valid = rng.uniform(size=300) > 0.2
    valid[100:115] = False  # a stretch with no valid neighbours gives NaN
    tied = np.round(rr / 50.0) * 50.0  # many equal values: one copy of itself is left out
    for values in (rr, tied):
        for half in (0, 1, 3, 5, 45):
            np.testing.assert_array_equal(
                neighbour_median_kernel(values, valid, half),
                neighbour_median_reference(values, valid, half),
            )
