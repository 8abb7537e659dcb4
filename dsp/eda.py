"""Skin-conductance responses (SCRs) and tonic level for 4-32 Hz wrist and finger EDA.

Derivative-based rather than deconvolution-based: it needs no model fit, runs in a few ms on a
Pi, and a response's onset, peak and amplitude mean what a reader expects them to mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import butter_lowpass_sos, sosfiltfilt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_LOWPASS_HZ = 1.0  # SCRs rise over 1-3 s; faster content is sensor and motion noise
_SMOOTH_S = 0.5  # moving average on the derivative, so noise does not split one rise in two
_ONSET_SLOPE_US_PER_S = 0.01  # a rise slower than this is drift, not a response


@dataclass(frozen=True, slots=True)
class ScrSet:
    """Detected SCRs: onset and peak sample indices, amplitude (µS) and onset-to-peak time (s)."""

    onset_idx: IntArray
    peak_idx: IntArray
    amplitude_us: FloatArray
    rise_time_s: FloatArray

    def __len__(self) -> int:
        return int(self.peak_idx.size)


def _smooth(eda_us: npt.ArrayLike, fs: float) -> FloatArray:
    """Low-pass at 1 Hz when the rate allows it (fs > 2.5 Hz); slower rates pass unchanged."""
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    x = np.ascontiguousarray(eda_us, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("eda_us must be one-dimensional")
    if not np.all(np.isfinite(x)):
        raise ValueError("eda_us contains NaN or infinite samples")
    if fs > 2.5 * _LOWPASS_HZ and x.size > 1:
        return sosfiltfilt(butter_lowpass_sos(_LOWPASS_HZ, fs), x)
    return x


@numba.njit(cache=True)
def _scr_kernel(slope: FloatArray, threshold: float) -> tuple[IntArray, IntArray]:
    """Onset: where the rise began before slope passed threshold; peak: next slope zero crossing."""
    n = slope.shape[0]
    onsets = np.empty(n, dtype=np.int64)
    peaks = np.empty(n, dtype=np.int64)
    count = 0
    last_peak = 0
    i = 1
    while i < n:
        if slope[i] > threshold and slope[i - 1] <= threshold:
            onset = i - 1
            while onset > last_peak and slope[onset] > 0:
                onset -= 1
            j = i
            while j < n and slope[j] > 0:
                j += 1
            if j >= n:
                break  # the signal ends mid-rise: no peak yet
            onsets[count] = onset
            peaks[count] = j
            count += 1
            last_peak = j
            i = j
        i += 1
    return onsets[:count], peaks[:count]


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


def detect_scrs(eda_us: npt.ArrayLike, fs: float, *, min_amplitude_us: float = 0.05) -> ScrSet:
    """SCRs in skin conductance (µS) sampled at fs Hz.

    Low-pass 1 Hz, differentiate (µS/s), smooth the derivative over 0.5 s; an SCR starts where
    the slope rises above 0.01 µS/s (moved back to where the rise began) and peaks at the next
    zero crossing of the slope. Responses smaller than min_amplitude_us (peak minus onset
    level; 0.05 µS is a common floor, 0.01 for very clean lab data) are dropped.
    """
    x = _smooth(eda_us, fs)
    empty = ScrSet(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    if x.size < 3:
        return empty
    slope = np.gradient(x) * fs
    width = max(1, round(_SMOOTH_S * fs))
    if width > 1:
        slope = np.convolve(slope, np.ones(width) / width, mode="same")
    onsets, peaks = _scr_kernel(np.ascontiguousarray(slope), _ONSET_SLOPE_US_PER_S)
    amplitude = x[peaks] - x[onsets]
    big = amplitude >= min_amplitude_us
    return ScrSet(
        onset_idx=onsets[big],
        peak_idx=peaks[big],
        amplitude_us=amplitude[big],
        rise_time_s=(peaks[big] - onsets[big]) / fs,
    )


def tonic_level_us(eda_us: npt.ArrayLike, fs: float) -> float:
    """Skin conductance level: median of the 1 Hz low-passed signal (robust to the SCRs on it)."""
    x = _smooth(eda_us, fs)
    if x.size == 0:
        raise ValueError("eda_us is empty")
    return float(np.median(x))


def scr_rate_per_min(scrs: ScrSet, duration_s: float) -> float:
    """SCRs per minute over a window of duration_s seconds (non-specific SCR frequency)."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    return 60.0 * len(scrs) / duration_s
