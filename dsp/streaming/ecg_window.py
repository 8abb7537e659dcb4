"""A window's ECG work in one numba call: new beats found, the look-back cut, heart numbers out.

Per window, BeatTracker.update, BeatTracker.between and heart_features take some twenty numpy
and kernel calls of glue (bounds, copies, detection, acceptance, a concatenation, binary
searches, the gap mask) around the two kernels that do the arithmetic, and on a gateway that
glue costs more CPU than the arithmetic. ecg_window_kernel does the usual case in one call
with the same kernels in the same order: no gap logged for the stream, no jump in the new
samples' times, every sample finite, and a rate the detector runs at in full. Anything else
returns FALLBACK before any state changes, and the ECG stage (dsp.streaming.stages.EcgStage)
finishes the window step by step on the tracker, which splits the ECG at the gaps the engine
logged (it scans every held sample before a close, so the kernel's own jump check is only a
guard for a caller without an engine) or raises the clear error.
tests/vagus/test_pipeline_reference.py holds the
pipeline's windows equal with this path on and with every reference patched in, and
tests/dsp/test_streaming_window_paths.py holds the two paths equal on gapped and spoilt data.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.ecg import params as ecg_params
from dsp.ecg.fused import plan
from dsp.ecg.params import INITIAL_S
from dsp.ecg.stream import DECIDED_NS, GRID_NS, STARTED, detect_step_kernel
from dsp.filters import lower_bound_in
from dsp.streaming.beats import (
    DECIDE_AHEAD_S,
    EDGE_NS,
    NS,
    OVERLAP_S,
    PLACE_AHEAD_NS,
    REFRACTORY_NS,
    TAIL_S,
    BeatTracker,
)
from dsp.streaming.buffer import StreamBuffer
from dsp.streaming.gaps import jump_limit_ns
from dsp.streaming.heart_kernels import FALLBACK as HEART_FALLBACK
from dsp.streaming.heart_kernels import STATUS, heart_kernel
from dsp.streaming.rr import TWIDDLES, WELCH, HeartResults, heart_results
from dsp.stress.features import BAND_EDGES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DONE, FALLBACK = 0, 1
NOT_SEEN = -(2**63)
#: layout of the kernel's integer settings
OVERLAP, TAIL, REFRACTORY, LOOK_BACK, MIN_SAMPLES, INITIAL, AHEAD, EDGE, PLACE = range(9)
_NO_BEATS = np.zeros(0, dtype=np.int64)
_NO_INTERVALS = np.zeros(0, dtype=np.bool_)


@numba.njit(cache=True)
def ecg_window_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    times: IntArray,
    values: FloatArray,
    live: IntArray,
    settings: IntArray,
    jump_ns: float,
    min_present: float,
    detection: tuple[float, FloatArray, int, FloatArray, int, IntArray],
    heart: tuple[float, FloatArray, FloatArray, tuple[FloatArray, FloatArray], bool],
    beats: IntArray,
    detector: tuple[FloatArray, IntArray, IntArray],
) -> tuple[int, int, IntArray, FloatArray, int, FloatArray, IntArray, IntArray]:
    """(status, samples in the window, the tracker's beats after the update, heart_kernel's
    output or an empty array when the window has too few samples, the latest sample seen,
    the detector's state).

    ``live`` is [first, end, done, until, start, stop, seen, load]: the buffer's held rows,
    the tracker's done time and the update's end, the window [start, stop) (ns), the latest
    sample time the tracker saw (NOT_SEEN if none) and where its next run reads from
    (NOT_SEEN: the buffer's first row). ``detector`` is the tracker's (levels, marks, pending)
    (dsp.ecg.stream), returned updated as the last three outputs."""
    first, end, done, until, start, stop = live[0], live[1], live[2], live[3], live[4], live[5]
    seen, load = live[6], live[7]
    levels, marks, pending = detector
    present = lower_bound_in(times, first, end, stop) - lower_bound_in(times, first, end, start)
    if until > done:
        lo = first if load == NOT_SEEN else lower_bound_in(times, first, end, load)
        hi = lower_bound_in(times, first, end, until + settings[TAIL])
        if hi > lo and seen != NOT_SEEN and times[lo] - seen > jump_ns:
            return FALLBACK, present, beats, _empty(), seen, levels, marks, pending  # a hole
        for i in range(lo, hi):
            jump = i + 1 < hi and times[i + 1] - times[i] > jump_ns
            if jump or not math.isfinite(values[i, 0]):
                return FALLBACK, present, beats, _empty(), seen, levels, marks, pending
        fresh = marks[STARTED] == 0
        to_end = hi == 0 or until > times[hi - 1]
        if hi - lo < 2 or (fresh and (hi - lo < settings[MIN_SAMPLES] or (
            not to_end and times[hi - 1] - times[lo] < settings[INITIAL]
        ))):  # fmt: skip
            return FALLBACK, present, beats, _empty(), seen, levels, marks, pending
        seen = times[hi - 1] if seen == NOT_SEEN else max(seen, times[hi - 1])
        if not fresh:
            lo = lower_bound_in(times, lo, hi, marks[DECIDED_NS] - settings[OVERLAP])
        if hi - lo >= 2:
            decide_before = min(until + settings[AHEAD], times[hi - 1] - settings[EDGE])
            rate, band, band_pad, high, high_pad, widths = detection
            placed, levels, marks, pending = detect_step_kernel(
                values[lo:hi, 0].copy(), times[lo:hi], rate, band, band_pad, high, high_pad,
                widths, levels, marks, pending, decide_before,
                min(until + settings[PLACE], decide_before), to_end,
            )  # fmt: skip
            if placed.shape[0]:
                if beats.shape[0] == 0 or placed[0] > beats[-1]:
                    beats = np.concatenate((beats, placed))
                else:
                    beats = np.unique(np.concatenate((beats, placed)))
    if present <= min_present:
        return DONE, present, beats, _empty(), seen, levels, marks, pending
    b_lo = lower_bound_in(beats, 0, beats.shape[0], stop - settings[LOOK_BACK])
    b_hi = lower_bound_in(beats, 0, beats.shape[0], stop)
    recent = beats[b_lo:b_hi]
    real = np.ones(max(recent.shape[0] - 1, 0), dtype=np.bool_)  # no gap is logged
    period_ms, bands, welch, twiddles, with_spectrum = heart
    out = heart_kernel(recent, real, period_ms, start, stop, bands, welch, twiddles, with_spectrum)
    return DONE, present, beats, out, seen, levels, marks, pending


@numba.njit(cache=True)
def _empty() -> FloatArray:
    return np.zeros(0)


class EcgWindow:
    """The kernel's fixed inputs for one ECG rate."""

    def __init__(self, fs: float, look_back_s: float, *, with_spectrum: bool = True) -> None:
        factor = ecg_params.detection_factor(fs, full_rate=False)
        band, band_pad, high, high_pad, widths = plan(float(fs), factor)
        self.fs = fs
        self.usable = fs >= 50 and factor == 1  # else: the tracker's path (and its errors)
        self.settings = np.array(
            [
                int(OVERLAP_S * NS),
                int(TAIL_S * NS),
                REFRACTORY_NS,
                int(look_back_s * NS),
                int(fs),
                int((INITIAL_S + TAIL_S) * NS),
                int(DECIDE_AHEAD_S * NS),
                EDGE_NS,
                PLACE_AHEAD_NS,
            ],
            dtype=np.int64,
        )
        self.jump_ns = jump_limit_ns(fs)
        self.detection = (fs / factor, band, band_pad, high, high_pad, widths)
        self.with_spectrum = with_spectrum  # see dsp.streaming.rr.heart_features
        self.heart = (1000.0 / fs, BAND_EDGES, WELCH, TWIDDLES, with_spectrum)


def ecg_window(
    tracker: BeatTracker,
    buffer: StreamBuffer,
    plan_: EcgWindow,
    *,
    start: int,
    end: int,
    min_present: float,
) -> tuple[int, HeartResults | None] | None:
    """(samples in [start, end), heart_features' results or None when too few), with the
    tracker updated to ``end``; None (nothing changed) when the tracker's path must run."""
    if not plan_.usable or tracker.gaps.starts.size:
        return None
    times, values, first, stop = buffer.live()
    if stop == first:
        return None
    done = int(times[first]) if tracker.done_ns is None else tracker.done_ns
    seen = NOT_SEEN if tracker.seen_ns is None else tracker.seen_ns
    load = NOT_SEEN if tracker.load_ns is None else tracker.load_ns
    live = np.array([first, stop, done, end, start, end, seen, load], dtype=np.int64)
    detector = (*tracker.detector, tracker.pending)
    status, present, beats, heart, seen, levels, marks, pending = ecg_window_kernel(
        times, values, live, plan_.settings, plan_.jump_ns, min_present,
        plan_.detection, plan_.heart, tracker.beats_ns, detector,
    )  # fmt: skip
    if status == FALLBACK:
        return None
    tracker.beats_ns = beats
    tracker.detector, tracker.pending = (levels, marks), pending
    if marks[STARTED]:
        tracker.load_ns = int(marks[GRID_NS])
    tracker.seen_ns = None if seen == NOT_SEEN else seen
    if end > done:
        tracker.done_ns = end
    if heart.size == 0:
        return present, None
    recent, real = _NO_BEATS, _NO_INTERVALS
    if heart[STATUS] == HEART_FALLBACK:  # heart_results takes the reference path on them
        recent, real = tracker.between(end - int(plan_.settings[LOOK_BACK]), end)
    results = heart_results(
        heart, recent, real, fs=plan_.fs, start=start, end=end, with_spectrum=plan_.with_spectrum
    )
    return present, results
