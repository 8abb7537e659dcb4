"""Time-stamped sample buffers that windows are cut from.

Samples arrive in blocks (one notification each); windows are cut far less often. So blocks are
kept as they come and joined only when a window asks, and blocks older than the longest window
are dropped as time moves on.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

TimesNs = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]


class SampleBuffer:
    """Samples of one stream with their gateway times (ns), in arrival order."""

    def __init__(self, channels: int = 1) -> None:
        if channels < 1:
            raise ValueError("channels must be at least 1")
        self.channels = channels
        self._blocks: deque[tuple[TimesNs, Values]] = deque()
        self.latest_ns: int | None = None
        self.total_samples = 0

    def extend(self, times_ns: TimesNs, values: Values) -> None:
        shaped = np.asarray(values, dtype=np.float64).reshape(len(times_ns), self.channels)
        if len(times_ns) == 0:
            return
        self._blocks.append((np.asarray(times_ns, dtype=np.int64), shaped))
        last = int(times_ns[-1])
        self.latest_ns = last if self.latest_ns is None else max(self.latest_ns, last)
        self.total_samples += len(times_ns)

    def window(self, start_ns: int, end_ns: int) -> tuple[TimesNs, Values]:
        """Samples with ``start_ns <= t < end_ns``, sorted by time."""
        chosen = [(t, v) for t, v in self._blocks if len(t) and t[-1] >= start_ns and t[0] < end_ns]
        if not chosen:
            return np.empty(0, np.int64), np.empty((0, self.channels))
        times = np.concatenate([t for t, _ in chosen])
        values = np.concatenate([v for _, v in chosen])
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        keep = (times >= start_ns) & (times < end_ns)
        return times[keep], values[keep]

    def trim(self, before_ns: int) -> None:
        """Forget blocks that end before ``before_ns``."""
        while self._blocks and self._blocks[0][0][-1] < before_ns:
            self._blocks.popleft()
