"""The trackers' glue kernels equal their plain twins (dsp.streaming.beat_kernels) and the
EDA run kernel equals its numpy glue (dsp.streaming.eda_kernels)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.filters import butter_lowpass_sos
from dsp.streaming.beat_kernels import (
    jump_steps_kernel,
    jump_steps_reference,
    jumps_in_rows_kernel,
    jumps_in_rows_reference,
)
from dsp.streaming.eda_kernels import eda_run_kernel, eda_run_reference

steps_ns = arrays(np.int64, st.integers(0, 300), elements=st.integers(1, 3_000_000_000))


@settings(max_examples=200, deadline=None)
@given(steps=steps_ns, limit=st.floats(1e6, 2e9))
def test_jump_steps_equal_reference(steps: np.ndarray, limit: float) -> None:
    times = 1_700_000_000 * 10**9 + np.cumsum(steps)
    np.testing.assert_array_equal(
        jump_steps_kernel(times, limit), jump_steps_reference(times, limit)
    )


@settings(max_examples=200, deadline=None)
@given(
    steps=steps_ns,
    rows=st.tuples(st.integers(0, 300), st.integers(0, 300)),
    bounds=st.tuples(st.integers(0, 4 * 10**11), st.integers(0, 4 * 10**11)),
    last=st.one_of(st.just(-(2**63)), st.integers(0, 10**11)),
    limit=st.floats(1e6, 2e9),
)
def test_jumps_in_rows_equal_reference(
    steps: np.ndarray,
    rows: tuple[int, int],
    bounds: tuple[int, int],
    last: int,
    limit: float,
) -> None:
    times = 10**9 + np.cumsum(steps)
    first, end = min(rows[0], times.size), min(max(rows), times.size)
    base = 0 if last == -(2**63) else 10**9
    start_ns, end_ns = base + min(bounds), base + max(bounds)
    got = jumps_in_rows_kernel(times, first, end, start_ns, end_ns, last, limit)
    want = jumps_in_rows_reference(times, first, end, start_ns, end_ns, last, limit)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[1] == want[1]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(0, 200), fs=st.sampled_from([4.0, 8.0, 32.0]))
def test_eda_run_equals_reference(seed: int, n: int, fs: float) -> None:
    rng = np.random.default_rng(seed)
    x = 4.0 + np.cumsum(rng.normal(0, 0.01, n))
    smooth, tonic = butter_lowpass_sos(1.0, fs, order=1), butter_lowpass_sos(0.05, fs, order=2)
    states = [rng.normal(0, 0.1, (s.shape[0], 2)) for s in (smooth, tonic)]
    copies = [z.copy() for z in states]
    ours = eda_run_kernel(x, 4.0, smooth, states[0], tonic, states[1])
    theirs = eda_run_reference(x, 4.0, smooth, copies[0], tonic, copies[1])
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_array_equal(states[0], copies[0])  # the carried states move alike
    np.testing.assert_array_equal(states[1], copies[1])
