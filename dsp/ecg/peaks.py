"""R-peak detection (Pan-Tompkins style) for chest-strap and clinical single-lead ECG.

Every threshold is relative to the signal itself, so µV and mV input give the same peaks, and
the band edges are in Hz, so 130 Hz straps and 250-1000 Hz clinical recordings share one path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.ecg import params as p
from dsp.ecg.fused import fused_r_peaks
from dsp.ecg.kernels import (
    _decide_kernel,
    _energy_kernel,
    _local_peaks_kernel,
    _window_argmax,
    block_means_kernel,
    block_means_reference,
    decide_reference,
    energy_reference,
    local_peaks_reference,
    refine_kernel,
    refine_reference,
    window_argmax_reference,
)
from dsp.filters import butter_bandpass_sos, butter_highpass_sos, sosfiltfilt

# The kernels and their twins live in dsp.ecg.kernels; re-exported for existing imports.
__all__ = [
    "_decide_kernel",
    "_energy_kernel",
    "_local_peaks_kernel",
    "_window_argmax",
    "block_means_kernel",
    "block_means_reference",
    "decide_reference",
    "detect_r_peaks",
    "detect_r_peaks_reference",
    "energy_reference",
    "local_peaks_reference",
    "refine_kernel",
    "refine_reference",
    "window_argmax_reference",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_BAND_HZ = p.BAND_HZ
_INTEGRATION_S = p.INTEGRATION_S
_CANDIDATE_HALF_S = p.CANDIDATE_HALF_S
_REFRACTORY_S = p.REFRACTORY_S
_T_WAVE_S = p.T_WAVE_S
_SEARCH_HALF_S = p.SEARCH_HALF_S
_REFINE_HALF_S = p.REFINE_HALF_S
_DETECTION_HZ = p.DETECTION_HZ
_STALE_S = p.STALE_S


def _initial_levels(mwi: FloatArray, fs: float) -> tuple[float, float]:
    """Signal and noise levels from the first 10 s: median of 2 s maxima, robust to one spike."""
    head = mwi[: int(10 * fs)]
    step = max(1, int(2 * fs))
    full = head.size // step
    maxima = head[: full * step].reshape(full, step).max(axis=1)
    if head.size > full * step:
        maxima = np.append(maxima, head[full * step :].max())
    return _median(maxima), _median(head)


def _median(x: FloatArray) -> float:
    """np.median of a non-empty 1-D array without its generic machinery (called every window)."""
    half = x.size // 2
    if x.size % 2:
        return float(np.partition(x, half)[half])
    part = np.partition(x, (half - 1, half))
    return float((part[half - 1] + part[half]) / 2.0)


def _coarse(x: FloatArray, fs: float, *, full_rate: bool) -> tuple[FloatArray, int]:
    """Block means of D samples, D = fs // 120 (at least 1): detection needs no more than
    ~120-240 Hz, and a block mean nulls the mains harmonics that would alias onto the QRS band."""
    factor = 1 if full_rate else max(1, int(fs // _DETECTION_HZ))
    if factor == 1:
        return x, 1
    return block_means_kernel(x, factor), factor


def _refine(
    x: FloatArray, coarse: FloatArray, beats: IntArray, *, fs: float, factor: int
) -> IntArray:
    """Each beat moved to the R wave: the extremum of the 0.5 Hz high-passed ECG within +-50 ms,
    up or down by the record's dominant QRS polarity.

    The high-pass runs at the coarse rate; with factor > 1 the full-rate signal is x minus that
    baseline, interpolated, and only evaluated inside the windows (refine_kernel): the baseline
    is smooth, and every fast component of x (the R wave) is kept exactly.
    """
    hp = sosfiltfilt(butter_highpass_sos(0.5, fs / factor), coarse)
    half = round(_REFINE_HALF_S * fs) + factor // 2
    if factor == 1:
        signal, baseline = hp, np.zeros(1)
    else:
        signal, baseline = x, np.ascontiguousarray(coarse - hp)
    up, down, up_val, down_val = refine_kernel(signal, baseline, factor, beats, half)
    polarity_up = np.count_nonzero(up_val >= -down_val) * 2 >= beats.size
    chosen: IntArray = up if polarity_up else down
    return chosen


def detect_r_peaks(ecg: npt.ArrayLike, fs: float, *, full_rate: bool = False) -> IntArray:
    """Sorted, unique sample indices of R peaks in a single-lead ECG sampled at fs Hz.

    Band-pass 5-15 Hz, differentiate, square, integrate over 150 ms, take candidate maxima, let
    Pan-Tompkins thresholds decide, then place each beat on the R wave: the band-passed extremum
    within +-75 ms, then the extremum of the 0.5 Hz high-passed signal within +-50 ms whose sign
    is the record's dominant QRS polarity (so inverted leads are handled). Above 240 Hz the
    detection runs on block means at 120-240 Hz (see _coarse) and only the final placement uses
    every sample: 3-8x less filtering for clinical rates, the same beats within a sample or two.
    full_rate=True detects at fs throughout: slower, and what the tests compare the coarse
    detection with. All steps run in one kernel call (dsp.ecg.fused);
    detect_r_peaks_reference is the same steps as numpy glue, and the tests hold them equal.
    """
    x = _checked(ecg, fs)
    if x.size < int(fs):
        return np.zeros(0, dtype=np.int64)
    return fused_r_peaks(x, float(fs), full_rate=full_rate)


def _checked(ecg: npt.ArrayLike, fs: float) -> FloatArray:
    """The ECG as contiguous float64, or the clear error for input no detector can use."""
    x = np.ascontiguousarray(ecg, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("ecg must be one-dimensional")
    if fs < 50:
        raise ValueError(f"sampling rate {fs} Hz is too low for QRS detection")
    if not np.isfinite(x.sum()) and not np.all(np.isfinite(x)):  # one pass when all is well
        raise ValueError("ecg contains NaN or infinite samples")
    return x


def detect_r_peaks_reference(ecg: npt.ArrayLike, fs: float, *, full_rate: bool = False) -> IntArray:
    """numpy twin of detect_r_peaks: the same steps as separate filter and kernel calls."""
    x = _checked(ecg, fs)
    if x.size < int(fs):
        return np.zeros(0, dtype=np.int64)
    coarse, factor = _coarse(x, fs, full_rate=full_rate)
    rate = fs / factor
    band = sosfiltfilt(butter_bandpass_sos(*_BAND_HZ, rate), coarse)
    abs_deriv, mwi = _energy_kernel(band, max(1, round(_INTEGRATION_S * rate)))
    idx = _local_peaks_kernel(mwi, max(1, round(_CANDIDATE_HALF_S * rate)))
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    slope = abs_deriv[_window_argmax(abs_deriv, idx, round(_SEARCH_HALF_S * rate))]
    spki0, npki0 = _initial_levels(mwi, rate)
    is_qrs = _decide_kernel(
        idx,
        np.ascontiguousarray(mwi[idx]),
        np.ascontiguousarray(slope),
        spki0,
        npki0,
        round(_REFRACTORY_S * rate),
        round(_T_WAVE_S * rate),
        float(rate),
        round(_STALE_S * rate),
    )
    qrs = np.ascontiguousarray(idx[is_qrs])
    beats = _window_argmax(np.abs(band), qrs, round(_SEARCH_HALF_S * rate))
    if beats.size == 0:
        return beats
    beats = beats * factor + (factor - 1) // 2
    peaks: IntArray = np.unique(_refine(x, coarse, beats, fs=fs, factor=factor))
    return peaks[(peaks > 0) & (peaks < x.size - 1)]  # an edge sample is no confirmed extremum
