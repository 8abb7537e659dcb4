"""Plain numpy twins of dsp.hrv's kernels, kept with the tests that hold the two equal."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.hrv.frequency import band_power, welch_psd
from dsp.hrv.rr_correction import (
    _MEDIAN,
    MIN_QD_MS,
    _checked_windows,
    _threshold,
    time_resolution_ms,
)
from dsp.hrv.rr_correction_kernels import (
    ECTOPIC,
    EXTRA,
    LONG,
    MISSED,
    SHORT,
    LabelArray,
    classify_kernel,
    rolling_quantiles_kernel,
)

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def neighbour_median_reference(rr: FloatArray, valid: BoolArray, half: int) -> FloatArray:
    """Plain-Python twin of the running-median kernel."""
    out = np.full(rr.size, np.nan)
    for i in range(rr.size):
        lo, hi = max(0, i - half), min(rr.size, i + half + 1)
        vals = [rr[j] for j in range(lo, hi) if j != i and valid[j]]
        if vals:
            out[i] = float(np.median(vals))
    return out


def lomb_reference(t: FloatArray, y: FloatArray, freqs: FloatArray) -> FloatArray:
    """numpy twin of the Lomb kernel (frequencies must be positive)."""
    w = 2.0 * np.pi * freqs[:, None]
    tau = np.arctan2(np.sin(2 * w * t).sum(1), np.cos(2 * w * t).sum(1))[:, None] / (2 * w)
    c, s = np.cos(w * (t - tau)), np.sin(w * (t - tau))
    out: FloatArray = (c @ y) ** 2 / (c * c).sum(1) + (s @ y) ** 2 / (s * s).sum(1)
    return out


def natural_cubic_spline_reference(t: FloatArray, y: FloatArray, grid: FloatArray) -> FloatArray:
    """numpy twin of the spline kernel.

    Natural cubic spline through (t, y) evaluated on grid (inside [t[0], t[-1]]).

    Cubic, not linear: linear interpolation is a low-pass that takes a third off HF power at
    60 bpm. (PCST uses MATLAB's not-a-knot spline; the two differ only near the ends.)
    """
    n = t.size
    h = np.diff(t)
    slope = np.diff(y) / h
    m = np.zeros(n)  # second derivatives; natural: zero at both ends
    if n > 2:
        diag = 2.0 * (h[:-1] + h[1:])
        rhs = 6.0 * np.diff(slope)
        for i in range(1, n - 2):  # Thomas algorithm, forward sweep
            w = h[i] / diag[i - 1]
            diag[i] -= w * h[i]
            rhs[i] -= w * rhs[i - 1]
        inner = np.empty(n - 2)
        inner[-1] = rhs[-1] / diag[-1]
        for i in range(n - 4, -1, -1):
            inner[i] = (rhs[i] - h[i + 1] * inner[i + 1]) / diag[i]
        m[1:-1] = inner
    k = np.clip(np.searchsorted(t, grid, side="right") - 1, 0, n - 2)
    a = (t[k + 1] - grid) / h[k]
    b = 1.0 - a
    out: FloatArray = (
        a * y[k] + b * y[k + 1] + ((a**3 - a) * m[k] + (b**3 - b) * m[k + 1]) * (h[k] ** 2 / 6.0)
    )
    return out


def sampen_counts_reference(x: FloatArray, m: int, r: float) -> tuple[int, int]:
    """numpy twin of the sample-entropy counting kernel."""
    n = x.size - m
    tm = np.stack([x[k : k + n] for k in range(m)], axis=1)
    tm1 = np.stack([x[k : k + n] for k in range(m + 1)], axis=1)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    dm = np.abs(tm[:, None, :] - tm[None, :, :]).max(axis=2)
    dm1 = np.abs(tm1[:, None, :] - tm1[None, :, :]).max(axis=2)
    return int(np.count_nonzero((dm <= r) & upper)), int(np.count_nonzero((dm1 <= r) & upper))


def welch_band_powers_reference(
    t_s: FloatArray, nn_ms: FloatArray, bands: FloatArray
) -> FloatArray:
    """numpy twin: welch_psd, then band_power per band (the former per-window path)."""
    freqs, psd = welch_psd(t_s, nn_ms)
    return np.array([band_power(freqs, psd, (lo, hi)) for lo, hi in bands], dtype=np.float64)


def spike_reference(rr: FloatArray, limit: float, half: int) -> BoolArray:
    """Plain-Python twin of the 20 % change kernel."""
    out = np.zeros(rr.size, dtype=bool)
    for k in range(half, rr.size - half):
        before = float(np.median(rr[k - half : k]))
        after = float(np.median(rr[k + 1 : k + 1 + half]))
        out[k] = abs(rr[k] - before) / before >= limit and abs(rr[k] - after) / after >= limit
    return out


def detect_rr_artefacts_reference(
    rr_ms: npt.ArrayLike,
    *,
    alpha: float = 5.2,
    c1: float = 0.13,
    c2: float = 0.17,
    window_beats: int = 91,
    median_beats: int = 11,
    resolution_ms: float | None = None,
) -> LabelArray:
    """numpy twin of detect_rr_artefacts, which runs the same steps as one numba kernel (its
    docstring says what the labels and arguments mean)."""
    rr = _checked_windows(rr_ms, window_beats=window_beats, median_beats=median_beats)
    if rr.size < 3:
        return np.zeros(rr.size, dtype=np.int8)
    half = window_beats // 2
    med_rr = rolling_quantiles_kernel(rr, median_beats // 2, _MEDIAN)[0]
    drr = np.empty_like(rr)
    drr[1:] = np.diff(rr)
    drr[0] = rr[0] - np.median(rr[:median_beats])
    mrr = rr - med_rr
    mrr[mrr < 0] *= 2.0
    floor = time_resolution_ms(rr) if resolution_ms is None else max(resolution_ms, MIN_QD_MS)
    th1 = _threshold(drr, alpha=alpha, half=half, floor=floor)
    th2 = _threshold(mrr, alpha=alpha, half=half, floor=floor)
    labels: LabelArray = classify_kernel(rr, drr / th1, mrr / th2, med_rr, th2, c1, c2)
    return labels


def rolling_quantiles_reference(x: FloatArray, half: int, qs: FloatArray) -> FloatArray:
    """numpy twin of the rolling-quantile kernel."""
    out = np.empty((qs.size, x.size))
    for i in range(x.size):
        window = x[max(0, i - half) : i + half + 1]
        out[:, i] = np.quantile(window, qs)
    return out


def subspace_reference(drr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Plain twin of the subspace kernel (np.pad's "reflect" mode, as the paper's code pads)."""
    pad = np.pad(drr, 2, mode="reflect")
    s12, s22 = np.zeros(drr.size), np.zeros(drr.size)
    for i in range(drr.size):
        d, nb = pad[i + 2], (pad[i + 1], pad[i + 3])
        s12[i] = max(nb) if d > 0 else min(nb) if d < 0 else 0.0
        s22[i] = (min if d >= 0 else max)(pad[i + 3], pad[i + 4])
    return s12, s22


def classify_reference(
    rr: FloatArray,
    drr: FloatArray,
    mrr: FloatArray,
    med_rr: FloatArray,
    th2: FloatArray,
    c1: float,
    c2: float,
) -> LabelArray:
    """Plain-Python twin of the classifier kernel."""
    s12, s22 = subspace_reference(drr)
    labels = np.zeros(rr.size, dtype=np.int8)
    i = 0
    while i < rr.size - 2:
        d = drr[i]
        if abs(d) <= 1:
            i += 1
            continue
        if (d > 1 and s12[i] < -c1 * d - c2) or (d < -1 and s12[i] > -c1 * d + c2):
            labels[i] = ECTOPIC
            i += 1
            continue
        candidates = [i, i + 1] if abs(drr[i + 1]) < abs(drr[i + 2]) else [i]
        for j in candidates:
            i += 1
            is_long = bool(drr[j] > 1 and s22[j] < -1)
            is_short = bool(drr[j] < -1 and s22[j] > 1)
            if not (is_long or is_short or abs(mrr[j]) > 3):
                continue
            if is_short and abs(rr[j] + rr[j + 1] - med_rr[j]) < th2[j]:
                labels[j] = EXTRA
            elif is_long and abs(rr[j] / 2 - med_rr[j]) < th2[j]:
                labels[j] = MISSED
            else:
                labels[j] = LONG if is_long or (not is_short and mrr[j] > 0) else SHORT
    return labels
