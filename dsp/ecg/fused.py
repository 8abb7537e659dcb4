"""dsp.ecg.detect_r_peaks' steps in one numba call, at every rate.

The gateway detects beats on ~20 s of 130 Hz ECG every window, and the numpy path spent more
time in its twenty-odd numpy and kernel calls than in the filtering; the filtering itself is
bound by the recursions' latency, so both zero-phase filters run in one loop
(dsp.ecg.filter_pair). detect_kernel runs the same steps as dsp.ecg.detect_r_peaks_reference (block
means above 240 Hz, the same filter designs and pads as dsp.filters.sosfiltfilt, the same
kernels from dsp.ecg.kernels, the same initial levels) inside one kernel;
tests/dsp/test_ecg_fused.py holds the two equal at strap and clinical rates.

numba's cache does not notice a change in a kernel this one calls from dsp.ecg.kernels (the
decision rule) by itself; dsp/__init__.py names the cache folder by a digest of every dsp
source, so such a change starts a fresh cache.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

from dsp.ecg import params as p
from dsp.ecg.filter_pair import two_filtfilt_kernel
from dsp.ecg.kernels import (
    _decide_kernel,
    _energy_kernel,
    _local_peaks_kernel,
    _window_argmax,
    block_means_kernel,
    refine_kernel,
)
from dsp.filters import butter_bandpass_sos, butter_highpass_sos, prepared_sos

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@lru_cache(maxsize=16)
def plan(fs: float, factor: int) -> tuple[FloatArray, int, FloatArray, int, IntArray]:
    """Band-pass and high-pass at the detection rate (sections, pad) and the integer widths."""
    rate = fs / factor
    band, band_pad = prepared_sos(*_bytes(butter_bandpass_sos(*p.BAND_HZ, rate)))
    high, high_pad = prepared_sos(*_bytes(butter_highpass_sos(p.HIGHPASS_HZ, rate)))
    if band.shape[0] != 2 or high.shape[0] != 1:  # two_filtfilt_kernel's shapes
        raise ValueError("the detector's filters changed order: update dsp.ecg.filter_pair")
    widths = np.array(
        [
            max(1, round(p.INTEGRATION_S * rate)),
            max(1, round(p.CANDIDATE_HALF_S * rate)),
            round(p.SEARCH_HALF_S * rate),
            round(p.REFRACTORY_S * rate),
            round(p.T_WAVE_S * rate),
            round(p.STALE_S * rate),
            round(p.REFINE_HALF_S * fs) + factor // 2,  # at the full rate
            int(p.INITIAL_S * rate),
            max(1, int(p.INITIAL_BLOCK_S * rate)),
            factor,
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
def detect_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    x: FloatArray,
    rate: float,
    band_sos: FloatArray,
    band_pad: int,
    high_sos: FloatArray,
    high_pad: int,
    w: IntArray,
) -> IntArray:
    """R peaks of finite x (at least 1 s long) detected at `rate` = fs / w[9] (see plan)."""
    factor = w[9]
    coarse = block_means_kernel(x, factor) if factor > 1 else x
    m = coarse.shape[0]
    band, hp = two_filtfilt_kernel(
        band_sos, min(band_pad, m - 1), high_sos, min(high_pad, m - 1), coarse
    )
    abs_deriv, mwi = _energy_kernel(band, w[0])
    idx = _local_peaks_kernel(mwi, w[1])
    if idx.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    slope = abs_deriv[_window_argmax(abs_deriv, idx, w[2])]
    spki0, npki0 = _initial_levels_kernel(mwi, w[7], w[8])
    is_qrs = _decide_kernel(idx, mwi[idx], slope, spki0, npki0, w[3], w[4], rate, w[5])
    beats = _window_argmax(np.abs(band), idx[is_qrs], w[2])
    if beats.shape[0] == 0:
        return beats
    beats = beats * factor + (factor - 1) // 2
    if factor == 1:
        up, down, up_val, down_val = refine_kernel(hp, np.zeros(1), 1, beats, w[6])
    else:
        up, down, up_val, down_val = refine_kernel(x, coarse - hp, factor, beats, w[6])
    polarity_up = np.count_nonzero(up_val >= -down_val) * 2 >= beats.shape[0]
    peaks: IntArray = np.unique(up if polarity_up else down)
    n = x.shape[0]
    inner: IntArray = peaks[(peaks > 0) & (peaks < n - 1)]  # an edge is no confirmed extremum
    return inner


def fused_r_peaks(x: FloatArray, fs: float, *, full_rate: bool) -> IntArray:
    """detect_kernel on a checked, contiguous float64 x of at least fs samples (dsp.ecg)."""
    factor = p.detection_factor(fs, full_rate=full_rate)
    band, band_pad, high, high_pad, widths = plan(float(fs), factor)
    peaks: IntArray = detect_kernel(x, fs / factor, band, band_pad, high, high_pad, widths)
    return peaks
