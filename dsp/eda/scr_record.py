"""The SCR record both detectors return, and the half-recovery measurement they share.

Kept apart from the detectors so `dsp.eda.detect` (slope detector) and `dsp.eda.phasic` (phasic,
NeuroKit2-style detector) describe a response with the same fields and the same units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NOT_RECOVERED = -1  # half_recovery_idx of a response that does not fall back far enough


@dataclass(frozen=True, slots=True)
class ScrSet:
    """Detected SCRs, one entry per response, indices into the analysed signal.

    onset_idx, peak_idx: samples where the rise starts and where it tops out.
    amplitude_us: peak minus onset level (µS). rise_time_s: onset to peak (s).
    half_recovery_idx: first sample after the peak at or below onset level + amplitude / 2,
    searched up to the next response (slope: its onset; phasic: the lowest point before its
    peak); NOT_RECOVERED (-1) if there is none.
    half_recovery_time_s: peak to half recovery (s), NaN when not recovered.
    """

    onset_idx: IntArray
    peak_idx: IntArray
    amplitude_us: FloatArray
    rise_time_s: FloatArray
    half_recovery_idx: IntArray
    half_recovery_time_s: FloatArray

    def __len__(self) -> int:
        return int(self.peak_idx.size)


def as_eda_array(eda_us: npt.ArrayLike, fs: float) -> FloatArray:
    """eda_us as contiguous float64 samples, or a ValueError saying what is wrong with it."""
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    x = np.ascontiguousarray(eda_us, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("eda_us must be one-dimensional")
    if not np.all(np.isfinite(x)):
        raise ValueError("eda_us contains NaN or infinite samples")
    return x


def empty_scr_set() -> ScrSet:
    """No responses (typed empty arrays, so callers never special-case None)."""
    none_i, none_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    return ScrSet(none_i, none_i.copy(), none_f, none_f.copy(), none_i.copy(), none_f.copy())


@numba.njit(cache=True)
def _half_recovery_kernel(
    x: FloatArray, peaks: IntArray, levels: FloatArray, limits: IntArray
) -> IntArray:
    """First j in (peak, limit) with x[j] <= level, else -1; limit is exclusive."""
    out = np.full(peaks.shape[0], -1, dtype=np.int64)
    for k in range(peaks.shape[0]):
        for j in range(peaks[k] + 1, min(limits[k], x.shape[0])):
            if x[j] <= levels[k]:
                out[k] = j
                break
    return out


def build_scr_set(
    x: FloatArray, fs: float, *, onsets: IntArray, peaks: IntArray, limits: IntArray
) -> ScrSet:
    """Amplitude, rise time and half recovery of responses on x (sampled at fs Hz).

    limits[k] (exclusive) bounds the search for response k's half recovery, so a recovery is
    never read off the next response's rise.
    """
    onsets = np.ascontiguousarray(onsets, dtype=np.int64)
    peaks = np.ascontiguousarray(peaks, dtype=np.int64)
    amplitude = x[peaks] - x[onsets]
    levels = np.ascontiguousarray(x[onsets] + 0.5 * amplitude)
    recovery = _half_recovery_kernel(x, peaks, levels, np.ascontiguousarray(limits, np.int64))
    recovered = recovery != NOT_RECOVERED
    recovery_s = np.where(recovered, (recovery - peaks) / fs, np.nan)
    return ScrSet(
        onset_idx=onsets,
        peak_idx=peaks,
        amplitude_us=amplitude,
        rise_time_s=(peaks - onsets) / fs,
        half_recovery_idx=recovery,
        half_recovery_time_s=recovery_s,
    )
