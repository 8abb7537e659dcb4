"""One stage per signal: what a stream's samples contribute to each closed window.

Every stage has the same small interface (Stage): ``add`` a block of samples, ``mark_gap``
where data is missing, ``close`` a window [start, end) into a StageWindow, ``trim`` what no
later window needs. The engine (dsp.streaming.engine) routes samples to stages through one
table (STAGES: stream name -> stage class; streams it does not know get CountStage) and reads
nothing else of them.

Two sets of numbers come out of one pass. The readable ones (stream.events.Features' fields:
heart rate, RMSSD, SCR rate, motion) are what people and the closed loop read; the 38 model
features follow the training data's definitions (dsp.stress.features). The model's
frequency-domain HRV looks back HISTORY_S and its EDA traces are aligned LOOKAHEAD_S ahead (the
training script's group-delay shift), so stages keep HISTORY_S of samples and a window closes
only once LOOKAHEAD_S of data follows it. R-peaks and the EDA traces are carried from window to
window (dsp.streaming.beats, dsp.streaming.eda_traces): each sample is filtered, and each beat
found, once.

Each stage has one path. The ECG and EDA stages take one kernel call per window straight on
the buffer's rows (dsp.streaming.ecg_window, dsp.streaming.eda_window): a gateway closes a
window every hop for weeks, and the step-by-step glue around the kernels cost more CPU than
their arithmetic (bench/stage_paths.py; figures in docs/pipeline.md). Inputs that kernel does not
handle (a gap, a jump in sample times, a non-finite sample, a rate the detector decimates)
make it hand over before changing any state, and the stage finishes that window step by step
(``_per_step``), with the same kernels. That hand-over is the stage's own detail, not a switch:
tests/reference/streaming.py's stages always take it, and tests hold both equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from dsp.eda import clean_eda, clean_eda_design, detect_scrs, scr_rate_per_min, skin_kernel
from dsp.streaming.acc import acc_window, acc_window_rows
from dsp.streaming.beat_kernels import jumps_in_rows_kernel
from dsp.streaming.beats import BeatTracker
from dsp.streaming.buffer import StreamBuffer
from dsp.streaming.ecg_window import EcgWindow, ecg_window
from dsp.streaming.eda_traces import EdaTraceTracker
from dsp.streaming.eda_window import eda_window
from dsp.streaming.gaps import GapLog
from dsp.streaming.intervals import interval_window
from dsp.streaming.pulse import pulse_window
from dsp.streaming.readable import Readable, finite
from dsp.streaming.rr import heart_features
from dsp.stress.features import HRV_FREQUENCY_WINDOW_S, SPECTRAL_HRV_FEATURES
from dsp.stress.features_eda import ALIGN_S, SMOOTH_HZ

NS = 1_000_000_000
HISTORY_S = HRV_FREQUENCY_WINDOW_S
LOOKAHEAD_S = ALIGN_S
_SCR_FLOOR_US = 0.05  # detect_scrs' default min_amplitude_us
_MIN_SECONDS = 5.0  # a stream with less than this in the window yields no features


@dataclass(frozen=True, slots=True)
class StageWindow:
    """One stream's part of a closed window."""

    #: samples with start <= t < end
    present: int
    #: readable numbers (stream.events.Features' field names)
    readable: Readable
    #: the stress model's inputs this stream defines (some may be NaN: dropped by the engine)
    model: dict[str, float]
    #: the RR share the score gate judges by (dsp.streaming.rr; ECG only)
    rr_gate_fraction: float | None = None


_NOTHING: Readable = {}


class SampleStore(Protocol):
    """What a stage keeps its samples in: a StreamBuffer, or the tests' reference SampleBuffer."""

    @property
    def first_ns(self) -> int | None: ...

    @property
    def latest_ns(self) -> int | None: ...

    def extend(self, times_ns: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None: ...

    def count(self, start_ns: int, end_ns: int) -> int: ...

    def window(
        self, start_ns: int, end_ns: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]: ...

    def trim(self, before_ns: int) -> None: ...


class Stage(Protocol):
    """The engine's view of one stream."""

    #: the rate used for coverage and filters: the latest block's, else the stage's nominal one
    rate_hz: float
    gaps: GapLog
    #: what ``add`` does (the buffer's own extend): the engine calls it once per notification
    hold: Callable[[npt.NDArray[np.int64], npt.NDArray[np.float64]], None]

    @property
    def latest_ns(self) -> int | None: ...

    def add(self, times_ns: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None: ...

    def latest_step(self) -> tuple[int | None, float]: ...

    def mark_gap(self, start_ns: int, end_ns: int) -> None: ...

    def sample_times(self, start_ns: int, end_ns: int) -> npt.NDArray[np.int64]: ...

    def jumps(
        self, start_ns: int, end_ns: int, last_ns: int, limit_ns: float
    ) -> tuple[npt.NDArray[np.int64], int]: ...

    def close(self, start_ns: int, end_ns: int) -> StageWindow: ...

    def want(self, features: frozenset[str]) -> None: ...

    def trim(self, keep_from_ns: int) -> None: ...


class CountStage:
    """A stream no stage knows: its samples are held and counted for coverage, nothing more."""

    CHANNELS: ClassVar[int] = 1
    NOMINAL_RATE_HZ: ClassVar[float] = 0.0
    #: a beat source's precedence when two give heart data in one window (the engine takes
    #: the highest's, whole): ECG, then a strap's RR intervals, then wrist pulse, then a
    #: wrist device's own intervals; 0 for streams that give none
    HEART_RANK: ClassVar[int] = 0
    #: what the heart numbers were measured on, for a model validated on one kind only:
    #: "ecg" (R-peaks: the ECG itself, or a strap's RR from its own R-peaks) or "pulse"
    #: (wrist or arm pulse: a BVP/PPG trace, or the intervals a device found in one)
    BEAT_KIND: ClassVar[str | None] = None

    def __init__(self, gaps: GapLog, buffer: SampleStore | None = None) -> None:
        self.gaps = gaps
        self.rate_hz = self.NOMINAL_RATE_HZ
        self.buffer: SampleStore = buffer if buffer is not None else StreamBuffer(self.CHANNELS)
        self.hold: Callable[[npt.NDArray[np.int64], npt.NDArray[np.float64]], None]
        self.hold = self.buffer.extend
        self._with_spectrum = True  # until want() says the model needs none

    @property
    def latest_ns(self) -> int | None:
        return self.buffer.latest_ns

    def add(self, times_ns: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> None:
        self.hold(times_ns, values)

    def latest_step(self) -> tuple[int | None, float]:
        """(latest_ns, the longest step between neighbouring sample times since the last call;
        inf when not known, and always on a reference store): StreamBuffer.take_longest_step."""
        if isinstance(self.buffer, StreamBuffer):
            return self.buffer.take_longest_step()
        return self.buffer.latest_ns, math.inf

    def mark_gap(self, start_ns: int, end_ns: int) -> None:
        self.gaps.add(start_ns, end_ns)

    def sample_times(self, start_ns: int, end_ns: int) -> npt.NDArray[np.int64]:
        """The times of the samples held with start_ns <= t < end_ns, sorted (read at once:
        it may be a view of the buffer)."""
        if isinstance(self.buffer, StreamBuffer):
            return self.buffer.times_between(start_ns, end_ns)
        return self.buffer.window(start_ns, end_ns)[0]

    def jumps(
        self, start_ns: int, end_ns: int, last_ns: int, limit_ns: float
    ) -> tuple[npt.NDArray[np.int64], int]:
        """Steps longer than ``limit_ns`` among the samples with start_ns <= t < end_ns and
        into them from ``last_ns`` (NO_SAMPLE: none), as flat (start, end) pairs, and the last
        sample time scanned: one kernel call on the buffer's rows (the engine's scan, every
        window and stream)."""
        if isinstance(self.buffer, StreamBuffer):
            times, _, first, stop = self.buffer.live()
        else:
            times = self.sample_times(start_ns, end_ns)
            first, stop = 0, times.size
        return jumps_in_rows_kernel(times, first, stop, start_ns, end_ns, last_ns, limit_ns)

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        return StageWindow(self.buffer.count(start_ns, end_ns), _NOTHING, {})

    def want(self, features: frozenset[str]) -> None:
        """The model features the windows need (the engine's ``features``): a heart stage
        computes no Welch spectrum every window unless a spectral HRV feature is wanted."""
        self._with_spectrum = not features.isdisjoint(SPECTRAL_HRV_FEATURES)

    def trim(self, keep_from_ns: int) -> None:
        self.buffer.trim(keep_from_ns)
        self.gaps.trim(keep_from_ns)

    def _enough(self, present: int) -> bool:
        return present > self.rate_hz * _MIN_SECONDS


class EcgStage(CountStage):
    """Beats (carried between windows), RR, HRV and the model's heart features."""

    NOMINAL_RATE_HZ = 130.0
    HEART_RANK = 4
    BEAT_KIND = "ecg"

    def __init__(self, gaps: GapLog, buffer: SampleStore | None = None) -> None:
        super().__init__(gaps, buffer)
        self.beats = BeatTracker(gaps)
        self._plan: EcgWindow | None = None

    def want(self, features: frozenset[str]) -> None:
        super().want(features)
        self._plan = None  # planned with or without the spectrum

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        window = self._one_call(start_ns, end_ns)
        return window if window is not None else self._per_step(start_ns, end_ns)

    def _one_call(self, start: int, end: int) -> StageWindow | None:
        """dsp.streaming.ecg_window's one call; None (nothing changed) where it hands over."""
        if not isinstance(self.buffer, StreamBuffer):
            return None
        if self._plan is None or self._plan.fs != self.rate_hz:
            self._plan = EcgWindow(self.rate_hz, HISTORY_S, with_spectrum=self._with_spectrum)
        fused = ecg_window(
            self.beats,
            self.buffer,
            self._plan,
            start=start,
            end=end,
            min_present=self.rate_hz * _MIN_SECONDS,
        )
        if fused is None:
            return None
        present, heart = fused
        if heart is None:
            return StageWindow(present, _NOTHING, {})
        return StageWindow(present, heart[0], heart[1], heart[2])

    def _per_step(self, start: int, end: int) -> StageWindow:
        present = self.buffer.count(start, end)
        self.beats.update(self.buffer, self.rate_hz, until_ns=end)
        if not self._enough(present):
            return StageWindow(present, _NOTHING, {})
        beats, real = self.beats.between(end - int(HISTORY_S * NS), end)
        readable, model, gate = heart_features(
            beats, real, fs=self.rate_hz, start=start, end=end, with_spectrum=self._with_spectrum
        )
        return StageWindow(present, readable, model, gate)

    def trim(self, keep_from_ns: int) -> None:
        super().trim(keep_from_ns)
        self.beats.trim(keep_from_ns)


class EdaStage(CountStage):
    """Readable SCL and SCR rate, and the model's EDA features from traces carried ahead."""

    NOMINAL_RATE_HZ = 8.0

    def __init__(self, gaps: GapLog, buffer: SampleStore | None = None) -> None:
        super().__init__(gaps, buffer)
        self.traces: EdaTraceTracker | None = None

    def _tracker(self) -> EdaTraceTracker | None:
        """The traces, made on first use; None at a rate too slow for the training's 1 Hz
        smoothing (the model's EDA features are undefined there)."""
        if self.rate_hz <= 2 * SMOOTH_HZ:
            return None
        if self.traces is None:
            self.traces = EdaTraceTracker(self.rate_hz, self.gaps)
        return self.traces

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        window = self._one_call(start_ns, end_ns)
        return window if window is not None else self._per_step(start_ns, end_ns)

    def _one_call(self, start: int, end: int) -> StageWindow | None:
        """dsp.streaming.eda_window's one call; None (nothing changed) where it hands over."""
        if not isinstance(self.buffer, StreamBuffer):
            return None
        fused = eda_window(
            self._tracker(),
            self.buffer,
            self.rate_hz,
            start=start,
            end=end,
            until=end + int(ALIGN_S * NS),
            min_present=self.rate_hz * _MIN_SECONDS,
            scr_floor=_SCR_FLOOR_US,
        )
        if fused is None:
            return None
        present, skin, model = fused
        return StageWindow(present, skin or _NOTHING, model or {})

    def _per_step(self, start: int, end: int) -> StageWindow:
        present = self.buffer.count(start, end)
        if not self._enough(present):
            return StageWindow(present, _NOTHING, {})
        samples = self.buffer.window(start, end)[1]
        readable = _skin(samples[:, 0], self.rate_hz)
        tracker = self._tracker()
        if tracker is None:  # too slow for the model's traces
            return StageWindow(present, readable, {})
        tracker.update(self.buffer, until_ns=end + int(ALIGN_S * NS))
        return StageWindow(present, readable, tracker.features(start=start, end=end))

    def trim(self, keep_from_ns: int) -> None:
        super().trim(keep_from_ns)
        if self.traces is not None:
            self.traces.trim(keep_from_ns)


class AccStage(CountStage):
    """Activity (ENMO, motion share) and the model's ACC features, from the buffer's rows."""

    CHANNELS = 3
    NOMINAL_RATE_HZ = 25.0

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        if not isinstance(self.buffer, StreamBuffer):  # a reference store: copy the window
            present = self.buffer.count(start_ns, end_ns)
            if not self._enough(present):
                return StageWindow(present, _NOTHING, {})
            readable, model = acc_window(self.buffer.window(start_ns, end_ns)[1], self.rate_hz)
            return StageWindow(present, readable, model)
        times, values, first, stop = self.buffer.live()
        present, numbers = acc_window_rows(
            times,
            values,
            (first, stop),
            self.rate_hz,
            start=start_ns,
            end=end_ns,
            min_present=self.rate_hz * _MIN_SECONDS,
        )
        if numbers is None:
            return StageWindow(present, _NOTHING, {})
        return StageWindow(present, numbers[0], numbers[1])


class PulseStage(CountStage):
    """Wrist pulse (BVP/PPG): each window's beats, the pulse gate, time-domain HRV
    (dsp.streaming.pulse). Below an ECG in precedence: a pulse beat lags and blurs an R-peak."""

    NOMINAL_RATE_HZ = 64.0
    HEART_RANK = 2
    BEAT_KIND = "pulse"

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        present = self.buffer.count(start_ns, end_ns)
        if not self._enough(present):
            return StageWindow(present, _NOTHING, {})
        trace = self.buffer.window(start_ns, end_ns)[1][:, 0]
        readable, model, rejected = pulse_window(trace, self.rate_hz)
        return StageWindow(present, readable, model, rejected)


class IntervalStage(CountStage):
    """Intervals a device computed (dsp.streaming.intervals): HRV from its values, gated by the
    share corrected and the share of the window no interval covers. Irregular: no nominal rate
    (a strap's RR blocks carry none, so no coverage or sample-jump rule applies; an importer's
    nominal one only adds those to the stream's quality). Whether beats are missing is read
    from the intervals themselves (dsp.streaming.intervals)."""

    #: milliseconds per unit of the stream's values
    MS_PER_UNIT: ClassVar[float] = 1.0
    #: the clock the device times its beats on (Hz): a beat is known to one tick of it
    RESOLUTION_HZ: ClassVar[float] = 1000.0

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        present = self.buffer.count(start_ns, end_ns)
        if present < 3:
            return StageWindow(present, _NOTHING, {})
        stamps, values = self.buffer.window(end_ns - int(HISTORY_S * NS), end_ns)
        readable, model, gate = interval_window(
            stamps,
            values[:, 0] * self.MS_PER_UNIT,
            resolution_hz=self.RESOLUTION_HZ,
            start=start_ns,
            end=end_ns,
            with_spectrum=self._with_spectrum,
        )
        return StageWindow(present, readable, model, gate)


class StrapIntervalStage(IntervalStage):
    """A Heart Rate Service strap's RR intervals (ms, timed in 1/1024 s): its own R-peaks, so
    above wrist pulse, below the ECG itself (whose beats the validated detector finds)."""

    RESOLUTION_HZ = 1024.0
    HEART_RANK = 3
    BEAT_KIND = "ecg"


class E4IntervalStage(IntervalStage):
    """An E4's IBI.csv (seconds, stamped on the 64 Hz BVP clock): beats the E4 found in its own
    pulse; below the BVP trace itself, whose beats the gateway finds with the validated pulse
    path (dsp.pulse)."""

    MS_PER_UNIT = 1000.0
    RESOLUTION_HZ = 64.0
    HEART_RANK = 1
    BEAT_KIND = "pulse"


class PulseIntervalStage(IntervalStage):
    """Pulse-to-pulse intervals (PPI, ms) a watch or band computed; below a pulse trace."""

    HEART_RANK = 1
    BEAT_KIND = "pulse"


class StrapHeartRateStage(CountStage):
    """The strap's own heart-rate readings: their mean over the window."""

    def close(self, start_ns: int, end_ns: int) -> StageWindow:
        present = self.buffer.count(start_ns, end_ns)
        if not present:
            return StageWindow(present, _NOTHING, {})
        samples = self.buffer.window(start_ns, end_ns)[1]
        return StageWindow(present, {"strap_heart_rate_bpm": float(np.mean(samples[:, 0]))}, {})


#: The one place a stream's name chooses its stage (names as ingest/devices' decoders emit
#: them); any other stream is a CountStage.
STAGES: dict[str, type[CountStage]] = {
    "ecg": EcgStage,
    "bvp": PulseStage,  # an E4's BVP.csv (`vagus import e4`)
    "ppg": PulseStage,
    "rr": StrapIntervalStage,  # a Heart Rate Service strap's RR intervals
    "ibi": E4IntervalStage,  # an E4's IBI.csv (`vagus import e4`)
    "ppi": PulseIntervalStage,
    "eda": EdaStage,
    "acc": AccStage,
    "hr": StrapHeartRateStage,
}


def _skin(eda_us: npt.NDArray[np.float64], rate: float) -> Readable:
    """Readable SCL and SCR rate of the window's raw EDA (low-passed once for both; the SCRs
    in one kernel call: dsp.eda.slope_kernels.skin_kernel; _skin_reference is its twin)."""
    samples = np.ascontiguousarray(eda_us, dtype=np.float64)
    lowpass, pad = clean_eda_design(float(rate))
    level, count = skin_kernel(samples, float(rate), lowpass, pad, _SCR_FLOOR_US)
    if math.isnan(level) or samples.size == 0:  # the reference raises the clear error
        return _skin_reference(eda_us, rate)
    return {
        "scl_us": finite(level),
        "scr_count": count,
        "scr_rate_per_min": 60.0 * count / (len(eda_us) / rate),
    }


def _skin_reference(eda_us: npt.NDArray[np.float64], rate: float) -> Readable:
    """numpy twin of _skin (detect_scrs and scr_rate_per_min)."""
    clean = clean_eda(eda_us, rate)
    scrs = detect_scrs(clean, rate, prefiltered=True)
    return {
        "scl_us": finite(float(np.median(clean))),
        "scr_count": len(scrs.peak_idx),
        "scr_rate_per_min": scr_rate_per_min(scrs, len(eda_us) / rate),
    }
