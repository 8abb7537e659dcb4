"""aligned_traces (one kernel) cuts the window's traces as aligned_traces_reference does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.streaming.eda_kernels import aligned_traces, aligned_traces_reference


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 100_000),
    st.integers(0, 400),
    st.integers(0, 450),
    st.integers(0, 450),
    st.sampled_from([0, 1, 26, 51]),
)
def test_kernel_equals_reference(seed: int, n: int, lo: int, length: int, shift: int) -> None:
    rng = np.random.default_rng(seed)
    smoothed = 4.0 + np.cumsum(rng.normal(0, 0.01, n))
    tonic = smoothed - 0.05
    lo = min(lo, n)
    last = lo + length
    ours = aligned_traces(smoothed, tonic, 4.0, lo, last, shift)
    theirs = aligned_traces_reference(smoothed, tonic, 4.0, lo, last, shift)
    assert (ours is None) == (theirs is None)
    if ours is not None and theirs is not None:
        np.testing.assert_array_equal(ours.smoothed_us, theirs.smoothed_us)
        np.testing.assert_array_equal(ours.tonic_us, theirs.tonic_us)
        np.testing.assert_array_equal(ours.phasic_us_per_s, theirs.phasic_us_per_s)
