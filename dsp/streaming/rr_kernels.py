"""The look-back's RR series in one numba pass: L-T labels, corrected beat times, clean_rr's mask.

dsp.streaming.rr.corrected_series splits the beats at gaps and runs
dsp.hrv.rr_correction.correct_rr on each stretch, then heart_features runs dsp.hrv.clean_rr over
all intervals: some forty numpy calls a window, which cost more than the arithmetic. This kernel
does all of it at once, with dsp.hrv.rr_correction.apply_corrections' merge / split / interpolate
rules ported (numba's np.interp is numpy's algorithm). dsp.streaming.rr.rr_series_reference is
the numpy path, and tests/dsp/test_streaming_rr_kernels.py holds the two equal.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.hrv.intervals import MEDIAN_NEIGHBOURS, neighbour_median_kernel
from dsp.hrv.rr_correction import MIN_QD_MS
from dsp.hrv.rr_correction_kernels import detect_kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# dsp.hrv.rr_correction.correct_rr's defaults (alpha, c1, c2, window_beats // 2, median_beats)
_ALPHA, _C1, _C2, _HALF, _MEDIAN_BEATS = 5.2, 0.13, 0.17, 45, 11
# dsp.hrv.clean_rr's defaults
_MIN_MS, _MAX_MS, _MAX_CHANGE = 300.0, 2000.0, 0.2

#: status codes of rr_series_kernel
DONE, INVALID = 0, 2
_ECTOPIC, _LONG, _SHORT, _MISSED, _EXTRA = 1, 2, 3, 4, 5  # dsp.hrv.rr_correction_kernels' codes


@numba.njit(cache=True)
def apply_corrections_kernel(rr: FloatArray, codes: npt.NDArray[np.int8]) -> FloatArray:
    """dsp.hrv.rr_correction.apply_corrections: merge extra, split missed, interpolate the rest."""
    n = rr.shape[0]
    values = rr.copy()
    interpolate = np.zeros(n, dtype=np.bool_)
    keep = np.ones(n, dtype=np.bool_)
    for j in range(n):
        c = codes[j]
        interpolate[j] = c == _ECTOPIC or c == _LONG or c == _SHORT  # noqa: PLR1714
    for j in range(n):
        if codes[j] == _EXTRA and keep[j] and j + 1 < n:
            values[j] = rr[j] + rr[j + 1]
            keep[j + 1] = False
            interpolate[j] = False
            interpolate[j + 1] = False
    out = np.empty(2 * n)
    flagged = np.zeros(2 * n, dtype=np.bool_)
    m = 0
    for j in range(n):
        if not keep[j]:
            continue
        copies = 2 if codes[j] == _MISSED else 1
        value = values[j] / 2.0 if codes[j] == _MISSED else values[j]
        for _ in range(copies):
            out[m] = value
            flagged[m] = interpolate[j]
            m += 1
    out = out[:m]
    flagged = flagged[:m]
    n_flagged = 0
    for i in range(m):
        n_flagged += flagged[i]
    if 0 < n_flagged < m:
        t = np.cumsum(out)
        xp = t[~flagged]
        fp = out[~flagged]
        out[flagged] = np.interp(t[flagged], xp, fp)
    return out


@numba.njit(cache=True)
def rr_series_kernel(
    beats_ns: IntArray, real: BoolArray, period_ms: float
) -> tuple[int, FloatArray, BoolArray, BoolArray, BoolArray]:
    """(status, corrected beat times ns, kept per corrected interval, L-T flag per input
    interval, clean_rr's keep per input interval). Only status DONE has meaningful arrays."""
    n = beats_ns.shape[0]
    n_iv = max(n - 1, 0)
    rr_all = np.empty(n_iv)
    for i in range(n_iv):
        rr_all[i] = (beats_ns[i + 1] - beats_ns[i]) / 1e6
    times = np.empty(2 * n)  # a missed beat splits an interval in two
    kept = np.ones(max(2 * n - 1, 0), dtype=np.bool_)
    n_times = 0
    flagged = np.zeros(n_iv, dtype=np.bool_)
    floor = max(period_ms, MIN_QD_MS)
    lo = 0
    while lo < n:
        hi = lo + 1
        while hi < n and real[hi - 1]:
            hi += 1
        m = hi - lo - 1  # intervals in this stretch
        if m >= 1:
            rr = rr_all[lo : hi - 1]
            if not np.all(np.isfinite(rr)) or np.any(rr <= 0):
                return INVALID, times, kept, flagged, kept
            corrected = _corrected_stretch(rr, flagged[lo : hi - 1], floor)
            if n_times > 0:
                kept[n_times - 1] = False  # the interval across the gap
            origin = float(beats_ns[lo])
            times[n_times] = 0.0 + origin
            total = 0.0
            for i in range(corrected.shape[0]):
                total += corrected[i]
                times[n_times + 1 + i] = total * 1e6 + origin
            n_times += corrected.shape[0] + 1
        else:
            if n_times > 0:
                kept[n_times - 1] = False
            times[n_times] = float(beats_ns[lo])
            n_times += 1
        lo = hi
    times = times[:n_times]
    kept = kept[: max(n_times - 1, 0)]
    return DONE, times, kept, flagged, _clean_mask(rr_all)


@numba.njit(cache=True)
def _corrected_stretch(rr: FloatArray, flagged: BoolArray, floor: float) -> FloatArray:
    """correct_rr on one gap-free stretch; marks (in place) the intervals L-T labelled."""
    if rr.shape[0] < 3:
        return rr
    labels = detect_kernel(rr, _ALPHA, _C1, _C2, _HALF, _MEDIAN_BEATS, floor)
    if not np.any(labels != 0):
        return rr
    flagged[:] = labels != 0
    return apply_corrections_kernel(rr, labels)


@numba.njit(cache=True)
def _clean_mask(rr: FloatArray) -> BoolArray:
    """dsp.hrv.clean_rr's keep-mask with its defaults."""
    n = rr.shape[0]
    in_range = np.empty(n, dtype=np.bool_)
    for i in range(n):
        in_range[i] = math.isfinite(rr[i]) and _MIN_MS <= rr[i] <= _MAX_MS
    med = neighbour_median_kernel(rr, in_range, MEDIAN_NEIGHBOURS)
    clean = np.empty(n, dtype=np.bool_)
    for i in range(n):
        clean[i] = in_range[i] and not abs(rr[i] - med[i]) > _MAX_CHANGE * med[i]
    return clean
