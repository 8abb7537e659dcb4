"""dsp.ecg.detect_r_peaks for chest-strap rates (under 240 Hz: no block means) in one numba call.

The gateway detects beats on ~20 s of 130 Hz ECG every window; detect_r_peaks there spent more
time in its twenty-odd numpy and kernel calls than in the filtering. detect_r_peaks_fused runs
the same steps (same filter designs and pads as dsp.filters.sosfiltfilt, the same kernels from
dsp.ecg_kernels, the same initial levels) inside one kernel; above 240 Hz it defers to
detect_r_peaks. tests/dsp/test_ecg_fused.py holds the two equal.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

from dsp import ecg
from dsp.ecg_kernels import (
    _decide_kernel,
    _energy_kernel,
    _local_peaks_kernel,
    _window_argmax,
    refine_kernel,
)
from dsp.filters import _prepared, _sosfiltfilt_kernel, butter_bandpass_sos, butter_highpass_sos

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@lru_cache(maxsize=8)
def _plan(fs: float) -> tuple[FloatArray, int, FloatArray, int, npt.NDArray[np.int64]]:
    """Band-pass and 0.5 Hz high-pass (sections, pad) and the integer widths, once per rate."""
    band, band_pad = _prepared(*_bytes(butter_bandpass_sos(*ecg._BAND_HZ, fs)))
    high, high_pad = _prepared(*_bytes(butter_highpass_sos(0.5, fs)))
    widths = np.array(
        [
            max(1, round(ecg._INTEGRATION_S * fs)),
            max(1, round(ecg._CANDIDATE_HALF_S * fs)),
            round(ecg._SEARCH_HALF_S * fs),
            round(ecg._REFRACTORY_S * fs),
            round(ecg._T_WAVE_S * fs),
            round(ecg._STALE_S * fs),
            round(ecg._REFINE_HALF_S * fs),
            int(10 * fs),
            max(1, int(2 * fs)),
        ],
        dtype=np.int64,
    )
    return band, band_pad, high, high_pad, widths


def _bytes(sos: FloatArray) -> tuple[bytes, int]:
    return sos.tobytes(), sos.shape[0]


@numba.njit(cache=True)
def _initial_levels_kernel(mwi: FloatArray, head_n: int, step: int) -> tuple[float, float]:
    """dsp.ecg._initial_levels: median of the 2 s maxima and of the first 10 s."""
    head = mwi[:head_n]
    full = head.shape[0] // step
    extra = 1 if head.shape[0] > full * step else 0
    maxima = np.empty(full + extra)
    for b in range(full):
        maxima[b] = head[b * step : (b + 1) * step].max()
    if extra:
        maxima[full] = head[full * step :].max()
    return np.median(maxima), np.median(head)


@numba.njit(cache=True)
def _detect_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    x: FloatArray,
    fs: float,
    band_sos: FloatArray,
    band_pad: int,
    high_sos: FloatArray,
    high_pad: int,
    w: npt.NDArray[np.int64],
) -> IntArray:
    n = x.shape[0]
    band = _sosfiltfilt_kernel(band_sos, x, min(band_pad, n - 1))
    abs_deriv, mwi = _energy_kernel(band, w[0])
    idx = _local_peaks_kernel(mwi, w[1])
    if idx.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    slope = abs_deriv[_window_argmax(abs_deriv, idx, w[2])]
    spki0, npki0 = _initial_levels_kernel(mwi, w[7], w[8])
    is_qrs = _decide_kernel(idx, mwi[idx], slope, spki0, npki0, w[3], w[4], fs, w[5])
    beats = _window_argmax(np.abs(band), idx[is_qrs], w[2])
    if beats.shape[0] == 0:
        return beats
    hp = _sosfiltfilt_kernel(high_sos, x, min(high_pad, n - 1))
    up, down, up_val, down_val = refine_kernel(hp, np.zeros(1), 1, beats, w[6])
    polarity_up = np.count_nonzero(up_val >= -down_val) * 2 >= beats.shape[0]
    peaks: IntArray = np.unique(up if polarity_up else down)
    inner: IntArray = peaks[(peaks > 0) & (peaks < n - 1)]  # an edge is no confirmed extremum
    return inner


def detect_r_peaks_fused(ecg_signal: npt.ArrayLike, fs: float) -> IntArray:
    """detect_r_peaks(ecg_signal, fs) in one kernel call when fs < 240 Hz (see the docstring)."""
    x = np.ascontiguousarray(ecg_signal, dtype=np.float64)
    if x.ndim != 1 or not 50 <= fs < 2 * ecg._DETECTION_HZ or x.size < int(fs):
        return ecg.detect_r_peaks(x, fs)  # other rates, short input or its clear errors
    if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):
        return ecg.detect_r_peaks(x, fs)
    band, band_pad, high, high_pad, widths = _plan(float(fs))
    peaks: IntArray = _detect_kernel(x, float(fs), band, band_pad, high, high_pad, widths)
    return peaks
