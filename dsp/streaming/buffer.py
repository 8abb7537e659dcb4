"""The pipeline's sample buffers: the contract of SampleBuffer (tests/reference/sample_buffer.py),
with blocks held until a window is cut and each window's bookkeeping in one kernel call.

The gateway receives ~13,600 notifications an hour (73 ECG samples, 1 s of EDA or ACC each)
but cuts a window only every hop. SampleBuffer.extend does its work on every notification,
and per window its order check, binary searches and trims are a dozen numpy calls per stream.
StreamBuffer holds the blocks (by reference: decoders build fresh arrays per notification and
never write to them afterwards), appends them as one array when a window needs them, checks
their order in one pass (sorting them in, stably, when they came out of order, as SampleBuffer
does) and finds window bounds with one kernel call. tests/dsp/test_streaming_buffer.py holds
it equal to SampleBuffer on shuffled, trimmed streams.
"""

from __future__ import annotations

import math
from typing import Protocol

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import lower_bound_in

TimesNs = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]
_MIN_CAPACITY = 1024
_INT64, _FLOAT64 = np.dtype(np.int64), np.dtype(np.float64)


class SampleSource(Protocol):
    """What windows are cut from: a StreamBuffer or the tests' reference SampleBuffer."""

    @property
    def first_ns(self) -> int | None: ...

    def count(self, start_ns: int, end_ns: int) -> int: ...

    def window(self, start_ns: int, end_ns: int) -> tuple[TimesNs, Values]: ...


@numba.njit(cache=True)
def order_check_kernel(times: TimesNs, first: int, end: int) -> tuple[bool, int, int]:
    """(times[first:end] non-decreasing, its largest value, its longest step between neighbours
    that are in order: 0 when there is none); first < end."""
    ordered = True
    largest = times[first]
    longest = 0
    for i in range(first + 1, end):
        if times[i] < times[i - 1]:
            ordered = False
        elif times[i] - times[i - 1] > longest:
            longest = times[i] - times[i - 1]
        largest = max(largest, times[i])
    return ordered, largest, longest


@numba.njit(cache=True)
def rows_between(
    times: TimesNs, first: int, end: int, start_ns: int, end_ns: int
) -> tuple[int, int]:
    """The rows [lo, hi) of sorted times[first:end] with start_ns <= t < end_ns."""
    lo = lower_bound_in(times, first, end, start_ns)
    return lo, lower_bound_in(times, lo, end, end_ns)


@numba.njit(cache=True)
def bounds_kernel(times: TimesNs, start_ns: int, end_ns: int) -> tuple[int, int]:
    """np.searchsorted(times, (start_ns, end_ns), side="left") of sorted times."""
    n = times.shape[0]
    return lower_bound_in(times, 0, n, start_ns), lower_bound_in(times, 0, n, end_ns)


class StreamBuffer:
    """Samples of one stream with their gateway times (ns); windows come out sorted by time."""

    def __init__(self, channels: int = 1) -> None:
        if channels < 1:
            raise ValueError("channels must be at least 1")
        self.channels = channels
        self._times: TimesNs = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._values: Values = np.empty((_MIN_CAPACITY, channels))
        self._start = 0  # live samples are [_start, _end)
        self._end = 0
        self._checked = 0  # [_start, _checked) is known sorted
        self._sorted = True
        self._latest: int | None = None
        self._pending_times: list[TimesNs] = []
        self._pending_values: list[Values] = []  # (n,) for one channel, else (n, channels)
        self._pending_n = 0
        self.total_samples = 0
        #: the longest step between neighbouring times checked since take_longest_step, and
        #: whether every such step was seen (not when a block came out of order, or the step
        #: into new rows was trimmed away)
        self._longest_step = 0
        self._steps_seen = True

    def __len__(self) -> int:
        return self._end - self._start + self._pending_n

    def extend(self, times_ns: npt.ArrayLike, values: npt.ArrayLike) -> None:
        """Hold one block (its shape is checked now, so bad input fails here)."""
        # np.asarray costs more than the rest of extend: skipped for the decoders' own arrays
        times: TimesNs = times_ns  # type: ignore[assignment]
        if type(times) is not np.ndarray or times.dtype is not _INT64:
            times = np.asarray(times_ns, dtype=_INT64)
        shaped: Values = values  # type: ignore[assignment]
        if type(shaped) is not np.ndarray or shaped.dtype is not _FLOAT64:
            shaped = np.asarray(values, dtype=_FLOAT64)
        n = times.size
        channels = self.channels
        if times.ndim != 1 or shaped.size != n * channels:
            raise ValueError(f"{shaped.size} values for {n} sample times of {channels} channel(s)")
        if n:
            self._pending_times.append(times)
            if channels == 1:
                if shaped.ndim != 1:
                    shaped = shaped.reshape(-1)
            elif shaped.ndim != 2 or shaped.shape[1] != channels:
                shaped = shaped.reshape(n, channels)
            self._pending_values.append(shaped)
            self._pending_n += n
            self.total_samples += n

    def _append_pending(self) -> None:
        """Copy the held blocks into the arrays, straight into their place (no joined copy)."""
        n = self._pending_n
        live = self._end - self._start
        if self._end + n > self._times.size:  # SampleBuffer._make_room's growth rule
            capacity = self._times.size
            while live + n > capacity // 2:
                capacity *= 2
            if capacity == self._times.size:
                new_times, new_values = self._times, self._values
            else:
                new_times = np.empty(capacity, dtype=np.int64)
                new_values = np.empty((capacity, self.channels))
            new_times[:live] = self._times[self._start : self._end]
            new_values[:live] = self._values[self._start : self._end]
            self._checked -= self._start
            self._times, self._values, self._start, self._end = new_times, new_values, 0, live
        end = self._end + n
        np.concatenate(self._pending_times, out=self._times[self._end : end])
        values = self._values[self._end : end]
        np.concatenate(self._pending_values, out=values[:, 0] if self.channels == 1 else values)
        self._pending_times.clear()
        self._pending_values.clear()
        self._pending_n = 0
        self._end = end

    def _settle(self) -> None:
        """Append the held blocks, check them once, and sort if any came out of order."""
        if self._pending_times:
            self._append_pending()
        if self._checked < self._end:
            boundary = self._checked > self._start  # include the boundary pair
            first = self._checked - 1 if boundary else self._start
            ordered, newest, longest = order_check_kernel(self._times, first, self._end)
            self._sorted = self._sorted and ordered
            if not ordered or not (boundary or self._latest is None):
                self._steps_seen = False
            elif longest > self._longest_step:
                self._longest_step = longest
            self._latest = newest if self._latest is None else max(self._latest, newest)
            self._checked = self._end
        if not self._sorted:
            live = slice(self._start, self._end)
            order = np.argsort(self._times[live], kind="stable")
            self._times[live] = self._times[live][order]
            self._values[live] = self._values[live][order]
            self._sorted = True

    @property
    def latest_ns(self) -> int | None:
        """The latest sample time ever added (trimmed samples included); None before any."""
        self._settle()
        return None if self._latest is None else int(self._latest)

    def take_longest_step(self) -> tuple[int | None, float]:
        """(latest_ns, the longest step between neighbouring sample times added since the last
        call, the step into them included; inf when not known: a block came out of order, or
        what they follow was trimmed). The engine's gap scan needs no pass of its own over
        samples whose longest step is within the jump limit: the order check made that pass."""
        self._settle()
        longest = float(self._longest_step) if self._steps_seen else math.inf
        self._longest_step, self._steps_seen = 0, True
        return None if self._latest is None else int(self._latest), longest

    @property
    def first_ns(self) -> int | None:
        """The earliest sample time still held; None when empty."""
        self._settle()
        return int(self._times[self._start]) if self._end > self._start else None

    def live(self) -> tuple[TimesNs, Values, int, int]:
        """(times, values, first, end): the held samples are rows [first, end) of the two
        arrays, sorted by time. For window kernels that cut several slices in one call; the
        arrays are the buffer's own and valid only until the next extend or trim."""
        self._settle()
        return self._times, self._values, self._start, self._end

    def count(self, start_ns: int, end_ns: int) -> int:
        """How many samples have ``start_ns <= t < end_ns`` (no copy)."""
        self._settle()
        lo, hi = bounds_kernel(self._times[self._start : self._end], start_ns, end_ns)
        return max(hi - lo, 0)

    def window(self, start_ns: int, end_ns: int) -> tuple[TimesNs, Values]:
        """Copies of the samples with ``start_ns <= t < end_ns``, sorted by time."""
        self._settle()
        lo, hi = bounds_kernel(self._times[self._start : self._end], start_ns, end_ns)
        lo, hi = self._start + lo, self._start + max(hi, lo)
        return self._times[lo:hi].copy(), self._values[lo:hi].copy()

    def times_between(self, start_ns: int, end_ns: int) -> TimesNs:
        """The sample times with ``start_ns <= t < end_ns``, sorted: a view of the buffer's own
        array, valid only until the next extend or trim (no copy, no values)."""
        self._settle()
        lo, hi = rows_between(self._times, self._start, self._end, start_ns, end_ns)
        return self._times[lo:hi]

    def trim(self, before_ns: int) -> None:
        """Forget samples older than ``before_ns``."""
        self._settle()
        self._start += bounds_kernel(self._times[self._start : self._end], before_ns, before_ns)[0]
        self._checked = max(self._checked, self._start)
