"""The numba kernels added for speed against the plain formulations they replaced."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.ecg.peaks import (
    _energy_kernel,
    _window_argmax,
    block_means_kernel,
    block_means_reference,
    detect_r_peaks,
    energy_reference,
    refine_kernel,
    refine_reference,
    window_argmax_reference,
)
from dsp.filters.sos import (
    _checked_sos,
    butter_bandpass_sos,
    butter_highpass_sos,
    butter_lowpass_sos,
    sosfilt_zi,
    sosfiltfilt,
    zi_kernel,
)
from dsp.hrv.frequency import natural_cubic_spline
from ingest.importers.wfdb import read_record
from tests.reference.filters import sosfiltfilt_reference
from tests.reference.hrv import natural_cubic_spline_reference

FloatArray = npt.NDArray[np.float64]
MITDB = Path(__file__).parents[2] / ".." / "shared" / "data" / "ecg" / "mitdb100"
signals = arrays(np.float64, st.integers(60, 400), elements=st.floats(-1e3, 1e3))


@settings(max_examples=60, deadline=None)
@given(x=signals, width=st.integers(1, 54))
def test_energy_kernel_matches_gradient_and_convolve(x: FloatArray, width: int) -> None:
    slope, energy = _energy_kernel(x, width)
    ref_slope, ref_energy = energy_reference(x, width)
    np.testing.assert_allclose(slope, ref_slope, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(energy, ref_energy, rtol=1e-9, atol=1e-9 * (1 + ref_energy.max()))


@settings(max_examples=60, deadline=None)
@given(x=signals, half=st.integers(0, 30), data=st.data())
def test_window_argmax_kernel_matches_reference(
    x: FloatArray, half: int, data: st.DataObject
) -> None:
    centres = np.array(
        data.draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=20)), dtype=np.int64
    )
    np.testing.assert_array_equal(
        _window_argmax(x, centres, half), window_argmax_reference(x, centres, half)
    )


@pytest.mark.parametrize(
    "sos",
    [
        butter_bandpass_sos(5.0, 15.0, 130.0),
        butter_highpass_sos(0.5, 360.0),
        butter_lowpass_sos(1.0, 4.0, order=3),
        butter_bandpass_sos(0.01, 7.0, 25.0, order=4),
    ],
)
def test_fused_sosfiltfilt_matches_reference(sos: FloatArray) -> None:
    walk = np.random.default_rng(2).standard_normal(2000).cumsum()
    np.testing.assert_allclose(zi_kernel(_checked_sos(sos)), sosfilt_zi(sos), rtol=1e-9, atol=1e-12)
    for n in (2, 5, 40, 2000):
        np.testing.assert_allclose(
            sosfiltfilt(sos, walk[:n]), sosfiltfilt_reference(sos, walk[:n]), rtol=1e-9, atol=1e-9
        )


@settings(max_examples=60, deadline=None)
@given(
    steps=arrays(np.float64, st.integers(2, 60), elements=st.floats(0.3, 2.0)),
    seed=st.integers(0, 9),
)
def test_spline_kernel_matches_reference(steps: FloatArray, seed: int) -> None:
    t = np.cumsum(steps)
    y = np.random.default_rng(seed).normal(800.0, 50.0, t.size)
    grid = np.linspace(t[0], t[-1], 97)
    np.testing.assert_allclose(
        natural_cubic_spline(t, y, grid), natural_cubic_spline_reference(t, y, grid), rtol=1e-9
    )


@pytest.mark.shared_data
@pytest.mark.skipif(not MITDB.is_dir(), reason="../shared/data/ecg/mitdb100 is not present")
def test_multirate_detection_matches_full_rate_on_mitdb100() -> None:
    """At 360 Hz detection runs on 3-sample block means; the beats must be the full-rate ones."""
    record = read_record(MITDB / "100")
    ecg = record.lead("MLII")
    fast = detect_r_peaks(ecg, record.fs)
    full = detect_r_peaks(ecg, record.fs, full_rate=True)
    print(f"MIT-BIH 100: {fast.size} beats multi-rate, {full.size} full-rate")
    assert fast.size == full.size
    shift = np.abs(fast - full)
    print(f"shift: identical {np.mean(shift == 0):.2%}, max {shift.max()} samples")
    assert shift.max() <= 2  # 5.6 ms; placement is on the same R wave
    assert np.mean(shift == 0) >= 0.9


@settings(max_examples=60, deadline=None)
@given(x=signals, factor=st.integers(1, 8), half=st.integers(0, 25), data=st.data())
def test_block_means_and_refinement_match_references(
    x: FloatArray, factor: int, half: int, data: st.DataObject
) -> None:
    coarse = block_means_kernel(x, factor)
    np.testing.assert_allclose(coarse, block_means_reference(x, factor), rtol=1e-12, atol=1e-9)
    baseline = np.ascontiguousarray(coarse * 0.3 + np.linspace(-5.0, 5.0, coarse.size))
    centres = np.array(
        data.draw(st.lists(st.integers(0, x.size - 1), min_size=1, max_size=20)), dtype=np.int64
    )
    got = refine_kernel(x, baseline, factor, centres, half)
    want = refine_reference(x, baseline, factor, centres, half)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
