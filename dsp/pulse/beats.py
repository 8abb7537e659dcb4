"""Systolic peaks of a pulse trace, device intervals as beats, and the pulse quality gate.

Peaks: Elgendi et al. (2013, PLoS ONE 8(10):e76585) two-moving-averages detector: band-pass
0.5-8 Hz, square the positive part, and mark blocks where a 111 ms moving average exceeds a
667 ms one (plus a small offset); each block at least 111 ms long holds one beat, at its highest
filtered sample. It needs no learning and no history beyond a few seconds.

Gate: an interval is kept when it lies within [300, 2000] ms and within 20 % of the median of its
neighbours (up to 5 each side), the rule dsp.hrv.clean_rr applies to ECG RR; a window whose
share of rejected intervals exceeds MAX_ARTEFACT_FRACTION, or with fewer than MIN_BEATS beats,
has no usable heart data. The limit is the pulse path's own (wrist pulse during sitting loses
more beats than a chest ECG), stated here and in docs/model-card.md, not borrowed from the ECG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.filters import butter_bandpass_sos, sosfiltfilt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

BAND_HZ = (0.5, 8.0)
PEAK_WINDOW_S = 0.111
BEAT_WINDOW_S = 0.667
OFFSET = 0.02  # of the mean squared signal, Elgendi's beta
RR_RANGE_MS = (300.0, 2000.0)
MAX_RELATIVE_CHANGE = 0.2
NEIGHBOURS = 5
MAX_ARTEFACT_FRACTION = 0.3
MIN_BEATS = 20


@dataclass(frozen=True, slots=True)
class PulseBeats:
    """Beat times (s from the trace's start), the keep-mask of their intervals, and the gate."""

    times_s: FloatArray
    keep: BoolArray
    artefact_fraction: float
    usable: bool


def _moving_average(x: FloatArray, n: int) -> FloatArray:
    kernel = np.ones(max(n, 1)) / max(n, 1)
    return np.asarray(np.convolve(x, kernel, mode="same"), dtype=np.float64)


def pulse_peaks(bvp: npt.ArrayLike, fs: float) -> FloatArray:
    """Systolic peak times (s) of a BVP/PPG trace sampled at fs (Elgendi's detector)."""
    x = np.asarray(bvp, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("bvp must be one-dimensional and finite")
    if fs <= 2 * BAND_HZ[1]:
        raise ValueError(f"pulse rate must exceed {2 * BAND_HZ[1]} Hz, got {fs}")
    if x.size < int(fs * 2):
        return np.zeros(0)
    y = sosfiltfilt(butter_bandpass_sos(*BAND_HZ, fs, order=2), x)
    energy = np.maximum(y, 0.0) ** 2
    peak_ma = _moving_average(energy, round(PEAK_WINDOW_S * fs))
    beat_ma = _moving_average(energy, round(BEAT_WINDOW_S * fs))
    block = peak_ma > beat_ma + OFFSET * float(energy.mean())
    edges = np.diff(block.astype(np.int8), prepend=0, append=0)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    long_enough = (stops - starts) >= round(PEAK_WINDOW_S * fs)
    peaks = [a + int(np.argmax(y[a:b])) for a, b in zip(starts, stops, strict=True)]
    return np.asarray(peaks, dtype=np.float64)[long_enough] / fs


def pulse_keep(rr_ms: npt.ArrayLike) -> BoolArray:
    """Keep-mask of intervals: in range and within 20 % of their neighbours' median."""
    rr = np.asarray(rr_ms, dtype=np.float64)
    in_range = np.isfinite(rr) & (rr >= RR_RANGE_MS[0]) & (rr <= RR_RANGE_MS[1])
    keep = np.zeros(rr.size, dtype=np.bool_)
    for i in range(rr.size):
        lo, hi = max(0, i - NEIGHBOURS), min(rr.size, i + NEIGHBOURS + 1)
        around = np.concatenate((rr[lo:i], rr[i + 1 : hi]))
        around = around[in_range[lo:hi][np.arange(hi - lo) != i - lo]]
        median = float(np.median(around)) if around.size else float(rr[i])
        keep[i] = in_range[i] and abs(rr[i] - median) <= MAX_RELATIVE_CHANGE * median
    return keep


def _gated(times_s: FloatArray) -> PulseBeats:
    keep = pulse_keep(np.diff(times_s) * 1000.0)
    artefacts = float(1.0 - keep.mean()) if keep.size else 1.0
    usable = times_s.size >= MIN_BEATS and artefacts <= MAX_ARTEFACT_FRACTION
    return PulseBeats(times_s, keep, artefacts, usable)


def pulse_beats(bvp: npt.ArrayLike, fs: float) -> PulseBeats:
    """Beats of one stretch of pulse trace with their keep-mask and gate verdict."""
    return _gated(pulse_peaks(bvp, fs))


def interval_beats(beat_times_s: npt.ArrayLike) -> PulseBeats:
    """A device's own beats (E4 IBI.csv, a PPG device's PPI turned into beat times), gated the
    same way. Devices drop beats they are unsure of, so a long interval is a gap, not a beat:
    the range check rejects it."""
    times = np.asarray(beat_times_s, dtype=np.float64)
    if times.ndim != 1 or np.any(np.diff(times) <= 0):
        raise ValueError("beat times must be one-dimensional and increasing")
    return _gated(times)
