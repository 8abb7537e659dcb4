"""R-peaks found once per new stretch of ECG, never joined across a gap.

Re-detecting the whole 180 s look-back every 10 s hop did the same work ~18 times over. The
tracker instead runs dsp.ecg.detect_r_peaks (one kernel call: dsp.ecg_fused) on the new
samples plus OVERLAP_S of already-seen ECG before them (so the filters and Pan-Tompkins levels
have settled at the seam) and TAIL_S after (so filter edges do not move the last beats), and
keeps only the beats after the ones it already has. A beat near the seam that both runs find
(perhaps a sample apart) is kept once: a new beat must lie more than the detector's refractory
period after the last kept one.

Gaps: a marked gap (mark_gap) or a jump in sample times longer than both GAP_PERIODS nominal
periods and MIN_GAP_S (the rule of ingest.transport.gaps) splits the ECG into runs. Detection
never spans two runs, and an interval between beats on either side of a gap is no interval
(rr_valid is False for it). Within tests/vagus/test_pipeline_beats.py the beats equal those of
whole-record detection except within SEAM_TOLERANCE_S of a seam, where one may move by a sample
or two.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.ecg import detect_r_peaks
from vagus.pipeline_beat_kernels import accept_kernel, jump_steps_kernel
from vagus.pipeline_buffer import SampleSource

NS = 1_000_000_000
OVERLAP_S = 8.0
TAIL_S = 2.0
REFRACTORY_NS = 250_000_000  # dsp.ecg's refractory period
GAP_PERIODS = 3.0  # as ingest.transport.gaps (not imported: ingest's transport needs bleak)
MIN_GAP_S = 0.5
SEAM_TOLERANCE_S = 0.02

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


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
    limit = max(GAP_PERIODS / fs, MIN_GAP_S) * NS
    for i in jump_steps_kernel(times, limit).tolist():
        gaps.add(int(times[i]), int(times[i + 1]))


class BeatTracker:
    """Beat times (ns) of one ECG stream, extended as windows close."""

    def __init__(self, gaps: GapLog) -> None:
        self.gaps = gaps
        self.beats_ns: IntArray = np.zeros(0, dtype=np.int64)
        self.done_ns: int | None = None  # beats before this are final
        #: the latest sample time an update saw: a hole longer than OVERLAP_S never lies inside
        #: one update's samples, so the step from here to the next update's first is checked too
        self.seen_ns: int | None = None

    def update(self, buffer: SampleSource, fs: float, *, until_ns: int) -> None:
        """Make the beats before ``until_ns`` final (using TAIL_S of ECG after it if present)."""
        first_ns = buffer.first_ns
        if first_ns is None:
            return
        done = first_ns if self.done_ns is None else self.done_ns
        if until_ns <= done:
            return
        times, values = buffer.window(done - int(OVERLAP_S * NS), until_ns + int(TAIL_S * NS))
        if times.size == 0:
            self.done_ns = until_ns
            return
        if self.seen_ns is None:
            note_jumps(self.gaps, times, fs)
        else:
            note_jumps(self.gaps, np.concatenate(([self.seen_ns], times)), fs)
        self.seen_ns = int(times[-1]) if self.seen_ns is None else max(self.seen_ns, int(times[-1]))
        if self.gaps.starts.size == 0:  # the usual case: one run, no gap to split at
            if times[-1] >= done - REFRACTORY_NS and times[0] < until_ns:
                peaks = detect_r_peaks(values[:, 0], fs)
                self._accept(times[peaks], done, until_ns)
            self.done_ns = until_ns
            return
        breaks = np.flatnonzero(self.gaps.spans(times)) + 1
        found: list[IntArray] = []
        for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), times.size], strict=True):
            if times[hi - 1] < done - REFRACTORY_NS or times[lo] >= until_ns:
                continue  # a run wholly seen before, or wholly after this update
            peaks = detect_r_peaks(values[lo:hi, 0], fs)
            found.append(times[lo:hi][peaks])
        self._accept(np.concatenate(found) if found else self.beats_ns[:0], done, until_ns)
        self.done_ns = until_ns

    def _accept(self, candidates: IntArray, done: int, until_ns: int) -> None:
        """Keep the candidates in [done - refractory, until) after the last kept beat."""
        has_last = self.beats_ns.size > 0
        last = int(self.beats_ns[-1]) if has_last else 0
        kept = accept_kernel(
            candidates, done - REFRACTORY_NS, until_ns, last, has_last, REFRACTORY_NS
        )
        if kept.size:
            self.beats_ns = np.concatenate((self.beats_ns, kept))

    def between(self, start_ns: int, end_ns: int) -> tuple[IntArray, BoolArray]:
        """Beats in [start_ns, end_ns) and, per interval between them, whether it is real."""
        lo = int(np.searchsorted(self.beats_ns, start_ns, side="left"))
        hi = int(np.searchsorted(self.beats_ns, end_ns, side="left"))
        beats = self.beats_ns[lo:hi]
        return beats, ~self.gaps.spans(beats)

    def trim(self, before_ns: int) -> None:
        first = int(np.searchsorted(self.beats_ns, before_ns, side="left"))  # beats are sorted
        self.beats_ns = self.beats_ns[first:]
