"""Per-window features from the buffered streams: the readable summary and the model's inputs.

Two sets come out of one pass. ``Features`` is what people and the closed loop read (heart rate,
RMSSD, SCR rate, motion); the 38 model features follow the training data's definitions
(dsp.stress_features). The model's frequency-domain HRV looks back 180 s and its EDA traces are
aligned 6.4 s ahead (the training script's group-delay shift), so the buffers keep
HISTORY_S of samples and a window closes only once LOOKAHEAD_S of data follows it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dsp.activity import activity_summary
from dsp.buffer import SampleBuffer
from dsp.ecg import detect_r_peaks
from dsp.eda import detect_scrs, scr_rate_per_min, tonic_level_us
from dsp.hrv import clean_rr, time_domain
from dsp.stress_features import HRV_FREQUENCY_WINDOW_S, acc_features, hrv_features
from dsp.stress_features_eda import ALIGN_S, SMOOTH_HZ, eda_features, eda_traces
from dsp.stress_model import QualityInputs
from stream.events import Features

NS = 1_000_000_000
#: Nominal rate per stream, for coverage (how much of a window the samples fill).
NOMINAL_RATE_HZ = {"ecg": 130.0, "acc": 25.0, "eda": 8.0}
HISTORY_S = HRV_FREQUENCY_WINDOW_S
LOOKAHEAD_S = ALIGN_S
_MIN_SECONDS = 5.0  # a stream with less than this in the window yields no features


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class WindowSignals:
    features: Features
    coverage: dict[str, float]
    model_features: dict[str, float]

    @property
    def quality(self) -> QualityInputs:
        return QualityInputs(
            beats=self.features.beats,
            rr_artifact_fraction=self.features.rr_artifact_fraction,
            motion_fraction=self.features.motion_fraction,
        )


def window_signals(
    buffers: Mapping[str, SampleBuffer], rates: Mapping[str, float], *, start: int, end: int
) -> WindowSignals:
    """Features of the window [start, end) (ns) from whatever the buffers hold."""
    duration_s = (end - start) / NS
    coverage: dict[str, float] = {}
    values: dict[str, float | int | None] = {}
    model: dict[str, float] = {}
    for stream, buffer in buffers.items():
        rate = rates.get(stream, NOMINAL_RATE_HZ.get(stream, 0.0))
        times, samples = buffer.window(start, end)
        if rate:
            coverage[stream] = min(1.0, len(times) / (rate * duration_s))
        if len(times) <= rate * _MIN_SECONDS and stream != "hr":
            continue
        if stream == "ecg":
            history_start = end - int(HISTORY_S * NS)
            h_times, h_samples = buffer.window(history_start, end)
            heart, hrv = _heart(h_times, h_samples[:, 0], rate, start=start, end=end)
            values |= heart
            model |= hrv
        elif stream == "eda":
            values |= _skin(samples[:, 0], rate)
            if rate <= 2 * SMOOTH_HZ:  # too slow for the training's 1 Hz smoothing: undefined
                continue
            h_times, h_samples = buffer.window(end - int(HISTORY_S * NS), end + int(ALIGN_S * NS))
            traces = eda_traces(h_samples[:, 0], rate)
            first = int(np.searchsorted(h_times, start))
            last = int(np.searchsorted(h_times, end))
            model |= eda_features(traces, rate, start=first, stop=last)
        elif stream == "acc":
            activity = activity_summary(samples / 1000.0, rate)
            values["activity_enmo_g"] = _finite(activity.mean_enmo_g)
            values["motion_fraction"] = _finite(activity.motion_fraction)
            model |= acc_features(samples)
        elif stream == "hr" and len(times):
            values["strap_heart_rate_bpm"] = float(np.mean(samples[:, 0]))
    finite = {name: v for name, v in model.items() if math.isfinite(v)}
    return WindowSignals(Features(**values), coverage, finite)  # type: ignore[arg-type]


def _skin(eda_us: np.ndarray, rate: float) -> dict[str, float | int | None]:
    scrs = detect_scrs(eda_us, rate)
    return {
        "scl_us": _finite(tonic_level_us(eda_us, rate)),
        "scr_count": len(scrs.peak_idx),
        "scr_rate_per_min": scr_rate_per_min(scrs, len(eda_us) / rate),
    }


def _heart(
    times: np.ndarray, ecg: np.ndarray, rate: float, *, start: int, end: int
) -> tuple[dict[str, float | int | None], dict[str, float]]:
    """Beats over the look-back: readable HRV of the window, and the model's 13 HRV features."""
    peaks = detect_r_peaks(ecg, rate)
    beat_ns = times[peaks]
    in_window = int(np.count_nonzero(beat_ns >= start))
    if len(peaks) < 3:
        return {"beats": in_window}, {}
    rr_ms = np.diff(beat_ns).astype(np.float64) / 1e6
    keep = clean_rr(rr_ms)
    recent = beat_ns[1:] >= start  # intervals that end inside the window
    if np.count_nonzero(recent) < 2:
        return {"beats": in_window}, {}
    hrv = time_domain(rr_ms[recent], keep[recent])
    readable: dict[str, float | int | None] = {
        "beats": in_window,
        "heart_rate_bpm": _finite(hrv.mean_hr_bpm),
        "mean_nn_ms": _finite(hrv.mean_nn_ms),
        "rmssd_ms": _finite(hrv.rmssd_ms),
        "sdnn_ms": _finite(hrv.sdnn_ms),
        "rr_artifact_fraction": float(1.0 - np.mean(keep[recent])),
    }
    return readable, hrv_features((beat_ns - end) / NS, keep)
