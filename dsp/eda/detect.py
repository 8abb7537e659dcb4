"""Skin-conductance responses (SCRs) and tonic level for 4-32 Hz wrist and finger EDA.

Three SCR detectors, chosen by `detect_scrs(method=...)`:

* "response" (the default, and the live SCR count): the slope detector's rises kept when they
  are SCRs as the literature defines one (rise within 4 s, amplitude above the tonic level and
  above the noise; dsp.eda.response_rules). It needs no model fit, runs in a few ms on a Pi,
  means the same thing in every window, and is held against several tools in
  docs/validation.md.
* "slope": derivative-based on the 1 Hz low-passed signal with an absolute amplitude floor and
  no other rule; the stress model's SCR features were defined with it (dsp.stress).
* "phasic_relative": NeuroKit2's default definition (`dsp.eda.phasic`), peaks of the 0.05 Hz
  high-passed signal kept relative to the largest one. For whole sessions reviewed offline and
  for validation against NeuroKit2; not for live windows (see docs/validation.md).
"""

from __future__ import annotations

from typing import Literal

import numba
import numpy as np
import numpy.typing as npt

from dsp.eda.phasic import RELATIVE_MIN, decompose_eda, find_phasic_scrs
from dsp.eda.response_rules import merge_close_kernel, response_mask_kernel
from dsp.eda.scr_record import (
    NOT_RECOVERED,
    FloatArray,
    IntArray,
    ScrSet,
    as_eda_array,
    build_scr_set,
    empty_scr_set,
)
from dsp.filters import butter_lowpass_sos, sosfiltfilt

__all__ = [
    "NOT_RECOVERED",
    "ScrMethod",
    "ScrSet",
    "clean_eda",
    "decompose_eda",
    "detect_scrs",
    "scr_rate_per_min",
    "tonic_level_us",
]

ScrMethod = Literal["response", "slope", "phasic_relative"]
_LOWPASS_HZ = 1.0  # SCRs rise over 1-3 s; faster content is sensor and motion noise
_SMOOTH_S = 0.5  # moving average on the derivative, so noise does not split one rise in two
_ONSET_SLOPE_US_PER_S = 0.01  # a rise slower than this is drift, not a response


def clean_eda(eda_us: npt.ArrayLike, fs: float, *, cutoff_hz: float = _LOWPASS_HZ) -> FloatArray:
    """EDA (µS at fs Hz) low-passed at cutoff_hz (zero-phase, 2nd-order Butterworth).

    1 Hz keeps every SCR (they rise over 1-3 s) and removes quantisation steps and electrode
    noise; it is filtered only when fs > 2.5 x cutoff, so a 4 Hz E4 stream is filtered at 1 Hz
    while slower streams pass unchanged (there is nothing above 1 Hz left to remove).
    """
    x = as_eda_array(eda_us, fs)
    if fs > 2.5 * cutoff_hz and x.size > 1:
        return sosfiltfilt(butter_lowpass_sos(cutoff_hz, fs), x)
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


@numba.njit(cache=True)
def _refine_kernel(x: FloatArray, onsets: IntArray, peaks: IntArray, reach: int) -> None:
    """Move each peak to the highest sample of x up to reach past it, then each onset to the
    lowest sample between onset and peak (in place): the smoothed slope's crossings lag."""
    for k in range(onsets.shape[0]):
        end = min(x.shape[0], peaks[k] + reach + 1)
        peaks[k] = onsets[k] + np.argmax(x[onsets[k] : end])
        onsets[k] = onsets[k] + np.argmin(x[onsets[k] : peaks[k] + 1])


def detect_scrs(
    eda_us: npt.ArrayLike,
    fs: float,
    *,
    method: ScrMethod = "response",
    min_amplitude_us: float = 0.05,
    relative_min: float = RELATIVE_MIN,
    prefiltered: bool = False,
) -> ScrSet:
    """SCRs in skin conductance (µS) sampled at fs Hz.

    method="response" (default): the slope detector's rises (with no amplitude floor of its
    own) kept when they rise within 4 s and their amplitude above the tonic level reaches
    min_amplitude_us and three noise standard deviations; peaks closer than 2 s are one
    response (dsp.eda.response_rules).

    method="slope": low-pass 1 Hz, differentiate (µS/s), smooth the derivative over
    0.5 s; an SCR starts where the slope rises above 0.01 µS/s (moved back to where the rise
    began) and peaks at the next zero crossing of the slope; both are then moved to the lowest
    and highest samples nearby, since the smoothed slope lags. Responses smaller than
    min_amplitude_us (peak minus onset level; 0.05 µS is a common floor, 0.01 for very clean
    lab data) are dropped. Half recovery is searched up to the next response's onset.

    method="phasic_relative": no low-pass (pass a cleaned signal); phasic = 0.05 Hz high-pass,
    responses kept when their prominence is >= relative_min x the largest (NeuroKit2's
    default, see dsp.eda.phasic). min_amplitude_us is not used.

    prefiltered=True (response and slope): eda_us is already clean_eda's output, so a caller
    that needs the cleaned signal too filters once.
    """
    if method == "phasic_relative":
        return find_phasic_scrs(decompose_eda(eda_us, fs).phasic_us, fs, relative_min=relative_min)
    if method not in {"response", "slope"}:
        raise ValueError(
            f"unknown SCR method {method!r}; use 'response', 'slope' or 'phasic_relative'"
        )
    x = as_eda_array(eda_us, fs) if prefiltered else clean_eda(eda_us, fs)
    if x.size < 3:
        return empty_scr_set()
    slope = np.gradient(x) * fs
    width = max(1, round(_SMOOTH_S * fs))
    if width > 1:
        slope = np.convolve(slope, np.ones(width) / width, mode="same")
    onsets, peaks = _scr_kernel(np.ascontiguousarray(slope), _ONSET_SLOPE_US_PER_S)
    _refine_kernel(x, onsets, peaks, width)
    if method == "response":
        kept = response_mask_kernel(x, fs, onsets, peaks, float(min_amplitude_us))
        onsets, peaks = merge_close_kernel(x, float(fs), onsets[kept], peaks[kept])
    else:
        kept = x[peaks] - x[onsets] >= min_amplitude_us
        onsets, peaks = onsets[kept], peaks[kept]
    limits = np.append(onsets[1:], x.size)
    return build_scr_set(x, fs, onsets=onsets, peaks=peaks, limits=limits)


def tonic_level_us(eda_us: npt.ArrayLike, fs: float) -> float:
    """Skin conductance level: median of the 1 Hz low-passed signal (robust to the SCRs on it)."""
    x = clean_eda(eda_us, fs)
    if x.size == 0:
        raise ValueError("eda_us is empty")
    return float(np.median(x))


def scr_rate_per_min(scrs: ScrSet, duration_s: float) -> float:
    """SCRs per minute over a window of duration_s seconds (non-specific SCR frequency)."""
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    return 60.0 * len(scrs) / duration_s
