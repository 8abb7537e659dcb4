"""The stress model's EDA traces, filtered once per sample instead of once per window.

The training script ran its causal filters (dsp.stress.features_eda, steps 1-2) over a whole
recording. Re-running them over each window's 186 s of history would repeat that work every
hop and restart them in steady state every window; here they run once over each new sample,
carrying the filter state, so every window sees the same continuous traces the training CSV
was cut from (both filters in one kernel call: dsp.streaming.eda_kernels.eda_run_kernel).
After a gap in the log (marked, or a jump in sample times: the engine logs both before a
window closes; the tracker never scans for itself) the filters restart in steady state on the
first sample after it: data on either side is never joined.

Per window only the aligned slices are cut, and SCRs are searched on the phasic trace from
SCR_LOOKBACK_S before the window (onsets of responses peaking in the window lie well within
30 s, and the 1 Hz zero-phase clean inside detect_scrs
settles within a few samples). Past the window's end the phasic trace is zero-padded by the
alignment shift exactly as eda_traces does.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from dsp.filters import butter_lowpass_sos
from dsp.streaming.beats import NS
from dsp.streaming.buffer import SampleSource
from dsp.streaming.eda_kernels import aligned_traces, eda_run_kernel
from dsp.streaming.gaps import GapLog
from dsp.stress.features_eda import ALIGN_S, SMOOTH_HZ, TONIC_HZ, eda_features

SCR_LOOKBACK_S = 30.0
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class EdaTraceTracker:
    """Smoothed and tonic traces of one EDA stream, extended sample by sample."""

    def __init__(self, fs: float, gaps: GapLog) -> None:
        if fs <= 2 * SMOOTH_HZ:
            raise ValueError(f"EDA rate must exceed {2 * SMOOTH_HZ} Hz, got {fs}")
        self.fs = fs
        self.gaps = gaps
        self.smooth_sos = butter_lowpass_sos(SMOOTH_HZ, fs, order=1)
        self.tonic_sos = butter_lowpass_sos(TONIC_HZ, fs, order=2)
        self.shift = round(ALIGN_S * fs)
        self.times: IntArray = np.zeros(0, dtype=np.int64)
        self.smoothed: FloatArray = np.zeros(0)
        self.tonic: FloatArray = np.zeros(0)
        self.base = 0.0
        self.zi_smooth = np.zeros((self.smooth_sos.shape[0], 2))
        self.zi_tonic = np.zeros((self.tonic_sos.shape[0], 2))

    def update(self, buffer: SampleSource, *, until_ns: int) -> None:
        """Filter the samples after the last one filtered and before ``until_ns``."""
        after = int(self.times[-1]) + 1 if self.times.size else -(2**62)
        times, values = buffer.window(after, until_ns)
        if times.size == 0:
            return
        x = np.ascontiguousarray(values[:, 0])
        if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):  # one pass when all is well
            raise ValueError("EDA contains NaN or infinite samples")
        joined = np.concatenate((self.times[-1:], times))
        if self.gaps.starts.size == 0:  # no gap anywhere: restart only at the very start
            restarts = np.zeros(0 if self.times.size else 1, dtype=np.int64)
        elif self.times.size:  # step i of joined ends at times[i]
            restarts = np.flatnonzero(self.gaps.spans(joined))
        else:
            restarts = np.append(0, np.flatnonzero(self.gaps.spans(times)) + 1)
        if restarts.size == 0:  # the usual case: one run continuing the last one
            smoothed, tonic = self._run(x, restart=False)
        else:
            smoothed, tonic = self._runs(x, restarts)
        self.times = np.concatenate((self.times, times))
        self.smoothed = np.concatenate((self.smoothed, smoothed))
        self.tonic = np.concatenate((self.tonic, tonic))

    def _runs(self, x: FloatArray, restarts: IntArray) -> tuple[FloatArray, FloatArray]:
        """The runs between restarts, each restarted in steady state (eda_traces' rule)."""
        bounds = sorted({0, *restarts.tolist(), x.size})
        starts = set(restarts.tolist())
        pieces_s, pieces_t = [], []
        for lo, hi in itertools.pairwise(bounds):
            smoothed, tonic = self._run(x[lo:hi], restart=lo in starts)
            pieces_s.append(smoothed)
            pieces_t.append(tonic)
        return np.concatenate(pieces_s), np.concatenate(pieces_t)

    def _run(self, x: FloatArray, *, restart: bool) -> tuple[FloatArray, FloatArray]:
        """Both filters over x, continued, or restarted in steady state on x's first sample."""
        if restart:
            self.base = float(x[0])
            self.zi_smooth[:] = 0.0
            self.zi_tonic[:] = 0.0
        x = np.ascontiguousarray(x)
        return eda_run_kernel(
            x, self.base, self.smooth_sos, self.zi_smooth, self.tonic_sos, self.zi_tonic
        )

    def features(self, *, start: int, end: int) -> dict[str, float]:
        """The 17 EDA features of [start, end) on the aligned traces (see eda_features)."""
        lo = int(np.searchsorted(self.times, start - int(SCR_LOOKBACK_S * NS)))
        first = int(np.searchsorted(self.times, start))
        last = int(np.searchsorted(self.times, end))
        if last - first < 2:
            return {}
        traces = aligned_traces(self.smoothed, self.tonic, self.fs, lo, last, self.shift)
        if traces is None:
            return {}
        return eda_features(traces, self.fs, start=first - lo, stop=last - lo)

    def trim(self, before_ns: int) -> None:
        keep = int(np.searchsorted(self.times, before_ns))
        self.times, self.smoothed = self.times[keep:], self.smoothed[keep:]
        self.tonic = self.tonic[keep:]
