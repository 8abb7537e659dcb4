"""Fused numba kernels for the per-window statistics of dsp.stress.features(_eda).

Each window asked numpy for some 40 small reductions (mean, std, median, min, max, polyfit...),
and at ~10 µs of call overhead apiece they cost more than the arithmetic. One pass per feature
group does the same sums; the numpy definitions stay beside them as ``*_reference`` and
tests/dsp/test_stress_features_kernels.py holds the two equal (to rounding).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@numba.njit(cache=True)
def hrv_time_kernel(rr: FloatArray, keep: BoolArray) -> FloatArray:
    """[rmssd, pnn50, sdnn, mean, median, sdsd, min, max] of kept intervals; NaN if too few.

    Successive differences only between adjacent kept, finite intervals (as the reference).
    """
    out = np.full(8, np.nan)
    n = rr.shape[0]
    mask = np.empty(n, dtype=np.bool_)
    count = 0
    for i in range(n):
        mask[i] = keep[i] and math.isfinite(rr[i])
        count += mask[i]
    diffs = np.empty(max(n - 1, 0))
    n_diffs = 0
    for i in range(n - 1):
        if mask[i] and mask[i + 1]:
            diffs[n_diffs] = rr[i + 1] - rr[i]
            n_diffs += 1
    if count < 3 or n_diffs < 2:
        return out
    nn = np.empty(count)
    k = 0
    for i in range(n):
        if mask[i]:
            nn[k] = rr[i]
            k += 1
    d = diffs[:n_diffs]
    mean = nn.mean()
    d_mean = d.mean()
    big = 0
    sq = 0.0
    d_var = 0.0
    for j in range(n_diffs):
        sq += d[j] * d[j]
        d_var += (d[j] - d_mean) ** 2
        big += abs(d[j]) > 50.0
    var = 0.0
    for j in range(count):
        var += (nn[j] - mean) ** 2
    out[0] = math.sqrt(sq / n_diffs)
    out[1] = 100.0 * big / n_diffs
    out[2] = math.sqrt(var / (count - 1))
    out[3] = mean
    out[4] = np.median(nn)
    out[5] = math.sqrt(d_var / (n_diffs - 1))
    out[6] = nn.min()
    out[7] = nn.max()
    return out


@numba.njit(cache=True)
def tonic_kernel(tonic: FloatArray, smoothed: FloatArray, fs: float) -> FloatArray:
    """[mean, std, min, max, median, range, auc, slope, skewness, kurtosis] of one window.

    std ddof 0; auc trapezoidal in µS·s; slope the least-squares line per second; skewness and
    excess kurtosis of ``smoothed``, biased, NaN when it is flat.
    """
    n = tonic.shape[0]
    mean = tonic.mean()
    t_mean = (n - 1) / (2.0 * fs)
    var = 0.0
    cov = 0.0
    t_var = 0.0
    auc = 0.0
    for i in range(n):
        d = tonic[i] - mean
        t = i / fs - t_mean
        var += d * d
        cov += t * d
        t_var += t * t
        if i > 0:
            auc += (tonic[i] + tonic[i - 1]) / 2.0
    lo = tonic.min()
    hi = tonic.max()
    s_mean = smoothed.mean()
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(smoothed.shape[0]):
        d = smoothed[i] - s_mean
        m2 += d * d
        m3 += d * d * d
        m4 += d * d * d * d
    m = smoothed.shape[0]
    m2, m3, m4 = m2 / m, m3 / m, m4 / m
    skew = m3 / m2**1.5 if m2 > 0 else np.nan
    kurt = m4 / m2**2 - 3.0 if m2 > 0 else np.nan
    slope = cov / t_var if n > 1 else 0.0
    return np.array(
        [mean, math.sqrt(var / n), lo, hi, np.median(tonic), hi - lo, auc / fs, slope, skew, kurt]
    )


@numba.njit(cache=True)
def acc_kernel(e4: FloatArray) -> FloatArray:
    """[x sd, y sd, z sd, |a| mean, |a| sd, |a| max, SMA, energy] of (n, 3) samples (ddof 0)."""
    n = e4.shape[0]
    sums = np.zeros(3)
    sq = np.zeros(3)
    mag_sum = 0.0
    mag_sq = 0.0
    mag_max = -np.inf
    sma = 0.0
    for i in range(n):
        m2 = 0.0
        for a in range(3):
            v = e4[i, a]
            sums[a] += v
            m2 += v * v
            sma += abs(v)
        mag = math.sqrt(m2)
        mag_sum += mag
        mag_sq += m2
        mag_max = max(mag_max, mag)
    means = sums / n
    for i in range(n):
        for a in range(3):
            sq[a] += (e4[i, a] - means[a]) ** 2
    mag_mean = mag_sum / n
    mag_var = 0.0
    for i in range(n):
        mag = math.sqrt(e4[i, 0] ** 2 + e4[i, 1] ** 2 + e4[i, 2] ** 2)
        mag_var += (mag - mag_mean) ** 2
    return np.array(
        [
            math.sqrt(sq[0] / n),
            math.sqrt(sq[1] / n),
            math.sqrt(sq[2] / n),
            mag_mean,
            math.sqrt(mag_var / n),
            mag_max,
            sma / n,
            mag_sq / n,
        ]
    )


@numba.njit(cache=True)
def half_recovery_kernel(
    phasic: FloatArray, peaks: npt.NDArray[np.int64], onsets: npt.NDArray[np.int64]
) -> FloatArray:
    """Samples from each peak until the trace has lost half the response's height, searched up
    to the next onset (or the end); NaN when it never does (twin: half_recovery_s)."""
    out = np.full(peaks.shape[0], np.nan)
    for i in range(peaks.shape[0]):
        stop = onsets[i + 1] if i + 1 < onsets.shape[0] else phasic.shape[0]
        level = phasic[peaks[i]] - (phasic[peaks[i]] - phasic[onsets[i]]) / 2.0
        for j in range(peaks[i], stop):
            if phasic[j] <= level:
                out[i] = j - peaks[i]
                break
    return out
