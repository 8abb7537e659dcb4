"""Gaps: the one rule that finds them in sample times, the typed value that carries one, and
the log a stream's stages consult.

A step between consecutive sample times longer than both GAP_PERIODS nominal sample periods and
MIN_GAP_S is a gap. Shorter steps are the clock aligner correcting its offset (it follows the
smallest recent transport delay), not lost data: one lost Polar ECG frame (73 samples, 0.56 s)
is still a gap, and so is one lost 8-sample EDA frame. A stream without a nominal rate has no
jump rule (its samples come when the device has something to say: a strap's heart rate, its RR
intervals); only a lost link marks its gaps. The engine applies the rule once, to every sample
a stage holds, before a window closes; live, replay, the dry run and `vagus record` all go
through an engine, so every path counts the same gaps. A gap is reported, never stitched: no
beat interval, RR or EDA filter spans one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from dsp.streaming.beat_kernels import jump_steps_kernel

NS = 1_000_000_000
GAP_PERIODS = 3.0
MIN_GAP_S = 0.5
#: ``stream`` of a gap that covers every stream of a device (a link lost before any data)
LINK = "link"
GapReason = Literal["disconnected", "sample_time_jump"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def jump_limit_ns(rate_hz: float) -> float:
    """The longest step between consecutive samples (ns) at ``rate_hz`` that is not a gap."""
    return max(GAP_PERIODS / rate_hz, MIN_GAP_S) * NS


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing data of one stream (or of a device's link: ``stream == LINK``) between two
    instants on the gateway's timeline (ns)."""

    stream: str
    start_ns: int
    end_ns: int
    reason: GapReason

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise ValueError(f"a gap must end after it starts ({self.start_ns} >= {self.end_ns})")


class GapLog:
    """Sorted, merged gaps [start_ns, end_ns] of one stream: marked ones and detected jumps."""

    def __init__(self) -> None:
        self.starts: IntArray = np.zeros(0, dtype=np.int64)
        self.ends: IntArray = np.zeros(0, dtype=np.int64)

    def add(self, start_ns: int, end_ns: int) -> None:
        if end_ns <= start_ns:
            raise ValueError(f"a gap must end after it starts ({start_ns} >= {end_ns})")
        starts = np.append(self.starts, start_ns)
        ends = np.append(self.ends, end_ns)
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
        merged_s, merged_e = [int(starts[0])], [int(ends[0])]
        for s, e in zip(starts[1:].tolist(), ends[1:].tolist(), strict=True):
            if s <= merged_e[-1]:
                merged_e[-1] = max(merged_e[-1], e)
            else:
                merged_s.append(s)
                merged_e.append(e)
        self.starts = np.asarray(merged_s, dtype=np.int64)
        self.ends = np.asarray(merged_e, dtype=np.int64)

    def spans(self, times_ns: IntArray) -> BoolArray:
        """For each step times[i] -> times[i + 1]: does it overlap a gap?"""
        if self.starts.size == 0 or times_ns.size < 2:
            return np.zeros(max(times_ns.size - 1, 0), dtype=np.bool_)
        # the last gap starting before the step's end; it spans the step if it ends after its start
        k = np.searchsorted(self.starts, times_ns[1:], side="left") - 1
        ok = k >= 0
        result = np.zeros(times_ns.size - 1, dtype=np.bool_)
        result[ok] = self.ends[k[ok]] > times_ns[:-1][ok]
        return result

    def overlap_ns(self, start_ns: int, end_ns: int) -> int:
        """How much of [start_ns, end_ns) the gaps cover."""
        if self.starts.size == 0:
            return 0
        lo = np.maximum(self.starts, start_ns)
        hi = np.minimum(self.ends, end_ns)
        return int(np.sum(np.maximum(hi - lo, 0)))

    def trim(self, before_ns: int) -> None:
        if self.starts.size == 0:  # the usual case: nothing to trim
            return
        keep = self.ends >= before_ns
        self.starts, self.ends = self.starts[keep], self.ends[keep]


def note_jumps(gaps: GapLog, times: IntArray, fs: float) -> None:
    """Log every step between consecutive sample times long enough to be a gap."""
    limit = jump_limit_ns(fs)
    for i in jump_steps_kernel(times, limit).tolist():
        gaps.add(int(times[i]), int(times[i + 1]))
