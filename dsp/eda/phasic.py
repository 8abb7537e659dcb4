"""Tonic/phasic decomposition and the phasic SCR detector with a relative amplitude threshold.

This reproduces what NeuroKit2's defaults mean (`eda_phasic(method="highpass")` then
`eda_peaks(method="neurokit", amplitude_min=0.1)`), written from their definitions:

* tonic = 2nd-order Butterworth low-pass at 0.05 Hz, phasic = the matching high-pass, both
  zero-phase (forward-backward); this is Biopac AcqKnowledge's high-pass method.
* a candidate response is every local maximum of the phasic signal (strict rise, optional
  plateau, strict fall; a plateau's peak is its middle sample, rounded down);
* its size is its topographic prominence, and the relative threshold keeps candidates whose
  prominence is at least `relative_min` (0.1) of the largest prominence in the signal;
* its onset is the nearest local minimum before the peak; a peak with none is dropped;
* amplitude = phasic at the peak minus phasic at the onset.

The relative threshold makes sense for a whole session reviewed offline; a live window has no
"largest response" to be relative to, which is why the gateway's default detector is the
slope detector with an absolute floor (`dsp.eda.detect_scrs(method="slope")`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from dsp.eda.scr_record import (
    FloatArray,
    IntArray,
    ScrSet,
    as_eda_array,
    build_scr_set,
    empty_scr_set,
)
from dsp.filters import butter_highpass_sos, butter_lowpass_sos, sosfiltfilt

TONIC_CUTOFF_HZ = 0.05  # slower than any SCR (rise 1-3 s, recovery 2-10 s): the tonic level
RELATIVE_MIN = 0.1  # NeuroKit2's amplitude_min: 10 % of the largest response


@dataclass(frozen=True, slots=True)
class EdaComponents:
    """Tonic (skin conductance level) and phasic (responses) parts of an EDA signal, in µS."""

    tonic_us: FloatArray
    phasic_us: FloatArray


def decompose_eda(
    eda_us: npt.ArrayLike, fs: float, *, cutoff_hz: float = TONIC_CUTOFF_HZ
) -> EdaComponents:
    """Split EDA (µS at fs Hz) at cutoff_hz with zero-phase 2nd-order Butterworth filters.

    Note tonic + phasic is close to, not exactly, the input: they are two separate filters.
    """
    x = as_eda_array(eda_us, fs)
    return EdaComponents(
        tonic_us=sosfiltfilt(butter_lowpass_sos(cutoff_hz, fs), x),
        phasic_us=sosfiltfilt(butter_highpass_sos(cutoff_hz, fs), x),
    )


@numba.njit(cache=True)
def _local_maxima_kernel(x: FloatArray) -> IntArray:
    """Indices of local maxima: strict rise, flat run, strict fall; the run's middle (floor)."""
    n = x.shape[0]
    out = np.empty(max(n // 2, 1), dtype=np.int64)
    count = 0
    i = 1
    while i < n - 1:
        if x[i] > x[i - 1]:
            end = i  # last sample of the flat run starting at i
            while end + 1 < n - 1 and x[end + 1] == x[i]:
                end += 1
            if x[end + 1] < x[i]:
                out[count] = (i + end) // 2
                count += 1
            i = end
        i += 1
    return out[:count]


@numba.njit(cache=True)
def _prominence_kernel(x: FloatArray, peaks: IntArray) -> FloatArray:
    """Height above the higher of the two lowest points reachable without climbing above it."""
    out = np.empty(peaks.shape[0])
    for k in range(peaks.shape[0]):
        p = peaks[k]
        height = x[p]
        left_min = height
        i = p
        while i >= 0 and x[i] <= height:
            left_min = min(left_min, x[i])
            i -= 1
        right_min = height
        i = p
        while i < x.shape[0] and x[i] <= height:
            right_min = min(right_min, x[i])
            i += 1
        out[k] = height - max(left_min, right_min)
    return out


def find_phasic_scrs(
    phasic_us: npt.ArrayLike, fs: float, *, relative_min: float = RELATIVE_MIN
) -> ScrSet:
    """SCRs in a phasic EDA signal (µS at fs Hz), kept when prominence >= relative_min x max.

    Half recovery is searched from the peak to the lowest point before the next kept peak.
    """
    if not 0.0 <= relative_min <= 1.0:
        raise ValueError(f"relative_min must lie in [0, 1], got {relative_min}")
    x = as_eda_array(phasic_us, fs)
    peaks = _local_maxima_kernel(x)
    if peaks.size == 0:
        return empty_scr_set()
    prominence = _prominence_kernel(x, peaks)
    peaks = peaks[prominence / prominence.max() >= relative_min]
    troughs = _local_maxima_kernel(-x)
    before = np.searchsorted(troughs, peaks, side="left") - 1
    has_onset = before >= 0
    peaks, onsets = peaks[has_onset], troughs[before[has_onset]]
    if peaks.size == 0:
        return empty_scr_set()
    next_peak = np.append(peaks[1:], x.size)
    lowest = [p + int(np.argmin(x[p:q])) for p, q in zip(peaks, next_peak, strict=True)]
    limits = np.asarray(lowest, dtype=np.int64) + 1  # the lowest point itself may be it
    return build_scr_set(x, fs, onsets=onsets, peaks=peaks, limits=limits)
