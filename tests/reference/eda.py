"""Plain numpy twins of dsp.eda's kernels, kept with the tests that hold the two equal."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.eda.scr_record import NOT_RECOVERED

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def scr_reference(slope: FloatArray, threshold: float) -> tuple[IntArray, IntArray]:
    """Plain-Python twin of the SCR kernel."""
    onsets: list[int] = []
    peaks: list[int] = []
    last_peak, i = 0, 1
    while i < slope.size:
        if slope[i] > threshold >= slope[i - 1]:
            onset = i - 1
            while onset > last_peak and slope[onset] > 0:
                onset -= 1
            rest = np.flatnonzero(slope[i:] <= 0)
            if rest.size == 0:
                break
            j = i + int(rest[0])
            onsets.append(onset)
            peaks.append(j)
            last_peak = i = j
        i += 1
    return np.asarray(onsets, dtype=np.int64), np.asarray(peaks, dtype=np.int64)


def refine_reference(x: FloatArray, onsets: IntArray, peaks: IntArray, reach: int) -> None:
    """Plain numpy twin of the refinement kernel (in place)."""
    for k, (onset, peak) in enumerate(zip(onsets.tolist(), peaks.tolist(), strict=True)):
        segment = x[onset : min(x.size, peak + reach + 1)]
        top = onset + int(np.flatnonzero(segment == segment.max())[0])
        base = x[onset : top + 1]
        peaks[k] = top
        onsets[k] = onset + int(np.flatnonzero(base == base.min())[0])


def near_any_reference(event_t: FloatArray, query_t: FloatArray, margin: float) -> BoolArray:
    """Plain numpy twin: count the events inside [t - margin, t + margin] by binary search."""
    lo = np.searchsorted(event_t, query_t - margin, side="left")
    hi = np.searchsorted(event_t, query_t + margin, side="right")
    flags: BoolArray = hi > lo
    return flags


def local_maxima_reference(x: FloatArray) -> IntArray:
    """Plain numpy twin: run-length encode x, keep runs higher than both neighbouring runs."""
    if x.size < 3:
        return np.zeros(0, np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(x) != 0) + 1))
    ends = np.concatenate((starts[1:] - 1, [x.size - 1]))
    values = x[starts]
    inner = np.arange(1, starts.size - 1)
    is_peak = (values[inner] > values[inner - 1]) & (values[inner] > values[inner + 1])
    peaks = (starts[inner] + ends[inner])[is_peak] // 2
    return np.asarray(peaks, dtype=np.int64)


def prominence_reference(x: FloatArray, peaks: IntArray) -> FloatArray:
    """Plain numpy twin: each side ends at the nearest strictly higher sample (or the edge)."""
    out = np.empty(peaks.size)
    for k, p in enumerate(peaks):
        higher_left = np.flatnonzero(x[:p] > x[p])
        higher_right = np.flatnonzero(x[p + 1 :] > x[p])
        left = x[(higher_left[-1] + 1 if higher_left.size else 0) : p + 1]
        right = x[p : (p + 1 + higher_right[0] if higher_right.size else x.size)]
        out[k] = x[p] - max(left.min(), right.min())
    return out


def half_recovery_reference(
    x: FloatArray, peaks: IntArray, levels: FloatArray, limits: IntArray
) -> IntArray:
    """Plain numpy twin of the half-recovery kernel."""
    out = np.full(peaks.size, NOT_RECOVERED, dtype=np.int64)
    for k, (peak, level, limit) in enumerate(zip(peaks, levels, limits, strict=True)):
        below = np.flatnonzero(x[peak + 1 : limit] <= level)
        if below.size:
            out[k] = peak + 1 + int(below[0])
    return out
