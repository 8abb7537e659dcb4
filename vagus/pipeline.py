"""The gateway's signal path: samples in, feature windows, stress scores and episodes out.

Pure and synchronous: it knows nothing of Kafka or BLE, so it is tested directly and replayed
deterministically. Windows close on the *data's* time (a watermark of the latest sample time
minus an allowed lateness and the EDA look-ahead), never on the wall clock. Scores come from the
trained stress model (vagus.scoring) against the patient's own baseline; during the calibration
period windows are reported as ``calibrating`` and not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dsp.streaming.buffer import StreamBuffer
from dsp.streaming.signals import (
    HISTORY_S,
    LOOKAHEAD_S,
    NS,
    SignalState,
    WindowSignals,
    window_signals,
)
from dsp.stress import EpisodeTracker, Transition
from ingest.decoding import SampleBlock
from stream.events import Event, Features, FeatureWindow, StreamStarted, StressEpisode, StressScore
from stream.ids import new_event_id
from vagus.config import StressModelSettings, WindowSettings
from vagus.quality import QUALITY_REFRESH_S, QualityReporter
from vagus.scoring import MODEL_METHOD, StressScorer, WindowScore
from vagus.scoring_calibration import PatientCalibration

_CHANNELS = {"acc": 3}
LINK = "link"  # ingest.transport.gaps: a lost link before any stream had data: all of them
#: Buffers and trackers forget old samples every this many windows, not every window: windows
#: are cut by time, so what they hold beyond the look-back changes no result, and trimming was a
#: twentieth of a window's cost.
TRIM_EVERY = 6
#: take_started's answer when nothing opened; returned, never filled.
_NONE_STARTED: list[Event] = []


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


def baseline_state_path(state_dir: Path, patient_id: str) -> Path:
    """Where one patient's stress baseline and calibration are kept under a state directory."""
    return state_dir / f"stress-{patient_id}.json"


class FeaturePipeline:
    """One patient's windows, baseline and episode state."""

    method = MODEL_METHOD

    def __init__(
        self,
        *,
        patient_id: str,
        producer_id: str,
        windows: WindowSettings,
        stress: StressModelSettings | None = None,
        state_dir: Path | None = None,
        quality_refresh_s: float | None = QUALITY_REFRESH_S,
    ) -> None:
        self.patient_id = patient_id
        self.producer_id = producer_id
        self.settings = windows
        self.counters = PipelineCounters()
        stress = stress if stress is not None else StressModelSettings()
        state = baseline_state_path(state_dir, patient_id) if state_dir is not None else None
        self.scorer = StressScorer(settings=stress, state_path=state)
        self._hysteresis = stress.episode_hysteresis
        threshold = self.scorer.calibration.threshold
        self._episodes = EpisodeTracker(
            on_threshold=threshold, off_threshold=max(0.0, threshold - self._hysteresis)
        )
        self._buffers: dict[str, StreamBuffer] = {}
        self._devices: dict[str, str] = {}
        self._rates: dict[str, float] = {}
        self._origin_ns: int | None = None
        self._next_window = 0
        self._not_before_ns = -(2**63)
        self._episode_id: str | None = None
        self._episode_start_ns = 0
        self._quality = QualityReporter(
            patient_id=patient_id, producer_id=producer_id, refresh_s=quality_refresh_s
        )
        self._signals = SignalState()
        self._started: list[Event] = []

    def set_calibration(self, calibration: PatientCalibration) -> None:
        """Adopt a patient's new threshold or Platt correction; the episode hysteresis follows."""
        self.scorer.set_calibration(calibration)
        self._episodes.on_threshold = calibration.threshold
        self._episodes.off_threshold = max(0.0, calibration.threshold - self._hysteresis)

    def add(self, block: SampleBlock) -> None:
        """Hold one notification's samples (the gateway's per-notification path: kept lean,
        since it runs ~13,600 times an hour against one window every hop)."""
        times = block.times_ns
        if len(times) == 0:
            return
        stream = block.stream
        buffer = self._buffers.get(stream)
        if buffer is None:
            buffer = self._open_stream(stream, int(times[0]))
            self._started.append(
                StreamStarted(
                    patient_id=self.patient_id,
                    producer_id=self.producer_id,
                    gateway_time_ns=int(times[0]),
                    device_id=block.device_id,
                    stream=stream,
                    rate_hz=block.rate_hz or None,
                )
            )
        buffer.extend(times, block.values)
        self._devices[stream] = block.device_id
        if block.rate_hz:
            self._rates[stream] = block.rate_hz

    def take_started(self) -> list[Event]:
        """The ``stream_started`` events of the streams opened since the last call (asked once
        per notification: no new list unless a stream opened)."""
        if not self._started:
            return _NONE_STARTED
        started, self._started = self._started, []
        return started

    def _open_stream(self, stream: str, first_ns: int) -> StreamBuffer:
        if self._origin_ns is None:
            self._origin_ns = first_ns
        buffer = StreamBuffer(_CHANNELS.get(stream, 1))
        self._buffers[stream] = buffer
        return buffer

    def mark_gap(
        self, stream: str, start_ns: int, end_ns: int, *, device_id: str | None = None
    ) -> None:
        """Data of ``stream`` is missing between start_ns and end_ns (gateway ns; a gap marker's
        ``start_ns`` / ``end_ns``): no beat interval, RR or EDA filter spans it, and windows it
        covers by more than GAP_SHARE_LIMIT (vagus.quality) report ``gap``.
        ``stream="link"`` (a link lost before any data) marks every stream of ``device_id``
        (every stream when None)."""
        if end_ns <= start_ns:
            raise ValueError(f"a gap must end after it starts ({start_ns} >= {end_ns})")
        if stream == LINK:
            streams = [s for s, d in self._devices.items() if device_id in (None, d)]
        else:
            streams = [stream]
        for name in streams:
            self._signals.gap_log(name).add(start_ns, end_ns)

    def _window_bounds(self, index: int) -> tuple[int, int]:
        assert self._origin_ns is not None
        start = self._origin_ns + int(index * self.settings.hop_s * NS)
        return start, start + int(self.settings.window_s * NS)

    def advance(self, watermark_ns: int) -> list[ClosedWindow]:
        """Close every window that ends before ``watermark_ns - lateness - look-ahead``."""
        closed: list[ClosedWindow] = []
        if watermark_ns < self._not_before_ns:  # most calls (one per notification) stop here
            return closed
        limit = watermark_ns - int((self.settings.lateness_s + LOOKAHEAD_S) * NS)
        while self._origin_ns is not None:
            start, end = self._window_bounds(self._next_window)
            if end > limit:
                break
            closed.append(self._close(start, end))
            self._next_window += 1
            if self._next_window % TRIM_EVERY == 0:
                self._trim()
        if self._origin_ns is not None:  # the watermark the next window needs
            next_end = self._window_bounds(self._next_window)[1]
            self._not_before_ns = next_end + int((self.settings.lateness_s + LOOKAHEAD_S) * NS)
        return closed

    def finish(self) -> list[ClosedWindow]:
        """Close the windows the data covers, once the source has ended."""
        latest = max((b.latest_ns or 0 for b in self._buffers.values()), default=0)
        return self.advance(latest + int((self.settings.lateness_s + LOOKAHEAD_S) * NS) + 1)

    def _trim(self) -> None:
        """Keep the look-back the next window needs (the longer of the window and HISTORY_S)."""
        next_start, next_end = self._window_bounds(self._next_window)
        keep_from = min(next_start, next_end - int(HISTORY_S * NS))
        for buffer in self._buffers.values():
            buffer.trim(keep_from)
        self._signals.trim(keep_from)

    def _close(self, start: int, end: int) -> ClosedWindow:
        signals = window_signals(self._buffers, self._rates, self._signals, start=start, end=end)
        window = FeatureWindow(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=end,
            window_start_ns=start,
            window_end_ns=end,
            features=Features(**signals.readable),  # type: ignore[arg-type]
            coverage=signals.coverage,
            model_features=signals.model_features,
        )
        self.counters.windows += 1
        events: list[Event] = self._quality.events(
            start, end, signals.coverage, gaps=self._signals.gaps, devices=self._devices
        )
        episode_was_open = self._episodes.active
        scored = self._score(window, signals)
        events.extend(scored)
        # The loop decides on every score inside an open episode and on every episode start.
        triggers = [
            e.event_id
            for e in scored
            if (isinstance(e, StressScore) and episode_was_open)
            or (isinstance(e, StressEpisode) and e.phase == "start")
        ]
        return ClosedWindow(window, events, triggers)

    def _score(self, window: FeatureWindow, signals: WindowSignals) -> list[Event]:
        assert self._origin_ns is not None
        calibration_end = self._origin_ns + int(self.settings.calibration_s * NS)
        result = self.scorer.score(
            signals.model_features,
            signals.quality,
            in_calibration_period=window.window_end_ns <= calibration_end,
        )
        threshold = self.scorer.calibration.threshold
        events: list[Event] = [
            StressScore(
                patient_id=self.patient_id,
                producer_id=self.producer_id,
                gateway_time_ns=window.window_end_ns,
                window_id=window.event_id,
                window_end_ns=window.window_end_ns,
                score=result.probability,
                method=MODEL_METHOD,
                quality=result.quality,
                components=result.components,
                threshold=threshold if result.quality == "ok" else None,
            )
        ]
        if result.quality != "calibrating":
            self.counters.scored += 1
        episode = self._episode(window, result)
        return events if episode is None else [*events, episode]

    def _episode(self, window: FeatureWindow, result: WindowScore) -> StressEpisode | None:
        """Feed the hysteresis (unusable windows neither start nor end an episode)."""
        usable = result.probability if result.quality == "ok" else None
        transition = self._episodes.update(usable)
        if transition is Transition.NONE:
            return None
        assert usable is not None
        if transition is Transition.START:
            self._episode_id = new_event_id()
            self._episode_start_ns = window.window_end_ns
            self.counters.episodes += 1
        assert self._episode_id is not None
        return StressEpisode(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=window.window_end_ns,
            episode_id=self._episode_id,
            phase="start" if transition is Transition.START else "end",
            started_at_ns=self._episode_start_ns,
            score=usable,
            trigger_window_id=window.event_id,
            components=result.components,
        )
