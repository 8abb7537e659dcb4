"""Time-stamped sample buffers that windows are cut from.

Samples arrive in small blocks (one notification each: 73 ECG samples, 1 s of EDA) and windows
of up to a few minutes are cut every few seconds, so the buffer keeps one contiguous, time-sorted
array per stream: appending copies a block once, a window is two binary searches and one copy,
and trimming moves a start offset. (Joining a list of ~300 blocks per window cost more than all
of the ECG processing.) Blocks that arrive out of time order are sorted in, stably, when a window
is next cut.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

TimesNs = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]
_MIN_CAPACITY = 1024


class SampleBuffer:
    """Samples of one stream with their gateway times (ns); windows come out sorted by time."""

    def __init__(self, channels: int = 1) -> None:
        if channels < 1:
            raise ValueError("channels must be at least 1")
        self.channels = channels
        self._times: TimesNs = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._values: Values = np.empty((_MIN_CAPACITY, channels))
        self._start = 0  # live samples are [_start, _end)
        self._end = 0
        self._checked = 0  # [_start, _checked) is known sorted; checks wait until a window is cut
        self._sorted = True
        self._latest: int | None = None
        self.total_samples = 0

    def __len__(self) -> int:
        return self._end - self._start

    def _make_room(self, extra: int) -> None:
        live = self._end - self._start
        if self._end + extra <= self._times.size:
            return
        capacity = self._times.size
        while live + extra > capacity // 2:  # keep at least half free after compaction
            capacity *= 2
        if capacity == self._times.size:  # enough room: move the live samples to the front
            times, values = self._times, self._values
        else:
            times = np.empty(capacity, dtype=np.int64)
            values = np.empty((capacity, self.channels))
        times[:live] = self._times[self._start : self._end]
        values[:live] = self._values[self._start : self._end]
        self._checked -= self._start
        self._times, self._values, self._start, self._end = times, values, 0, live

    def extend(self, times_ns: TimesNs, values: Values) -> None:
        times = np.asarray(times_ns, dtype=np.int64)
        shaped = np.asarray(values, dtype=np.float64).reshape(len(times), self.channels)
        n = len(times)
        if n == 0:
            return
        self._make_room(n)
        self._times[self._end : self._end + n] = times
        self._values[self._end : self._end + n] = shaped
        self._end += n
        self.total_samples += n

    def _settle(self) -> None:
        """Check the samples added since the last window once, and sort if any came out of order."""
        if self._checked < self._end:
            first = max(self._checked - 1, self._start)  # include the boundary pair
            new = self._times[first : self._end]
            if np.any(new[1:] < new[:-1]):
                self._sorted = False
            newest = int(new.max())
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
        return self._latest

    @property
    def first_ns(self) -> int | None:
        """The earliest sample time still held; None when empty."""
        self._settle()
        return int(self._times[self._start]) if self._end > self._start else None

    def count(self, start_ns: int, end_ns: int) -> int:
        """How many samples have ``start_ns <= t < end_ns`` (no copy)."""
        self._settle()
        times = self._times[self._start : self._end]
        lo, hi = np.searchsorted(times, (start_ns, end_ns), side="left").tolist()
        return max(int(hi) - int(lo), 0)

    def window(self, start_ns: int, end_ns: int) -> tuple[TimesNs, Values]:
        """Copies of the samples with ``start_ns <= t < end_ns``, sorted by time."""
        self._settle()
        times = self._times[self._start : self._end]
        lo = int(np.searchsorted(times, start_ns, side="left"))
        hi = int(np.searchsorted(times, end_ns, side="left"))
        first = self._start + lo
        return times[lo:hi].copy(), self._values[first : first + max(hi - lo, 0)].copy()

    def trim(self, before_ns: int) -> None:
        """Forget samples older than ``before_ns``."""
        self._settle()
        times = self._times[self._start : self._end]
        self._start += int(np.searchsorted(times, before_ns, side="left"))
        self._checked = max(self._checked, self._start)
