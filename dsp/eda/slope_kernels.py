"""dsp.eda.detect_scrs' detectors after the low-pass, as numba kernels.

The gateway runs the slope detector twice a window (the readable SCR count on the raw EDA and
the model's SCRs on the phasic trace); each call was a gradient, a convolution, two kernels,
masks and build_scr_set's half-recovery search, which those callers do not all need. This
kernel returns the responses' onset and peak indices; detect_scrs(prefiltered=True) stays the
reference, and tests/dsp/test_eda_scr_kernels.py holds the two equal.

The plain slope detector (slope_scr_kernel) is what the stress model's features were defined
with; response_scr_kernel (detect_scrs' default, the readable SCR count) adds the rules that make
a rise an SCR in the literature (dsp.eda.response_rules).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

from dsp.eda.detect import (
    _LOWPASS_HZ,
    _ONSET_SLOPE_US_PER_S,
    _SMOOTH_S,
    _refine_kernel,
    _scr_kernel,
)
from dsp.eda.response_rules import merge_close_kernel, response_mask_kernel
from dsp.filters import butter_lowpass_sos, prepared_sos, sosfiltfilt_kernel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True)
def _smoothed_slope(x: FloatArray, fs: float, width: int) -> FloatArray:
    """np.gradient(x) * fs, then np.convolve(., ones(width) / width, mode="same")."""
    n = x.shape[0]
    grad = np.empty(n)
    grad[0] = (x[1] - x[0]) * fs
    grad[n - 1] = (x[n - 1] - x[n - 2]) * fs
    for i in range(1, n - 1):
        grad[i] = (x[i + 1] - x[i - 1]) / 2.0 * fs
    if width <= 1:
        return grad
    tap = 1.0 / width
    lead = (width - 1) // 2  # 'same' keeps the full convolution's [lead, lead + n)
    out = np.empty(n)
    for k in range(n):
        full = k + lead
        total = 0.0
        for j in range(max(0, full - n + 1), min(width, full + 1)):
            total += grad[full - j] * tap
        out[k] = total
    return out


@numba.njit(cache=True)
def slope_scr_kernel(x: FloatArray, fs: float, min_amplitude: float) -> tuple[IntArray, IntArray]:
    """Onsets and peaks of the responses on the low-passed x (detect_scrs, method "slope")."""
    if x.shape[0] < 3:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    width = max(1, round(_SMOOTH_S * fs))
    onsets, peaks = _scr_kernel(_smoothed_slope(x, fs, width), _ONSET_SLOPE_US_PER_S)
    _refine_kernel(x, onsets, peaks, width)
    keep = np.empty(onsets.shape[0], dtype=np.bool_)
    for k in range(onsets.shape[0]):
        keep[k] = x[peaks[k]] - x[onsets[k]] >= min_amplitude
    return onsets[keep], peaks[keep]


@numba.njit(cache=True)
def response_scr_kernel(
    x: FloatArray, fs: float, min_amplitude: float
) -> tuple[IntArray, IntArray]:
    """Onsets and peaks of the SCRs on the low-passed x (detect_scrs, method "response"): the
    slope detector's rises that pass dsp.eda.response_rules."""
    onsets, peaks = slope_scr_kernel(x, fs, 0.0)
    keep = response_mask_kernel(x, fs, onsets, peaks, min_amplitude)
    return merge_close_kernel(x, fs, onsets[keep], peaks[keep])


def _checked(clean_us: FloatArray, fs: float) -> FloatArray:
    x = np.ascontiguousarray(clean_us, dtype=np.float64)
    if not fs > 0 or x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError("clean_us must be finite 1-D samples at a positive rate")
    return x


def slope_scr_indices(
    clean_us: FloatArray, fs: float, *, min_amplitude_us: float = 0.05
) -> tuple[IntArray, IntArray]:
    """(onsets, peaks) that detect_scrs(clean_us, fs, method="slope", prefiltered=True) reports."""
    x = _checked(clean_us, fs)
    result: tuple[IntArray, IntArray] = slope_scr_kernel(x, float(fs), float(min_amplitude_us))
    return result


def response_scr_indices(
    clean_us: FloatArray, fs: float, *, min_amplitude_us: float = 0.05
) -> tuple[IntArray, IntArray]:
    """(onsets, peaks) that detect_scrs(clean_us, fs, prefiltered=True) reports (the default)."""
    x = _checked(clean_us, fs)
    result: tuple[IntArray, IntArray] = response_scr_kernel(x, float(fs), float(min_amplitude_us))
    return result


@lru_cache(maxsize=8)
def clean_eda_design(fs: float) -> tuple[FloatArray, int]:
    """dsp.eda.clean_eda's low-pass as dsp.filters.sosfiltfilt prepares it (sections, full pad);
    no sections when clean_eda does not filter at this rate."""
    if not fs > 2.5 * _LOWPASS_HZ:
        return np.zeros((0, 6)), 0
    sos = butter_lowpass_sos(_LOWPASS_HZ, fs)
    return prepared_sos(sos.tobytes(), sos.shape[0])


@numba.njit(cache=True)
def skin_kernel(
    eda: FloatArray, fs: float, lowpass: FloatArray, pad: int, min_amplitude: float
) -> tuple[float, int]:
    """(median of clean_eda(eda), number of SCRs detect_scrs finds on it by default); NaN median
    if eda is not finite."""
    for v in eda:
        if not math.isfinite(v):
            return np.nan, 0
    x = eda
    if lowpass.shape[0] > 0 and eda.shape[0] > 1:
        x = sosfiltfilt_kernel(lowpass, eda, min(pad, eda.shape[0] - 1))
    return np.median(x), response_scr_kernel(x, fs, min_amplitude)[1].shape[0]
