"""StreamBuffer (dsp.streaming.buffer) behaves as the reference SampleBuffer, block for block."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dsp.streaming.buffer import StreamBuffer, bounds_kernel, order_check_kernel
from tests.reference.sample_buffer import SampleBuffer

T0 = 1_700_000_000 * 10**9
ops = st.lists(
    st.tuples(
        st.sampled_from(["add", "add", "add", "count", "window", "trim", "latest", "first"]),
        st.integers(0, 40),  # block length
        st.integers(-3, 3),  # block offset in blocks: negative arrives late
        st.integers(0, 2_000),  # query position (ms after T0)
        st.integers(0, 1_000),  # query length (ms)
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops=ops, channels=st.sampled_from([1, 3]))
def test_stream_buffer_equals_sample_buffer(
    ops: list[tuple[str, int, int, int, int]], channels: int
) -> None:
    ours, theirs = StreamBuffer(channels), SampleBuffer(channels)
    rng = np.random.default_rng(len(ops))
    clock = 0
    for op, length, offset, at_ms, span_ms in ops:
        lo, hi = T0 + at_ms * 10**6, T0 + (at_ms + span_ms) * 10**6
        if op == "add":
            start = max(clock + offset * 40, 0)
            times = T0 + (np.arange(start, start + length) * 10**6).astype(np.int64)
            block = rng.normal(size=(length, channels))
            values: np.ndarray = block.reshape(-1) if channels == 1 else block
            ours.extend(times, values)
            theirs.extend(times, values)
            clock = max(clock, start + length)
        elif op == "count":
            assert ours.count(lo, hi) == theirs.count(lo, hi)
        elif op == "window":
            (t1, v1), (t2, v2) = ours.window(lo, hi), theirs.window(lo, hi)
            np.testing.assert_array_equal(t1, t2)
            np.testing.assert_array_equal(v1, v2)
        elif op == "trim":
            ours.trim(lo)
            theirs.trim(lo)
        elif op == "latest":
            assert ours.latest_ns == theirs.latest_ns
        else:
            assert ours.first_ns == theirs.first_ns
        assert ours.total_samples == theirs.total_samples
    assert len(ours) == len(theirs)


@settings(max_examples=200, deadline=None)
@given(
    times=arrays(np.int64, st.integers(1, 200), elements=st.integers(-(10**12), 10**12)),
    a=st.integers(-(2**62), 2**62),
    b=st.integers(-(10**12), 10**12),
)
def test_bounds_equal_searchsorted(times: np.ndarray, a: int, b: int) -> None:
    ordered = np.sort(times)
    want = np.searchsorted(ordered, (a, b), side="left").tolist()
    assert list(bounds_kernel(ordered, a, b)) == want
    first = int(times.size // 3)
    ok, largest, longest = order_check_kernel(times, first, times.size)
    part = times[first:]
    steps = np.diff(part)
    assert ok == (not np.any(part[1:] < part[:-1]))
    assert largest == part.max()
    assert longest == max(steps[steps >= 0].max(initial=0), 0)


def test_bad_blocks_are_clear_errors() -> None:
    buffer = StreamBuffer(3)
    with pytest.raises(ValueError, match="values for 2 sample times"):
        buffer.extend(np.array([T0, T0 + 1]), np.zeros(5))
    with pytest.raises(ValueError, match="channels must be"):
        StreamBuffer(0)


def test_lists_and_other_dtypes_are_converted() -> None:
    """Blocks that are not already int64 / float64 arrays take np.asarray, as SampleBuffer."""
    ours, theirs = StreamBuffer(1), SampleBuffer(1)
    for buffer in (ours, theirs):
        buffer.extend(np.array([T0 + 2, T0 + 3], dtype=np.uint64), np.array([1, 2]))
        buffer.extend(np.array([T0 + 1]), np.array([0.5], dtype=np.float32))
    (t1, v1), (t2, v2) = ours.window(T0, T0 + 10), theirs.window(T0, T0 + 10)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(v1, v2)
    assert t1.dtype == np.int64 and v1.dtype == np.float64
    ours.extend([T0 + 4], [1.5])  # plain lists too
    assert ours.window(T0 + 4, T0 + 5)[1].tolist() == [[1.5]]
