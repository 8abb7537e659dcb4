"""Per-window glue of the beat and EDA trackers as numba kernels, each next to its plain twin.

Every window the engine looks for jumps in the new samples' times of every stream
(dsp.streaming.gaps' rule); as numpy (a diff, a compare, a flatnonzero over ~2,600 ECG times)
the calls cost more than the arithmetic. tests/dsp/test_streaming_beat_kernels.py holds each
kernel equal to its twin.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import lower_bound_in

IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True)
def jump_steps_kernel(times: IntArray, limit_ns: float) -> IntArray:
    """Indices i whose step times[i] -> times[i + 1] is longer than limit_ns."""
    out = np.empty(max(times.shape[0] - 1, 0), dtype=np.int64)
    count = 0
    for i in range(times.shape[0] - 1):
        if times[i + 1] - times[i] > limit_ns:
            out[count] = i
            count += 1
    return out[:count]


def jump_steps_reference(times: IntArray, limit_ns: float) -> IntArray:
    """numpy twin of jump_steps_kernel (the rule as numpy: diff, compare, flatnonzero)."""
    return np.flatnonzero(np.diff(times) > limit_ns).astype(np.int64)


@numba.njit(cache=True)
def jumps_in_rows_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    times: IntArray, first: int, end: int, start_ns: int, end_ns: int, last_ns: int, limit: float
) -> tuple[IntArray, int]:
    """The engine's gap scan in one call on a buffer's sorted rows [first, end): the steps
    longer than ``limit`` among the samples with start_ns <= t < end_ns and the step into them
    from ``last_ns`` (skipped when last_ns is the smallest int64), as flat (start, end) pairs,
    and the last sample time scanned (``last_ns`` when there was none)."""
    lo = lower_bound_in(times, first, end, start_ns)
    hi = lower_bound_in(times, lo, end, end_ns)
    out = np.empty(2 * (hi - lo), dtype=np.int64)
    count = 0
    previous = last_ns
    for i in range(lo, hi):
        if previous != -(2**63) and times[i] - previous > limit:
            out[count] = previous
            out[count + 1] = times[i]
            count += 2
        previous = times[i]
    return out[:count], previous


def jumps_in_rows_reference(  # noqa: PLR0917 - the kernel's arguments
    times: IntArray, first: int, end: int, start_ns: int, end_ns: int, last_ns: int, limit: float
) -> tuple[IntArray, int]:
    """numpy twin of jumps_in_rows_kernel."""
    rows = times[first:end]
    window = rows[(rows >= start_ns) & (rows < end_ns)]
    if window.size == 0:
        return np.zeros(0, dtype=np.int64), last_ns
    joined = window if last_ns == -(2**63) else np.concatenate(([last_ns], window))
    steps = np.flatnonzero(np.diff(joined) > limit)
    pairs = np.column_stack((joined[steps], joined[steps + 1])).reshape(-1)
    return pairs.astype(np.int64), int(window[-1])
