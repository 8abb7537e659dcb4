"""The gateway's signal path: samples in, feature windows, stress scores and episodes out.

Pure and synchronous: it knows nothing of Kafka or BLE, so it is tested directly and replayed
deterministically. Windows close on the *data's* time (a watermark of the latest sample time
minus an allowed lateness), never on the wall clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dsp.activity import activity_summary
from dsp.buffer import SampleBuffer
from dsp.ecg import detect_r_peaks
from dsp.eda import detect_scrs, scr_rate_per_min, tonic_level_us
from dsp.episodes import EpisodeTracker, Transition
from dsp.hrv import clean_rr, time_domain
from dsp.stress_rule import METHOD, PersonalBaseline, RuleInputs, stress_score
from ingest.decoding import SampleBlock
from stream.events import (
    CoverageKind,
    Event,
    Features,
    FeatureWindow,
    ScoreQuality,
    SignalQuality,
    StressEpisode,
    StressScore,
)
from stream.ids import new_event_id
from vagus.config import WindowSettings

NS = 1_000_000_000
#: Nominal rate per stream, for coverage (how much of a window the samples fill).
NOMINAL_RATE_HZ = {"ecg": 130.0, "acc": 25.0, "eda": 8.0}
_CHANNELS = {"acc": 3}
MIN_BEATS = 20
MAX_ARTIFACT_FRACTION = 0.2
MAX_MOTION_FRACTION = 0.5


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """A closed window, the events that follow from it, and which of them the loop decides on."""

    window: FeatureWindow
    events: list[Event]
    decision_triggers: list[str]


@dataclass
class PipelineCounters:
    windows: int = 0
    scored: int = 0
    episodes: int = 0
    samples: dict[str, int] = field(default_factory=dict)


class FeaturePipeline:
    """One patient's windows, baseline and episode state."""

    def __init__(self, *, patient_id: str, producer_id: str, windows: WindowSettings) -> None:
        self.patient_id = patient_id
        self.producer_id = producer_id
        self.settings = windows
        self.counters = PipelineCounters()
        self._buffers: dict[str, SampleBuffer] = {}
        self._devices: dict[str, str] = {}
        self._rates: dict[str, float] = {}
        self._origin_ns: int | None = None
        self._next_window = 0
        self._baseline = PersonalBaseline()
        self._episodes = EpisodeTracker()
        self._episode_id: str | None = None
        self._episode_start_ns = 0
        self._stream_state: dict[str, str] = {}

    def add(self, block: SampleBlock) -> None:
        if len(block.times_ns) == 0:
            return
        if self._origin_ns is None:
            self._origin_ns = int(block.times_ns[0])
        buffer = self._buffers.get(block.stream)
        if buffer is None:
            buffer = SampleBuffer(_CHANNELS.get(block.stream, 1))
            self._buffers[block.stream] = buffer
        buffer.extend(block.times_ns, block.values)
        self._devices[block.stream] = block.device_id
        if block.rate_hz:
            self._rates[block.stream] = block.rate_hz
        self.counters.samples[block.stream] = buffer.total_samples

    def _window_bounds(self, index: int) -> tuple[int, int]:
        assert self._origin_ns is not None
        start = self._origin_ns + int(index * self.settings.hop_s * NS)
        return start, start + int(self.settings.window_s * NS)

    def advance(self, watermark_ns: int) -> list[ClosedWindow]:
        """Close every window that ends before ``watermark_ns - lateness``."""
        closed = []
        limit = watermark_ns - int(self.settings.lateness_s * NS)
        while self._origin_ns is not None:
            start, end = self._window_bounds(self._next_window)
            if end > limit:
                break
            closed.append(self._close(start, end))
            self._next_window += 1
            self._trim(start)
        return closed

    def finish(self) -> list[ClosedWindow]:
        """Close the windows the data covers, once the source has ended."""
        latest = max((b.latest_ns or 0 for b in self._buffers.values()), default=0)
        return self.advance(latest + int(self.settings.lateness_s * NS) + 1)

    def _trim(self, window_start_ns: int) -> None:
        next_start, _ = self._window_bounds(self._next_window)
        for buffer in self._buffers.values():
            buffer.trim(min(window_start_ns, next_start))

    def _close(self, start: int, end: int) -> ClosedWindow:
        features, coverage = self._features(start, end)
        window = FeatureWindow(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=end,
            window_start_ns=start,
            window_end_ns=end,
            features=features,
            coverage=coverage,
        )
        self.counters.windows += 1
        events: list[Event] = self._quality_events(start, end, coverage)
        episode_was_open = self._episodes.active
        scored = self._score(window)
        events.extend(scored)
        # The loop decides on every score inside an open episode and on every episode start.
        triggers = [
            e.event_id
            for e in scored
            if (isinstance(e, StressScore) and episode_was_open)
            or (isinstance(e, StressEpisode) and e.phase == "start")
        ]
        return ClosedWindow(window, events, triggers)

    def _features(self, start: int, end: int) -> tuple[Features, dict[str, float]]:
        duration_s = (end - start) / NS
        coverage: dict[str, float] = {}
        values: dict[str, float | int | None] = {}
        for stream, buffer in self._buffers.items():
            times, samples = buffer.window(start, end)
            rate = self._rates.get(stream, NOMINAL_RATE_HZ.get(stream, 0.0))
            if rate:
                coverage[stream] = min(1.0, len(times) / (rate * duration_s))
            if stream == "ecg" and len(times) > rate * 5:
                values |= self._heart_features(times, samples[:, 0], rate)
            elif stream == "eda" and len(times) > rate * 5:
                scrs = detect_scrs(samples[:, 0], rate)
                values["scl_us"] = _finite(tonic_level_us(samples[:, 0], rate))
                values["scr_count"] = len(scrs.peak_idx)
                values["scr_rate_per_min"] = scr_rate_per_min(scrs, len(times) / rate)
            elif stream == "acc" and len(times) > rate * 5:
                activity = activity_summary(samples / 1000.0, rate)
                values["activity_enmo_g"] = _finite(activity.mean_enmo_g)
                values["motion_fraction"] = _finite(activity.motion_fraction)
            elif stream == "hr" and len(times):
                values["strap_heart_rate_bpm"] = float(np.mean(samples[:, 0]))
        return Features(**values), coverage  # type: ignore[arg-type]

    @staticmethod
    def _heart_features(
        times: np.ndarray, ecg: np.ndarray, rate: float
    ) -> dict[str, float | int | None]:
        peaks = detect_r_peaks(ecg, rate)
        if len(peaks) < 3:
            return {"beats": len(peaks)}
        rr_ms = np.diff(times[peaks]).astype(np.float64) / 1e6
        keep = clean_rr(rr_ms)
        hrv = time_domain(rr_ms, keep)
        return {
            "beats": len(peaks),
            "heart_rate_bpm": _finite(hrv.mean_hr_bpm),
            "mean_nn_ms": _finite(hrv.mean_nn_ms),
            "rmssd_ms": _finite(hrv.rmssd_ms),
            "sdnn_ms": _finite(hrv.sdnn_ms),
            "rr_artifact_fraction": float(1.0 - np.mean(keep)),
        }

    def _quality_events(self, start: int, end: int, coverage: dict[str, float]) -> list[Event]:
        events: list[Event] = []
        for stream, share in sorted(coverage.items()):
            kind: CoverageKind = "ok" if share >= 0.9 else "degraded" if share >= 0.1 else "gap"
            if self._stream_state.get(stream) == kind:
                continue
            self._stream_state[stream] = kind
            events.append(
                SignalQuality(
                    patient_id=self.patient_id,
                    producer_id=self.producer_id,
                    gateway_time_ns=end,
                    device_id=self._devices[stream],
                    stream=stream,
                    span_start_ns=start,
                    span_end_ns=end,
                    coverage=share,
                    kind=kind,
                    detail=f"{share:.0%} of the window's samples present",
                )
            )
        return events

    def _score(self, window: FeatureWindow) -> list[Event]:
        features = window.features
        inputs = RuleInputs(features.heart_rate_bpm, features.rmssd_ms, features.scr_rate_per_min)
        assert self._origin_ns is not None
        calibrating = window.window_end_ns <= self._origin_ns + self.settings.calibration_s * NS
        if calibrating:
            self._baseline.add(inputs)
        elif not self._baseline.frozen:
            self._baseline.freeze()
        components = self._baseline.z_scores(inputs) if self._baseline.ready else {}
        score = stress_score(components)
        quality = self._quality(features, calibrating)
        usable = score if quality == "ok" else None
        events: list[Event] = [
            StressScore(
                patient_id=self.patient_id,
                producer_id=self.producer_id,
                gateway_time_ns=window.window_end_ns,
                window_id=window.event_id,
                window_end_ns=window.window_end_ns,
                score=score if quality != "calibrating" else None,
                method=METHOD,
                quality=quality,
                components=components,
            )
        ]
        if quality != "calibrating":
            self.counters.scored += 1
        transition = self._episodes.update(usable)
        if transition is Transition.NONE:
            return events
        assert usable is not None
        if transition is Transition.START:
            self._episode_id = new_event_id()
            self._episode_start_ns = window.window_end_ns
            self.counters.episodes += 1
        assert self._episode_id is not None
        events.append(
            StressEpisode(
                patient_id=self.patient_id,
                producer_id=self.producer_id,
                gateway_time_ns=window.window_end_ns,
                episode_id=self._episode_id,
                phase="start" if transition is Transition.START else "end",
                started_at_ns=self._episode_start_ns,
                score=usable,
                trigger_window_id=window.event_id,
                components=components,
            )
        )
        return events

    def _quality(self, features: Features, calibrating: bool) -> ScoreQuality:
        if calibrating or not self._baseline.ready:
            return "calibrating"
        artifacts = features.rr_artifact_fraction
        if features.beats < MIN_BEATS or artifacts is None or artifacts > MAX_ARTIFACT_FRACTION:
            return "poor_signal"
        if (features.motion_fraction or 0.0) > MAX_MOTION_FRACTION:
            return "motion"
        return "ok"
