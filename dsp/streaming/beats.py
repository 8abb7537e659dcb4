"""R-peaks found once per new stretch of ECG, never joined across a gap.

Re-detecting the whole 180 s look-back every 10 s hop would do the same work ~18 times over. The
tracker instead runs dsp.ecg.stream.detect_step on the new samples plus OVERLAP_S of already-
seen ECG before them (so the filters have settled and search-back can look back) and TAIL_S
after (so filter edges do not move the decisions), carrying the detector's state between runs:
the Pan-Tompkins decisions resume where the last run stopped, so the beats equal whole-record
detection's (levels started afresh per run lose beats at exercise rates: dsp.ecg.stream). A
window closing at t
has the decisions up to t + DECIDE_AHEAD_S and the beats placed up to t + PLACE_AHEAD_NS; a beat
that search-back finds later, and the first INITIAL_S + TAIL_S of ECG after a gap (its initial
levels need them), arrive with the next window. tests/dsp/test_streaming_equals_batch*.py hold
the beats equal, and these differences bounded, on hard synthetic ECG and every shared recording.

Gaps: the log (``gaps``) splits the ECG into runs. The engine fills it, marked gaps and jumps
in sample times (dsp.streaming.gaps' one rule, on every sample held) before a window closes;
the tracker never scans for itself, so a caller without the engine logs the jumps first
(dsp.streaming.gaps.note_jumps). Detection never spans two runs (each gap-free stretch starts
afresh, as whole-record detection of it does), and an interval between beats on either side of
a gap is no interval (rr_valid is False for it).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.ecg.params import INITIAL_S, detection_factor
from dsp.ecg.stream import DECIDED_NS, EDGE_S, GRID_NS, STARTED, detect_step, new_state
from dsp.streaming.buffer import SampleSource
from dsp.streaming.gaps import GapLog

NS = 1_000_000_000
OVERLAP_S = 8.0
TAIL_S = 2.0
REFRACTORY_NS = 250_000_000  # dsp.ecg's refractory period
SEAM_TOLERANCE_S = 0.0
#: a window closing at t counts the beats that search-back triggered up to this long after t
#: finds (it needs TAIL_S - EDGE_S >= this of ECG after t; the pipeline has 8.4 s)
DECIDE_AHEAD_S = 1.0
EDGE_NS = int(EDGE_S * NS)
#: marks this far after a window's end are placed too: a QRS whose energy peaks just after the
#: end can have its R wave just before it (placement moves a beat by up to 125 ms)
PLACE_AHEAD_NS = 250_000_000

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class BeatTracker:
    """Beat times (ns) of one ECG stream, extended as windows close.

    The detector's state travels from update to update (dsp.ecg.stream): Pan-Tompkins levels,
    RR history, last QRS, the marks decided but not yet placed, and where the next run starts
    reading (``load_ns``: the last run's first sample, on the detector's block grid)."""

    def __init__(self, gaps: GapLog) -> None:
        self.gaps = gaps
        self.beats_ns: IntArray = np.zeros(0, dtype=np.int64)
        self.done_ns: int | None = None  # beats before this are final (see DECIDE_AHEAD_S)
        #: the latest sample time an update saw: a hole longer than OVERLAP_S never lies inside
        #: one update's samples, so the step from here to the next update's first is checked too
        self.seen_ns: int | None = None
        self.detector = new_state()
        self.pending: IntArray = np.zeros(0, dtype=np.int64)
        self.load_ns: int | None = None

    @property
    def started(self) -> bool:
        return bool(self.detector[1][STARTED])

    def update(self, buffer: SampleSource, fs: float, *, until_ns: int) -> None:
        """Make the beats before ``until_ns`` final (using TAIL_S of ECG after it if present)."""
        first_ns = buffer.first_ns
        if first_ns is None:
            return
        done = first_ns if self.done_ns is None else self.done_ns
        if until_ns <= done:
            return
        times, values = buffer.window(
            first_ns if self.load_ns is None else self.load_ns, until_ns + int(TAIL_S * NS)
        )
        if times.size == 0:
            self.done_ns = until_ns
            return
        self.seen_ns = int(times[-1]) if self.seen_ns is None else max(self.seen_ns, int(times[-1]))
        breaks: list[int] = []
        if self.gaps.starts.size:
            breaks = (np.flatnonzero(self.gaps.spans(times)) + 1).tolist()
        bounds = zip([0, *breaks], [*breaks, times.size], strict=True)
        for number, (lo, hi) in enumerate(bounds):
            if not self._segment(times, values, fs, number, int(lo), int(hi), until_ns):
                break
        self.done_ns = until_ns

    def _segment(  # noqa: PLR0917 - one gap-free run of the update's samples
        self,
        times: IntArray,
        values: npt.NDArray[np.float64],
        fs: float,
        number: int,
        lo: int,
        hi: int,
        until_ns: int,
    ) -> bool:
        """Detect on times[lo:hi]; False when the rest of the update must wait for more ECG."""
        gap_after = hi < times.size
        to_end = gap_after or until_ns > times[-1]
        if self.started and number == 0:  # the stream the state belongs to: resume it
            factor = detection_factor(fs, full_rate=False)
            first = int(np.searchsorted(times, self.detector[1][DECIDED_NS] - int(OVERLAP_S * NS)))
            lo = min(lo + -(-(first - lo) // factor) * factor, hi)  # stays on the block grid
        else:
            fresh_span = int(times[hi - 1] - times[lo])
            if not to_end and fresh_span < (INITIAL_S + TAIL_S) * NS:
                self._restart(int(times[lo]))  # its initial levels need INITIAL_S of ECG
                return False
            self._restart(int(times[lo]))
            if hi - lo < int(fs):  # dsp.ecg finds nothing in less than a second
                return True
        if hi - lo < 2:
            return True
        decide_before = min(until_ns + int(DECIDE_AHEAD_S * NS), int(times[hi - 1]) - EDGE_NS)
        levels, marks = self.detector
        beats, (levels, marks, self.pending) = detect_step(
            values[lo:hi, 0],
            np.ascontiguousarray(times[lo:hi]),
            fs,
            (levels, marks, self.pending),
            decide_before=decide_before,
            place_before=min(until_ns + PLACE_AHEAD_NS, decide_before),
            to_end=to_end,
        )
        self.detector = (levels, marks)
        self.load_ns = int(marks[GRID_NS])
        self._add(beats)
        if gap_after:  # the next segment starts afresh, as whole-record detection of it does
            self._restart(int(times[hi]))
        return True

    def _restart(self, load_ns: int) -> None:
        self.detector = new_state()
        self.pending = np.zeros(0, dtype=np.int64)
        self.load_ns = load_ns

    def _add(self, beats: IntArray) -> None:
        """Merge newly placed beats (a search-back beat may land before the last kept one)."""
        if beats.size == 0:
            return
        if self.beats_ns.size == 0 or beats[0] > self.beats_ns[-1]:
            self.beats_ns = np.concatenate((self.beats_ns, beats))
        else:
            self.beats_ns = np.unique(np.concatenate((self.beats_ns, beats)))

    def between(self, start_ns: int, end_ns: int) -> tuple[IntArray, BoolArray]:
        """Beats in [start_ns, end_ns) and, per interval between them, whether it is real."""
        lo = int(np.searchsorted(self.beats_ns, start_ns, side="left"))
        hi = int(np.searchsorted(self.beats_ns, end_ns, side="left"))
        beats = self.beats_ns[lo:hi]
        return beats, ~self.gaps.spans(beats)

    def trim(self, before_ns: int) -> None:
        first = int(np.searchsorted(self.beats_ns, before_ns, side="left"))  # beats are sorted
        self.beats_ns = self.beats_ns[first:]
