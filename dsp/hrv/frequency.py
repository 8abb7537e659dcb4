"""Frequency-domain HRV: Lomb-Scargle on the uneven NN series (default) or Welch after resampling.

Lomb-Scargle is the default because it needs no interpolation: a rejected beat leaves a gap in
time instead of an invented interval. Its convention follows the PhysioNet Cardiovascular Signal
Toolbox (PCST; Vest et al. 2018, CalcLomb/CalcLfHfParams with freq.normalize_lomb = 0), so band
powers compare with its published outputs:

- the mean of the window is subtracted (no other detrending);
- P(f) = (sum y cos w(t-tau))^2 / sum cos^2 + (sum y sin w(t-tau))^2 / sum sin^2, i.e. twice the
  classic Lomb/Scargle half-normalised form, with no 1/N and no variance normalisation;
- the grid is f_k = k/1024 Hz, k = 1..512 (up to 0.5 Hz);
- a band's power is df * sum P(f_k) over lo <= f_k <= hi (closed at both ends; the PCST edges
  never fall on the grid, so no bin is counted twice).

So scaled, a band's power is the component's variance times the mean beat rate in beats per
second (x1.5 at 90 bpm): not a calibrated density. scaling="density" multiplies by the mean NN
interval in seconds, after which a band's power is the variance of that component.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

PCST_FREQS_HZ: FloatArray = np.arange(1, 513, dtype=np.float64) / 1024.0
VLF_HZ = (0.0033, 0.04)
LF_HZ = (0.04, 0.15)
HF_HZ = (0.15, 0.4)
# welch_psd's defaults, public so callers that table a Welch design ahead (the gateway) use them
WELCH_RESAMPLE_HZ = 4.0  # well above 2 x 0.4 Hz
WELCH_SEGMENT_S = 64.0  # 256 samples at 4 Hz: 0.016 Hz resolution, 8 half-overlapped segments


@numba.njit(cache=True)
def _lomb_kernel(t: FloatArray, y: FloatArray, freqs: FloatArray) -> FloatArray:
    """PCST-scaled Lomb-Scargle periodogram of y (already zero-mean) at times t."""
    out = np.empty(freqs.shape[0])
    n = t.shape[0]
    for k in range(freqs.shape[0]):
        w = 2.0 * np.pi * freqs[k]
        s2 = 0.0
        c2 = 0.0
        for i in range(n):
            s2 += np.sin(2.0 * w * t[i])
            c2 += np.cos(2.0 * w * t[i])
        tau = np.arctan2(s2, c2) / (2.0 * w)
        yc = 0.0
        ys = 0.0
        cc = 0.0
        ss = 0.0
        for i in range(n):
            c = np.cos(w * (t[i] - tau))
            s = np.sin(w * (t[i] - tau))
            yc += y[i] * c
            ys += y[i] * s
            cc += c * c
            ss += s * s
        out[k] = yc * yc / cc + ys * ys / ss
    return out


def _checked(t_s: npt.ArrayLike, nn_ms: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    t = np.ascontiguousarray(t_s, dtype=np.float64)
    nn = np.ascontiguousarray(nn_ms, dtype=np.float64)
    if t.ndim != 1 or t.shape != nn.shape:
        raise ValueError("t_s and nn_ms must be 1-D and the same length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(nn))):
        raise ValueError("t_s and nn_ms must be finite")
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("t_s must be strictly increasing")
    return t, nn


def lomb_psd(
    t_s: npt.ArrayLike, nn_ms: npt.ArrayLike, freqs_hz: FloatArray = PCST_FREQS_HZ
) -> FloatArray:
    """PCST-scaled Lomb-Scargle periodogram (ms^2/Hz) of NN intervals at their beat times."""
    t, nn = _checked(t_s, nn_ms)
    freqs = np.ascontiguousarray(freqs_hz, dtype=np.float64)
    if np.any(freqs <= 0):
        raise ValueError("frequencies must be positive")
    return _lomb_kernel(t - t[0], nn - nn.mean(), freqs)


@numba.njit(cache=True)
def _spline_kernel(t: FloatArray, y: FloatArray, grid: FloatArray) -> FloatArray:
    """Natural cubic spline: Thomas solve for the second derivatives, then a merge-walk."""
    n = t.shape[0]
    m = np.zeros(n)
    if n > 2:
        diag = np.empty(n - 2)
        rhs = np.empty(n - 2)
        for i in range(n - 2):
            h0, h1 = t[i + 1] - t[i], t[i + 2] - t[i + 1]
            diag[i] = 2.0 * (h0 + h1)
            rhs[i] = 6.0 * ((y[i + 2] - y[i + 1]) / h1 - (y[i + 1] - y[i]) / h0)
        for i in range(1, n - 2):
            w = (t[i + 1] - t[i]) / diag[i - 1]
            diag[i] -= w * (t[i + 1] - t[i])
            rhs[i] -= w * rhs[i - 1]
        m[n - 2] = rhs[n - 3] / diag[n - 3]
        for i in range(n - 4, -1, -1):
            m[i + 1] = (rhs[i] - (t[i + 2] - t[i + 1]) * m[i + 2]) / diag[i]
    out = np.empty(grid.shape[0])
    k = 0
    for g in range(grid.shape[0]):
        x = grid[g]
        while k < n - 2 and t[k + 1] <= x:
            k += 1
        while k > 0 and t[k] > x:
            k -= 1
        h = t[k + 1] - t[k]
        a = (t[k + 1] - x) / h
        b = 1.0 - a
        out[g] = (
            a * y[k] + b * y[k + 1] + ((a**3 - a) * m[k] + (b**3 - b) * m[k + 1]) * (h * h / 6.0)
        )
    return out


def natural_cubic_spline(t: FloatArray, y: FloatArray, grid: FloatArray) -> FloatArray:
    """Natural cubic spline through (t, y) evaluated on grid (inside [t[0], t[-1]]).

    Cubic, not linear: linear interpolation is a low-pass that takes a third off HF power at
    60 bpm. (PCST uses MATLAB's not-a-knot spline; the two differ only near the ends.)
    """
    result: FloatArray = _spline_kernel(
        np.ascontiguousarray(t, dtype=np.float64),
        np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(grid, dtype=np.float64),
    )
    return result


def welch_psd(
    t_s: npt.ArrayLike,
    nn_ms: npt.ArrayLike,
    *,
    resample_hz: float = WELCH_RESAMPLE_HZ,
    segment_s: float = WELCH_SEGMENT_S,
) -> tuple[FloatArray, FloatArray]:
    """One-sided Welch density (ms^2/Hz) after cubic-spline resampling of the NN series.

    Hann window, 50 % overlap, each segment's mean removed: scipy.signal.welch's defaults, so a
    band's power (rectangle rule) is the variance of that component.
    """
    t, nn = _checked(t_s, nn_ms)
    grid = np.arange(t[0], t[-1], 1.0 / resample_hz)
    x = natural_cubic_spline(t, nn, grid)
    n_seg = min(x.size, round(segment_s * resample_hz))
    if n_seg < 8:
        raise ValueError("too few samples for a Welch estimate")
    step = n_seg // 2
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_seg) / n_seg)  # periodic Hann
    starts = np.arange(0, x.size - n_seg + 1, step)
    segments = np.stack([x[s : s + n_seg] for s in starts])
    segments = (segments - segments.mean(axis=1, keepdims=True)) * window
    power = np.mean(np.abs(np.fft.rfft(segments, axis=1)) ** 2, axis=0)
    power /= resample_hz * np.sum(window**2)
    power[1 : (None if n_seg % 2 else -1)] *= 2.0  # one-sided: double all but DC (and Nyquist)
    freqs: FloatArray = np.fft.rfftfreq(n_seg, 1.0 / resample_hz).astype(np.float64)
    return freqs, power.astype(np.float64)


def band_power(freqs_hz: FloatArray, psd: FloatArray, band: tuple[float, float]) -> float:
    """df * sum of psd over lo <= f <= hi (PCST's rectangle rule on a uniform grid)."""
    inside = (freqs_hz >= band[0]) & (freqs_hz <= band[1])
    return float(psd[inside].sum() * (freqs_hz[1] - freqs_hz[0]))


@dataclass(frozen=True, slots=True)
class FrequencyDomainHrv:
    """Band powers in ms^2 (scaling as requested) and LF/HF; NaN when there are too few beats."""

    vlf_ms2: float
    lf_ms2: float
    hf_ms2: float
    lf_hf: float  # not rounded (PCST rounds it to 2 decimals)
    method: str


def frequency_domain(
    t_s: npt.ArrayLike,
    nn_ms: npt.ArrayLike,
    *,
    method: Literal["lomb", "welch"] = "lomb",
    scaling: Literal["pcst", "density"] = "pcst",
) -> FrequencyDomainHrv:
    """VLF, LF, HF and LF/HF of NN intervals (ms) ending at times t_s (s), e.g. a 300 s window.

    method="lomb" (the default) is PCST's periodogram on the uneven series; "welch" resamples at
    4 Hz with a cubic spline first and is always density-scaled. scaling applies to Lomb only
    (see the module docstring).
    """
    t, nn = _checked(t_s, nn_ms)
    if nn.size < 8:
        nan = float("nan")
        return FrequencyDomainHrv(nan, nan, nan, nan, method)
    if method == "lomb":
        freqs = PCST_FREQS_HZ
        psd = lomb_psd(t, nn, freqs)
        if scaling == "density":
            psd = psd * (nn.mean() / 1000.0)
    elif method == "welch":
        freqs, psd = welch_psd(t, nn)
    else:
        raise ValueError(f"unknown method {method!r}")
    lf, hf = band_power(freqs, psd, LF_HZ), band_power(freqs, psd, HF_HZ)
    return FrequencyDomainHrv(
        vlf_ms2=band_power(freqs, psd, VLF_HZ),
        lf_ms2=lf,
        hf_ms2=hf,
        lf_hf=lf / hf if hf > 0 else float("nan"),
        method=method,
    )
