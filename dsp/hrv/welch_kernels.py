"""Welch band powers of the resampled NN series in one numba pass (the model's 180 s spectrum).

The gateway asks for four band powers every 5 s, not a spectrum: dsp.hrv.frequency.welch_psd
then band_power cost a dozen numpy calls (grid, spline, stacking, FFT, masks) whose overhead
outweighed the arithmetic. Here the spline, the segments, their Hann-windowed DFT at the few
bins the bands reach (a 256-point DFT below 0.5 Hz is 33 bins) and the band sums are one
kernel. Definitions are welch_psd's and band_power's exactly (same grid, same periodic Hann,
same one-sided doubling, same closed band edges on np.fft.rfftfreq's grid);
``welch_band_powers_reference`` (tests/reference/hrv.py) is that numpy path, and
tests/dsp/test_hrv_welch_kernels.py
holds the two equal to rounding.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.hrv.frequency import (
    WELCH_RESAMPLE_HZ,
    WELCH_SEGMENT_S,
    _spline_kernel,
)

FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True)
def _arange_grid(start: float, stop: float, step: float) -> FloatArray:
    """np.arange(start, stop, step) as numpy fills it (start + i * ((start + step) - start))."""
    n = max(math.ceil((stop - start) / step), 0)
    out = np.empty(n)
    if n == 0:
        return out
    delta = (start + step) - start
    for i in range(n):
        out[i] = start + i * delta
    return out


@numba.njit(cache=True)
def _twiddles(n_seg: int, n_bins: int) -> tuple[FloatArray, FloatArray]:
    """cos and sin of 2 pi k i / n_seg, one row per bin k (rfft's exponent, sign applied later)."""
    cos_table = np.empty(n_seg)
    sin_table = np.empty(n_seg)
    for i in range(n_seg):
        cos_table[i] = np.cos(2 * np.pi * i / n_seg)
        sin_table[i] = np.sin(2 * np.pi * i / n_seg)
    cos_rows = np.empty((n_bins, n_seg))
    sin_rows = np.empty((n_bins, n_seg))
    for k in range(n_bins):
        idx = 0
        for i in range(n_seg):
            cos_rows[k, i] = cos_table[idx]
            sin_rows[k, i] = sin_table[idx]
            idx += k
            if idx >= n_seg:
                idx -= n_seg
    return cos_rows, sin_rows


@numba.njit(cache=True, fastmath=True)
def _dot(a: FloatArray, b: FloatArray) -> float:
    """Sum of a * b; fastmath lets the sum vectorise (reassociation changes only rounding)."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@numba.njit(cache=True)
def welch_band_powers_kernel(
    t: FloatArray, nn: FloatArray, bands: FloatArray, resample_hz: float, segment_s: float
) -> FloatArray:
    """Band powers (rows of ``bands``: lo, hi in Hz) of the Welch density of nn at times t.

    Returns NaN for every band when the resampled series is too short (welch_psd would raise).
    Caller guarantees t strictly increasing and everything finite.
    """
    none = np.empty((0, 0))
    return welch_band_powers_tabled(t, nn, bands, np.array([resample_hz, segment_s]), none, none)


def welch_twiddles(
    bands: FloatArray, resample_hz: float, segment_s: float
) -> tuple[FloatArray, FloatArray]:
    """The DFT tables welch_band_powers_tabled needs for full-length segments: computed once
    per design instead of once per window (they were ~40 % of the kernel's time)."""
    n_seg = round(segment_s * resample_hz)
    df = 1.0 / (n_seg * (1.0 / resample_hz))
    n_bins = min(n_seg // 2 + 1, int(float(np.max(bands[:, 1])) / df) + 2)
    cos_rows, sin_rows = _twiddles(n_seg, n_bins)
    return cos_rows, sin_rows


@numba.njit(cache=True)
def welch_band_powers_tabled(  # noqa: PLR0917 - numba takes no keyword-only arguments
    t: FloatArray,
    nn: FloatArray,
    bands: FloatArray,
    design: FloatArray,
    cos_table: FloatArray,
    sin_table: FloatArray,
) -> FloatArray:
    """welch_band_powers_kernel with design = (resample Hz, segment s) and the DFT tables of
    welch_twiddles (computed here when their shape does not fit, e.g. for short series)."""
    resample_hz, segment_s = design[0], design[1]
    n_bands = bands.shape[0]
    out = np.full(n_bands, np.nan)
    x = _spline_kernel(t, nn, _arange_grid(t[0], t[-1], 1.0 / resample_hz))
    n_seg = min(x.shape[0], round(segment_s * resample_hz))
    if n_seg < 8:
        return out
    step = n_seg // 2
    window = np.empty(n_seg)
    win_sq = 0.0
    for i in range(n_seg):
        window[i] = 0.5 - 0.5 * np.cos(2 * np.pi * i / n_seg)
        win_sq += window[i] * window[i]
    df = 1.0 / (n_seg * (1.0 / resample_hz))  # np.fft.rfftfreq's spacing
    top = 0.0
    for b in range(n_bands):
        top = max(top, bands[b, 1])
    n_bins = min(n_seg // 2 + 1, int(top / df) + 2)
    if cos_table.shape[0] == n_bins and cos_table.shape[1] == n_seg:
        cos_rows, sin_rows = cos_table, sin_table
    else:
        cos_rows, sin_rows = _twiddles(n_seg, n_bins)
    power = np.zeros(n_bins)
    seg = np.empty(n_seg)
    n_segments = 0
    for s in range(0, x.shape[0] - n_seg + 1, step):
        mean = 0.0
        for i in range(n_seg):
            mean += x[s + i]
        mean /= n_seg
        for i in range(n_seg):
            seg[i] = (x[s + i] - mean) * window[i]
        for k in range(n_bins):
            re = _dot(seg, cos_rows[k])
            im = _dot(seg, sin_rows[k])
            power[k] += re * re + im * im
        n_segments += 1
    scale = 1.0 / (n_segments * resample_hz * win_sq)
    nyquist = n_seg // 2 if n_seg % 2 == 0 else -1
    for b in range(n_bands):
        total = 0.0
        for k in range(n_bins):
            f = k * df
            if bands[b, 0] <= f <= bands[b, 1]:
                p = power[k] * scale
                total += 2.0 * p if 0 < k != nyquist else p
        out[b] = total * df
    return out


def welch_band_powers(
    t_s: npt.ArrayLike,
    nn_ms: npt.ArrayLike,
    bands: npt.ArrayLike,
    *,
    resample_hz: float = WELCH_RESAMPLE_HZ,
    segment_s: float = WELCH_SEGMENT_S,
) -> FloatArray:
    """Band powers (ms^2) of the Welch density (dsp.hrv.frequency.welch_psd) of NN intervals."""
    t = np.ascontiguousarray(t_s, dtype=np.float64)
    nn = np.ascontiguousarray(nn_ms, dtype=np.float64)
    edges = np.ascontiguousarray(bands, dtype=np.float64)
    if t.ndim != 1 or t.shape != nn.shape or t.size < 2:
        raise ValueError("t_s and nn_ms must be 1-D, the same length and at least 2 long")
    if edges.ndim != 2 or edges.shape[1] != 2:
        raise ValueError("bands must have shape (n, 2)")
    if not (np.isfinite(t).all() and np.isfinite(nn).all()) or (np.diff(t) <= 0).any():
        raise ValueError("t_s and nn_ms must be finite and t_s strictly increasing")
    powers: FloatArray = welch_band_powers_kernel(t, nn, edges, resample_hz, segment_s)
    if np.isnan(powers).all() and edges.shape[0]:
        raise ValueError("too few samples for a Welch estimate")
    return powers
