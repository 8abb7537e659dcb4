"""Per-window features from the buffered streams: the readable summary and the model's inputs.

Two sets come out of one pass. ``Features`` is what people and the closed loop read (heart rate,
RMSSD, SCR rate, motion); the 38 model features follow the training data's definitions
(dsp.stress.features). The model's frequency-domain HRV looks back 180 s and its EDA traces are
aligned 6.4 s ahead (the training script's group-delay shift), so the buffers keep
HISTORY_S of samples and a window closes only once LOOKAHEAD_S of data follows it. R-peaks and
the EDA traces are carried from window to window (dsp.streaming.beats, dsp.streaming.eda_traces):
each sample is filtered, and each beat found, once.

Each stream's part of a window runs one of two ways. The usual case takes one kernel call per
stream straight on the buffer's rows (dsp.streaming.ecg_window, dsp.streaming.eda_window,
dsp.streaming.acc.acc_window_rows): a gateway closes a window every hop for weeks, and the
per-step path's glue around its kernels cost more CPU than their arithmetic. Gaps, jumps in
sample times and bad samples take the per-step path (_per_step), which the one-call paths hand
over to before changing any state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dsp.eda import clean_eda, clean_eda_design, detect_scrs, scr_rate_per_min, skin_kernel
from dsp.streaming.acc import acc_window, acc_window_rows
from dsp.streaming.beats import BeatTracker, GapLog
from dsp.streaming.buffer import SampleSource, StreamBuffer
from dsp.streaming.ecg_window import EcgWindow, ecg_window
from dsp.streaming.eda_traces import EdaTraceTracker
from dsp.streaming.eda_window import eda_window
from dsp.streaming.rr import heart_features
from dsp.stress import QualityInputs
from dsp.stress.features import HRV_FREQUENCY_WINDOW_S
from dsp.stress.features_eda import ALIGN_S, SMOOTH_HZ

NS = 1_000_000_000
#: Nominal rate per stream, for coverage (how much of a window the samples fill).
NOMINAL_RATE_HZ = {"ecg": 130.0, "acc": 25.0, "eda": 8.0}
HISTORY_S = HRV_FREQUENCY_WINDOW_S
LOOKAHEAD_S = ALIGN_S
_SCR_FLOOR_US = 0.05  # detect_scrs' default min_amplitude_us
_MIN_SECONDS = 5.0  # a stream with less than this in the window yields no features
#: Whether windows take the one-call paths (dsp.streaming.ecg_window); the reference test turns
#: it off to compare with the per-step path.
FUSED = True


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class WindowSignals:
    #: the readable numbers (stream.events.Features' fields; absent: not computable)
    readable: dict[str, float | int | None]
    coverage: dict[str, float]
    model_features: dict[str, float]
    #: The RR share the score gate judges by (dsp.streaming.rr: L-T's or clean_rr's, larger).
    rr_gate_fraction: float | None = None

    @property
    def quality(self) -> QualityInputs:
        return QualityInputs(
            beats=int(self.readable.get("beats") or 0),
            rr_artifact_fraction=self.rr_gate_fraction,
            motion_fraction=self.readable.get("motion_fraction"),
        )


class SignalState:
    """What the pipeline carries from window to window: gaps, beats and EDA traces per stream."""

    def __init__(self) -> None:
        self.gaps: dict[str, GapLog] = {}
        self.beats: BeatTracker | None = None
        self.eda: EdaTraceTracker | None = None
        self.ecg_plan: EcgWindow | None = None

    def gap_log(self, stream: str) -> GapLog:
        return self.gaps.setdefault(stream, GapLog())

    def beat_tracker(self) -> BeatTracker:
        """The ECG stream's tracker, made on first use."""
        if self.beats is None:
            self.beats = BeatTracker(self.gap_log("ecg"))
        return self.beats

    def eda_tracker(self, rate: float) -> EdaTraceTracker | None:
        """The EDA stream's traces, made on first use; None at a rate too slow for the
        training's 1 Hz smoothing (the model's EDA features are undefined there)."""
        if rate <= 2 * SMOOTH_HZ:
            return None
        if self.eda is None:
            self.eda = EdaTraceTracker(rate, self.gap_log("eda"))
        return self.eda

    def trim(self, before_ns: int) -> None:
        if self.beats is not None:
            self.beats.trim(before_ns)
        if self.eda is not None:
            self.eda.trim(before_ns)
        for log in self.gaps.values():
            log.trim(before_ns)


def window_signals(
    buffers: Mapping[str, SampleSource],
    rates: Mapping[str, float],
    state: SignalState,
    *,
    start: int,
    end: int,
) -> WindowSignals:
    """Features of the window [start, end) (ns) from the buffers and the carried state."""
    out = _Collected()
    for stream, buffer in buffers.items():
        rate = rates.get(stream, NOMINAL_RATE_HZ.get(stream, 0.0))
        present = None
        if FUSED and rate and isinstance(buffer, StreamBuffer):
            if stream == "ecg":
                present = _ecg_fused(out, state, buffer, rate, start, end)
            elif stream == "eda":
                present = _eda_fused(out, state, buffer, rate, start, end)
            elif stream == "acc":
                present = _acc_rows(out, buffer, rate, start, end)
        if present is None:
            present = _per_step(out, stream, state, buffer, rate, start, end)
        if rate:
            out.coverage[stream] = min(1.0, present / (rate * (end - start) / NS))
    finite = {name: v for name, v in out.model.items() if math.isfinite(v)}
    return WindowSignals(out.values, out.coverage, finite, out.gate)


@dataclass(slots=True)
class _Collected:
    """What the streams contribute to a window."""

    coverage: dict[str, float] = field(default_factory=dict)
    values: dict[str, float | int | None] = field(default_factory=dict)
    model: dict[str, float] = field(default_factory=dict)
    gate: float | None = None


def _per_step(  # noqa: PLR0917 - the window, its stream and where results go
    out: _Collected,
    stream: str,
    state: SignalState,
    buffer: SampleSource,
    rate: float,
    start: int,
    end: int,
) -> int:
    """One stream's part of the window, step by step; the samples in the window."""
    present = buffer.count(start, end)
    if stream == "ecg" and rate:
        state.beat_tracker().update(buffer, rate, until_ns=end)
    if present <= rate * _MIN_SECONDS and stream != "hr":
        return present
    samples = buffer.window(start, end)[1] if stream != "ecg" else np.zeros((0, 1))
    if stream == "ecg":
        beats, real = state.beat_tracker().between(end - int(HISTORY_S * NS), end)
        heart, hrv, out.gate = heart_features(beats, real, fs=rate, start=start, end=end)
        out.values |= heart
        out.model |= hrv
    elif stream == "eda":
        out.values |= _skin(samples[:, 0], rate)
        tracker = state.eda_tracker(rate)
        if tracker is None:  # too slow for the model's traces
            return present
        tracker.update(buffer, until_ns=end + int(ALIGN_S * NS))
        out.model |= tracker.features(start=start, end=end)
    elif stream == "acc":
        readable, acc_model = acc_window(samples, rate)
        out.values |= readable
        out.model |= acc_model
    elif stream == "hr" and present:
        out.values["strap_heart_rate_bpm"] = float(np.mean(samples[:, 0]))
    return present


def _ecg_fused(  # noqa: PLR0917 - the window, its stream and where results go
    out: _Collected, state: SignalState, buffer: StreamBuffer, rate: float, start: int, end: int
) -> int | None:
    """dsp.streaming.ecg_window's one call; None where the per-step path must run."""
    if state.ecg_plan is None or state.ecg_plan.fs != rate:
        state.ecg_plan = EcgWindow(rate, HISTORY_S)
    fused = ecg_window(
        state.beat_tracker(),
        buffer,
        state.ecg_plan,
        start=start,
        end=end,
        min_present=rate * _MIN_SECONDS,
    )
    if fused is None:
        return None
    present, heart = fused
    if heart is not None:
        out.values |= heart[0]
        out.model |= heart[1]
        out.gate = heart[2]
    return present


def _acc_rows(out: _Collected, buffer: StreamBuffer, rate: float, start: int, end: int) -> int:
    """The ACC part of the window straight from the buffer's rows (no copy)."""
    times, values, first, stop = buffer.live()
    present, numbers = acc_window_rows(
        times, values, (first, stop), rate, start=start, end=end, min_present=rate * _MIN_SECONDS
    )
    if numbers is not None:
        out.values |= numbers[0]
        out.model |= numbers[1]
    return present


def _eda_fused(  # noqa: PLR0917 - the window, its stream and where results go
    out: _Collected, state: SignalState, buffer: StreamBuffer, rate: float, start: int, end: int
) -> int | None:
    """dsp.streaming.eda_window's one call; None where the per-step path must run."""
    fused = eda_window(
        state.eda_tracker(rate),
        buffer,
        rate,
        start=start,
        end=end,
        until=end + int(ALIGN_S * NS),
        min_present=rate * _MIN_SECONDS,
        scr_floor=_SCR_FLOOR_US,
    )
    if fused is None:
        return None
    present, skin, model = fused
    if skin is not None:
        out.values |= skin
    if model is not None:
        out.model |= model
    return present


def _skin(eda_us: np.ndarray, rate: float) -> dict[str, float | int | None]:
    """Readable SCL and SCR rate of the window's raw EDA (low-passed once for both; the SCRs
    in one kernel call: dsp.eda.slope_kernels.skin_kernel; _skin_reference is its twin)."""
    samples = np.ascontiguousarray(eda_us, dtype=np.float64)
    lowpass, pad = clean_eda_design(float(rate))
    level, count = skin_kernel(samples, float(rate), lowpass, pad, _SCR_FLOOR_US)
    if math.isnan(level) or samples.size == 0:  # the reference raises the clear error
        return _skin_reference(eda_us, rate)
    return {
        "scl_us": _finite(level),
        "scr_count": count,
        "scr_rate_per_min": 60.0 * count / (len(eda_us) / rate),
    }


def _skin_reference(eda_us: np.ndarray, rate: float) -> dict[str, float | int | None]:
    """numpy twin of _skin (detect_scrs and scr_rate_per_min)."""
    clean = clean_eda(eda_us, rate)
    scrs = detect_scrs(clean, rate, prefiltered=True)
    return {
        "scl_us": _finite(float(np.median(clean))),
        "scr_count": len(scrs.peak_idx),
        "scr_rate_per_min": scr_rate_per_min(scrs, len(eda_us) / rate),
    }
