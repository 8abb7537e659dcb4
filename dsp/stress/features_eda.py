"""The stress model's 17 EDA features, defined as in the data it was trained on.

The training CSV (WESAD wrist E4, 4 Hz, µS) was made by a script that, per subject recording:

1. smooths the EDA with a causal 1st-order Butterworth low-pass at 1 Hz, started in steady state
   (``lfilter`` with ``lfilter_zi * x[0]``);
2. takes the tonic level as a causal 2nd-order Butterworth low-pass at 0.05 Hz of the smoothed
   signal, also started in steady state;
3. takes the "phasic" signal as the positive part of the smoothed signal's derivative (µS/s);
4. shifts all three 6.4 s earlier to undo the filters' group delay (the end is edge-padded, the
   phasic signal zero-padded);
5. detects SCRs on the phasic signal (NeuroKit2 ``eda_peaks``, amplitude_min 0.01) and keeps
   those with amplitude within [0.01, 5] (amplitudes of the derivative, so µS/s).

Per 60 s window it then reports SCL statistics of the tonic trace, SCR count and amplitude
statistics, mean rise and half-recovery times, and the skewness and kurtosis (both biased, as
scipy's defaults) of the smoothed trace. We do the same with ``dsp.eda.detect_scrs`` on the
phasic signal instead of NeuroKit2 (which stays out of the gateway). Differences, all documented
in docs/model-card.md: NeuroKit2's amplitude floor is relative to the largest response of the
whole recording, which a live gateway cannot know, so only the absolute [0.01, 5] µS/s bounds
apply; the filters run at the sensor's own rate, not resampled to 4 Hz; ``scl_slope`` is per
second and ``scl_auc`` in µS·s (training: per 4 Hz sample), a constant factor that the
per-patient z-score removes exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dsp.eda import clean_eda, clean_eda_design, slope_scr_indices
from dsp.filters import butter_lowpass_sos, sosfilt
from dsp.stress.features_eda_kernels import eda_features_kernel
from dsp.stress.features_kernels import half_recovery_kernel, tonic_kernel

FloatArray = npt.NDArray[np.float64]

SMOOTH_HZ = 1.0
TONIC_HZ = 0.05
ALIGN_S = 6.4  # the training script's group-delay shift
SCR_MIN_US_PER_S = 0.01
SCR_MAX_US_PER_S = 5.0
#: [min, max] SCR amplitude kept (µS/s), as one array for the EDA feature kernels.
SCR_LIMITS = np.array([SCR_MIN_US_PER_S, SCR_MAX_US_PER_S])
EDA_FEATURES = (
    "scr_peak_count",
    "scl_mean",
    "scl_std",
    "scl_min",
    "scl_max",
    "scl_median",
    "scl_range",
    "scl_auc",
    "scl_slope",
    "scr_amplitude_mean",
    "scr_amplitude_max",
    "scr_amplitude_std",
    "scr_amplitude_sum",
    "scr_rise_time_mean",
    "scr_recovery_time_mean",
    "eda_skewness",
    "eda_kurtosis",
)


@dataclass(frozen=True, slots=True)
class EdaTraces:
    """Smoothed, tonic and phasic traces, each already shifted ALIGN_S earlier."""

    smoothed_us: FloatArray
    tonic_us: FloatArray
    phasic_us_per_s: FloatArray


def _steady_lowpass(x: FloatArray, cutoff_hz: float, fs: float, order: int) -> FloatArray:
    """Causal Butterworth low-pass started at rest on x[0] (unit DC gain: x0 + filter(x - x0))."""
    sos = butter_lowpass_sos(cutoff_hz, fs, order=order)
    out: FloatArray = x[0] + sosfilt(sos, x - x[0])
    return out


def eda_traces(eda_us: npt.ArrayLike, fs: float) -> EdaTraces:
    """Steps 1-4 above on a stretch of EDA (the longer the history, the closer to training)."""
    x = np.ascontiguousarray(eda_us, dtype=np.float64)
    if fs <= 2 * SMOOTH_HZ:
        raise ValueError(f"EDA rate must exceed {2 * SMOOTH_HZ} Hz, got {fs}")
    if x.ndim != 1 or x.size < 2:
        raise ValueError("eda_us must be one-dimensional with at least two samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("eda_us contains NaN or infinite samples")
    smoothed = _steady_lowpass(x, SMOOTH_HZ, fs, 1)
    tonic = _steady_lowpass(smoothed, TONIC_HZ, fs, 2)
    phasic = np.maximum(0.0, np.gradient(smoothed, 1.0 / fs))
    shift = min(round(ALIGN_S * fs), x.size)

    def shifted(trace: FloatArray, fill: float) -> FloatArray:
        return np.concatenate((trace[shift:], np.full(shift, fill)))

    return EdaTraces(shifted(smoothed, smoothed[-1]), shifted(tonic, tonic[-1]), shifted(phasic, 0))


def half_recovery_s(phasic: FloatArray, peaks: npt.ArrayLike, onsets: npt.ArrayLike) -> FloatArray:
    """Samples from each peak to where the trace has lost half the response's height.

    The plain twin of dsp.stress.features_kernels.half_recovery_kernel, which the features use.

    Searched up to the next response's onset (or the end); NaN when it never gets there, as in
    NeuroKit2, whose NaN made the training window's mean NaN.
    """
    peak_idx = np.asarray(peaks, dtype=np.int64)
    onset_idx = np.asarray(onsets, dtype=np.int64)
    out = np.full(peak_idx.size, np.nan)
    for i, (peak, onset) in enumerate(zip(peak_idx, onset_idx, strict=True)):
        stop = int(onset_idx[i + 1]) if i + 1 < onset_idx.size else phasic.size
        level = phasic[peak] - (phasic[peak] - phasic[onset]) / 2.0
        below = np.flatnonzero(phasic[peak:stop] <= level)
        if below.size:
            out[i] = float(below[0])
    return out


ScrIndices = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], FloatArray, FloatArray]


def model_scrs(phasic: FloatArray, fs: float) -> ScrIndices:
    """Onsets, peaks, amplitudes and rise times (s) of the slope detector's responses on the
    phasic trace (dsp.eda.detect_scrs' definitions, via its fused kernel)."""
    x = clean_eda(phasic, fs)
    onsets, peaks = slope_scr_indices(x, fs, min_amplitude_us=SCR_MIN_US_PER_S)
    return onsets, peaks, x[peaks] - x[onsets], (peaks - onsets) / fs


def eda_features(traces: EdaTraces, fs: float, *, start: int, stop: int) -> dict[str, float]:
    """The 17 EDA features over samples [start, stop) of the aligned traces (one kernel call,
    dsp.stress.features_eda_kernels; eda_features_reference is its numpy twin)."""
    if not 0 <= start < stop <= traces.tonic_us.size:
        raise ValueError(f"window [{start}, {stop}) outside {traces.tonic_us.size} samples")
    lowpass, pad = clean_eda_design(float(fs))
    values = eda_features_kernel(
        np.ascontiguousarray(traces.tonic_us[start:stop], dtype=np.float64),
        np.ascontiguousarray(traces.smoothed_us[start:stop], dtype=np.float64),
        np.ascontiguousarray(traces.phasic_us_per_s, dtype=np.float64),
        float(fs),
        np.array([start, stop], dtype=np.int64),
        lowpass,
        pad,
        SCR_LIMITS,
    )
    if np.isnan(values[0]):  # a non-finite phasic trace: the reference raises the clear error
        return eda_features_reference(traces, fs, start=start, stop=stop)
    return dict(zip(EDA_FEATURES, values.tolist(), strict=True))


def eda_features_reference(
    traces: EdaTraces, fs: float, *, start: int, stop: int
) -> dict[str, float]:
    """numpy twin of eda_features."""
    if not 0 <= start < stop <= traces.tonic_us.size:
        raise ValueError(f"window [{start}, {stop}) outside {traces.tonic_us.size} samples")
    tonic = np.ascontiguousarray(traces.tonic_us[start:stop])
    smoothed = np.ascontiguousarray(traces.smoothed_us[start:stop])
    onsets, peaks, amplitudes, rise_times = model_scrs(traces.phasic_us_per_s, fs)
    inside = (peaks >= start) & (peaks < stop)
    inside &= amplitudes <= SCR_MAX_US_PER_S
    amplitude = amplitudes[inside]
    phasic = np.ascontiguousarray(traces.phasic_us_per_s, dtype=np.float64)
    recovery = half_recovery_kernel(phasic, peaks, onsets)[inside]
    count = int(amplitude.size)
    stats = tonic_kernel(tonic, smoothed, fs).tolist()
    return {
        "scr_peak_count": float(count),
        **dict(zip(EDA_FEATURES[1:9], stats[:8], strict=True)),
        "scr_amplitude_mean": float(amplitude.mean()) if count else 0.0,
        "scr_amplitude_max": float(amplitude.max()) if count else 0.0,
        "scr_amplitude_std": float(amplitude.std()) if count else 0.0,
        "scr_amplitude_sum": float(amplitude.sum()),
        "scr_rise_time_mean": float(rise_times[inside].mean()) if count else 0.0,
        # np.mean, not nanmean: one unrecovered response makes the window's value undefined.
        "scr_recovery_time_mean": float(recovery.mean() / fs) if count else 0.0,
        "eda_skewness": stats[8],
        "eda_kurtosis": stats[9],
    }
