"""SampleBuffer against a naive model: every sample kept, stably sorted, filtered per window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.reference.sample_buffer import SampleBuffer

blocks = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(1, 40), st.booleans()), min_size=1, max_size=60
)


@settings(max_examples=80, deadline=None)
@given(
    spec=blocks,
    cuts=st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 3000)), min_size=1, max_size=8),
)
def test_windows_match_a_naive_model(
    spec: list[tuple[int, int, bool]], cuts: list[tuple[int, int]]
) -> None:
    buffer = SampleBuffer(channels=2)
    model_t: list[int] = []
    model_v: list[list[float]] = []
    for serial, (first, count, shuffled) in enumerate(spec):
        times = first + np.arange(count, dtype=np.int64) * 3
        if shuffled:
            times = times[::-1].copy()  # a block whose samples are out of order
        values = np.column_stack([times * 1.0, np.full(count, float(serial))])
        buffer.extend(times, values)
        model_t += times.tolist()
        model_v += values.tolist()
        start, length = cuts[serial % len(cuts)]
        got_t, got_v = buffer.window(start, start + length)
        order = np.argsort(np.asarray(model_t), kind="stable")
        mt, mv = np.asarray(model_t)[order], np.asarray(model_v).reshape(-1, 2)[order]
        inside = (mt >= start) & (mt < start + length)
        np.testing.assert_array_equal(got_t, mt[inside])
        np.testing.assert_array_equal(got_v, mv[inside])
    assert buffer.total_samples == len(model_t)
    assert buffer.latest_ns == max(model_t)


def test_trim_forgets_old_samples_and_windows_are_copies() -> None:
    buffer = SampleBuffer()
    for k in range(2000):  # enough to force growth and compaction
        buffer.extend(np.array([2 * k, 2 * k + 1]), np.array([k, k + 0.5]))
        if k % 100 == 99:
            buffer.trim(2 * k - 400)
    assert len(buffer) == 402  # the last trim kept times 3598..3999
    times, values = buffer.window(0, 10**9)
    assert times[0] == 3598 and times[-1] == 3999
    values[:] = -1.0  # mutating a window must not touch the buffer
    assert buffer.window(3998, 4000)[1][:, 0].tolist() == [1999.0, 1999.5]
    empty_t, empty_v = buffer.window(10, 20)
    assert empty_t.shape == (0,) and empty_v.shape == (0, 1)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="channels"):
        SampleBuffer(0)
    with pytest.raises(ValueError, match="reshape"):
        SampleBuffer(3).extend(np.array([1, 2]), np.array([1.0, 2.0]))
