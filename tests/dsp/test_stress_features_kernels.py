"""The fused feature kernels equal their numpy twins (the original definitions)."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.stress.features_eda import half_recovery_s
from dsp.stress.features_kernels import (
    acc_kernel,
    half_recovery_kernel,
    hrv_time_kernel,
    tonic_kernel,
)
from tests.reference.stress import acc_reference, hrv_time_reference, tonic_reference

_values = st.floats(300.0, 2000.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(0, 80), elements=_values), st.data())
def test_hrv_time_kernel_equals_reference(rr: np.ndarray, data: st.DataObject) -> None:
    keep = data.draw(arrays(np.bool_, rr.size))
    if rr.size:
        rr[data.draw(st.integers(0, rr.size - 1))] = np.nan  # a non-finite interval is skipped
    np.testing.assert_allclose(
        hrv_time_kernel(rr, keep), hrv_time_reference(rr, keep), rtol=1e-9, atol=1e-9
    )


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=st.floats(0.5, 20.0)), st.data())
def test_tonic_kernel_equals_reference(tonic: np.ndarray, data: st.DataObject) -> None:
    smoothed = data.draw(arrays(np.float64, tonic.size, elements=st.floats(0.5, 20.0)))
    fs = data.draw(st.sampled_from([4.0, 8.0, 32.0]))
    # Moments of a (nearly) flat trace are undefined and hang on rounding in either twin.
    assume(np.ptp(smoothed) > 1e-6)
    np.testing.assert_allclose(
        tonic_kernel(tonic, smoothed, fs), tonic_reference(tonic, smoothed, fs), rtol=1e-7,
        atol=1e-9,
    )  # fmt: skip


def test_tonic_kernel_flat_trace_has_no_moments() -> None:
    out = tonic_kernel(np.ones(10), np.ones(10), 4.0)
    assert np.isnan(out[8:]).all() and out[7] == 0.0


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 200), st.just(3)), elements=st.floats(-200, 200))
)
def test_acc_kernel_equals_reference(e4: np.ndarray) -> None:
    np.testing.assert_allclose(acc_kernel(e4), acc_reference(e4), rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(4, 100), elements=st.floats(0.0, 1.0)), st.data())
def test_half_recovery_kernel_equals_reference(phasic: np.ndarray, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(0, phasic.size - 1), min_size=2, max_size=10)))
    onsets = np.asarray(cuts[0::2][: len(cuts) // 2], dtype=np.int64)
    peaks = np.asarray(cuts[1::2][: len(cuts) // 2], dtype=np.int64)
    np.testing.assert_array_equal(
        half_recovery_kernel(phasic, peaks, onsets), half_recovery_s(phasic, peaks, onsets)
    )
