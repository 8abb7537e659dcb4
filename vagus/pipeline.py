"""The gateway's adapter around the streaming engine: samples in, events out.

dsp.streaming.Engine does the signal work (windows closed on the data's time, one stage per
stream, coverage and quality per stream); this module turns each of its WindowResults into a
FeatureWindow, the SignalQuality reports that are news (vagus.quality), a StressScore from the
trained stress model (vagus.scoring) against the patient's own baseline, and StressEpisodes.
Pure and synchronous: it knows nothing of Kafka or BLE, so it is tested directly and replayed
deterministically. During the calibration period windows are reported as ``calibrating`` and
not scored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dsp.streaming import LINK, STAGES, Engine, Gap, WindowResult
from dsp.streaming.clock import NS
from dsp.streaming.engine import StageFactory
from dsp.stress import EpisodeTracker, StressModel, Transition
from dsp.stress.model import UNDECLARED_SITE
from ingest.decoding import SampleBlock
from stream.events import (
    Event,
    Features,
    FeatureWindow,
    StreamGap,
    StreamStarted,
    StressEpisode,
    StressScore,
)
from stream.ids import new_event_id
from vagus.config import StressModelSettings, WindowSettings
from vagus.quality import QUALITY_REFRESH_S, QualityReporter
from vagus.scoring import StressScorer, WindowScore
from vagus.scoring_calibration import PatientCalibration

log = logging.getLogger(__name__)
#: the streams heart data come from (ECG, wrist pulse): those whose stage ranks as a beat source
HEART_STREAMS = tuple(name for name, stage in STAGES.items() if stage.HEART_RANK > 0)

#: the stream the stress model's motion inputs come from
MOTION_STREAM = "acc"

#: take_notices' answer when there is no news; returned, never filled.
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
    stream_gaps: int = 0


def baseline_state_path(state_dir: Path, patient_id: str) -> Path:
    """Where one patient's stress baseline and calibration are kept under a state directory."""
    return state_dir / f"stress-{patient_id}.json"


class FeaturePipeline:
    """One patient's windows, baseline and episode state."""

    def __init__(
        self,
        *,
        patient_id: str,
        producer_id: str,
        windows: WindowSettings,
        stress: StressModelSettings | None = None,
        state_dir: Path | None = None,
        quality_refresh_s: float | None = QUALITY_REFRESH_S,
        stages: Mapping[str, StageFactory] = STAGES,
        model: StressModel | None = None,
    ) -> None:
        """``stages`` chooses each stream's stage (tests pass reference stages); ``model``, a
        stress model file other than the bundled one the settings choose (training scores the
        files it has just written through this very path)."""
        self.patient_id = patient_id
        self.producer_id = producer_id
        self.settings = windows
        self.counters = PipelineCounters()
        stress = stress if stress is not None else StressModelSettings()
        state = baseline_state_path(state_dir, patient_id) if state_dir is not None else None
        self.scorer = StressScorer(settings=stress, state_path=state, model=model)
        #: names the scorer in every stress event (which model, which baseline estimator)
        self.method = self.scorer.method
        self._hysteresis = stress.episode_hysteresis
        threshold = self.scorer.calibration.threshold
        self._episodes = EpisodeTracker(
            on_threshold=threshold, off_threshold=max(0.0, threshold - self._hysteresis)
        )
        self.engine = Engine(
            window_s=windows.window_s,
            hop_s=windows.hop_s,
            lateness_s=windows.lateness_s,
            stages=stages,
            features=self.scorer.model.features,  # no work for features the model does not take
        )
        #: per stream: the device that feeds it (see add) and that device's latest sample time
        self._devices: dict[str, str] = {}
        self._last_ns: dict[str, int] = {}
        #: per stream: where on the body its device measures (SampleBlock.site), if it says
        self._sites: dict[str, str | None] = {}
        #: the site a stream must come from to feed the model: its motion inputs' (see add)
        motion_site = self.scorer.model.motion_site
        self._wanted_sites = {MOTION_STREAM: motion_site} if motion_site is not None else {}
        self._handover_ns = int(windows.window_s * NS)
        #: notifications kept out of the features, per (stream, device that sent them)
        self.kept_out: dict[tuple[str, str], int] = {}
        self._episode_id: str | None = None
        self._episode_start_ns = 0
        self._quality = QualityReporter(
            patient_id=patient_id, producer_id=producer_id, refresh_s=quality_refresh_s
        )
        self._notices: list[Event] = []
        self._advised = False  # _advise_inputs has spoken

    def set_calibration(self, calibration: PatientCalibration) -> None:
        """Adopt a patient's new threshold or Platt correction; the episode hysteresis follows."""
        self.scorer.set_calibration(calibration)
        self._episodes.on_threshold = calibration.threshold
        self._episodes.off_threshold = max(0.0, calibration.threshold - self._hysteresis)

    def add(self, block: SampleBlock) -> None:
        """Hold one notification's samples (the gateway's per-notification path: kept lean,
        since it runs ~13,600 times an hour against one window every hop).

        One device per stream at a time: the engine keeps a stage per stream name, so two
        devices sending the same stream (two accelerometers' ``acc``; an H10's and a Verity
        Sense's ``hr``) would be sorted into one buffer, as if one device had sent both. The
        device whose samples started the stream keeps it; another device's samples of it are
        kept out of the features (``kept_out`` counts them; a warning names both, once) until
        the owner has sent none of it for a window's length, when the stream passes to the one
        still sending (a replaced strap). One exception: motion measured where the stress
        model's was (a wrist band's, for a model of wrist motion) takes ``acc`` over at once
        from a device measuring elsewhere (a chest strap), whichever connected first, since the
        scorer refuses the other site's motion. The recording keeps every notification."""
        times, values = block.times_ns, block.values
        if not len(times):
            return  # an empty block holds nothing
        start = self._feeds(block.stream, block.device_id, block.site, times)
        if start:  # kept out (-1), or fed from a later sample on (a takeover's overlap)
            if start < 0:
                return
            times, values = times[start:], values[start:]
        if self.engine.add(block.stream, times, values, block.rate_hz):
            self._notices.append(
                StreamStarted(
                    patient_id=self.patient_id,
                    producer_id=self.producer_id,
                    gateway_time_ns=int(times[0]),
                    device_id=block.device_id,
                    stream=block.stream,
                    rate_hz=block.rate_hz or None,
                )
            )

    def _feeds(
        self, stream: str, device_id: str, site: str | None, times: npt.NDArray[np.int64]
    ) -> int:
        """From which of its samples ``device_id`` feeds ``stream`` now (see add), or -1 when it
        may not: 0 for the stream's device; a device measuring where the stress model's motion
        was measured takes the stream over at once from one that does not (from its first
        sample after the other's last), any other when the stream's device has been silent long
        enough. Keeps the device's latest sample time; says once per device and stream when it
        may not feed."""
        first, last = int(times[0]), int(times[-1])
        owner = self._devices.get(stream)
        if owner == device_id:  # the usual case, once per notification
            self._last_ns[stream] = max(last, self._last_ns[stream])
            return 0
        if owner is None:
            self._assign(stream, device_id, site, last)
            return 0
        previous = self._last_ns[stream]
        wanted = self._wanted_sites.get(stream)
        if wanted is not None and site == wanted != self._sites[stream]:
            log.info(
                "patient %s: %s passes from device %s (%s) to device %s (%s, where the stress "
                "model's motion was measured)",
                self.patient_id, stream, owner, self._sites[stream] or UNDECLARED_SITE,
                device_id, site,
            )  # fmt: skip
            self._assign(stream, device_id, site, max(last, previous))
            start = int(np.searchsorted(times, previous, side="right"))
            return start if start < len(times) else -1
        if first - previous <= self._handover_ns:
            count = self.kept_out[stream, device_id] = self.kept_out.get((stream, device_id), 0) + 1
            if count == 1:
                self._say_kept_out(stream, device_id, site, wanted)
            return -1
        log.info(
            "patient %s: %s passes from device %s (silent for %.0f s) to device %s",
            self.patient_id, stream, owner, (first - previous) / NS, device_id,
        )  # fmt: skip
        self._assign(stream, device_id, site, last)
        return 0

    def _assign(self, stream: str, device_id: str, site: str | None, last_ns: int) -> None:
        """``device_id`` (measuring at ``site``) feeds ``stream`` from now on."""
        self._devices[stream], self._sites[stream], self._last_ns[stream] = device_id, site, last_ns

    def _say_kept_out(
        self, stream: str, device_id: str, site: str | None, wanted: str | None
    ) -> None:
        """Once per device and stream: why its samples are kept out (a warning, unless it is
        the expected case of a strap's motion beside the wrist's the model reads)."""
        owner = self._devices[stream]
        if wanted is not None and self._sites[stream] == wanted != site:
            log.info(
                "patient %s: device %s's %s (%s) is kept out of the features: the stress model "
                "reads %s motion, which device %s sends (the recording keeps both)",
                self.patient_id, device_id, stream, site or UNDECLARED_SITE, wanted, owner,
            )  # fmt: skip
            return
        log.warning(
            "patient %s: device %s also sends %s, which device %s sends; its %s is kept "
            "out of the features while %s sends it (the recording keeps both)",
            self.patient_id, device_id, stream, owner, stream, owner,
        )  # fmt: skip

    def take_notices(self) -> list[Event]:
        """The events that belong to no window since the last call: ``stream_started`` of the
        streams opened and ``stream_gap`` of the gaps reported (asked once per notification: no
        new list unless there is news)."""
        if not self._notices:
            return _NONE_STARTED
        started, self._notices = self._notices, []
        return started

    def report_gap(self, device_id: str, gap: Gap) -> None:
        """A gap a marker reported (the transport's live, or a recording's): a lost link
        (``stream="link"``) cuts every stream of ``device_id``, and the engine reports each
        stream's gap across it (``stream_gap``, reason ``disconnected``) from the sample times
        once the samples after it are in; a link lost before the device sent any data is
        reported as it is, by the next take_notices. Per-stream markers (older recordings) are
        marked; the engine finds and reports those gaps itself, by the same rule."""
        if gap.stream != LINK:
            if gap.reason == "disconnected":
                self.engine.mark_link_loss(gap.stream, gap.start_ns, gap.end_ns)
            else:
                self.engine.mark_gap(gap.stream, gap.start_ns, gap.end_ns)
            return
        streams = [s for s, d in self._devices.items() if d == device_id]
        for stream in streams:
            self.engine.mark_link_loss(stream, gap.start_ns, gap.end_ns)
        if not streams:
            self._notices.append(self._gap_event(device_id, gap))

    def _gap_event(self, device_id: str, gap: Gap) -> StreamGap:
        self.counters.stream_gaps += 1
        return StreamGap(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=gap.end_ns,
            device_id=device_id,
            stream=gap.stream,
            gap_start_ns=gap.start_ns,
            gap_end_ns=gap.end_ns,
            reason=gap.reason,
        )

    def mark_gap(
        self, stream: str, start_ns: int, end_ns: int, *, device_id: str | None = None
    ) -> None:
        """Data of ``stream`` is missing between start_ns and end_ns (gateway ns; a gap marker's
        ``start_ns`` / ``end_ns``): no beat interval, RR or EDA filter spans it, and windows it
        covers by more than dsp.streaming.GAP_SHARE_LIMIT report ``gap``.
        ``stream="link"`` (a link lost before any data) marks every stream of ``device_id``
        (every stream when None)."""
        if end_ns <= start_ns:
            raise ValueError(f"a gap must end after it starts ({start_ns} >= {end_ns})")
        if stream == LINK:
            streams = [s for s, d in self._devices.items() if device_id in (None, d)]
        else:
            streams = [stream]
        for name in streams:
            self.engine.mark_gap(name, start_ns, end_ns)

    def advance(self, watermark_ns: int) -> list[ClosedWindow]:
        """Close every window that ends before ``watermark_ns - lateness - look-ahead``."""
        if watermark_ns < self.engine.clock.not_before_ns:  # most notifications: nothing due
            return []
        results = self.engine.advance(watermark_ns)
        return [self._close(r) for r in results] if results else []

    def finish(self) -> list[ClosedWindow]:
        """Close the windows the data covers, once the source has ended; the gaps found after
        the last of them follow as notices (take_notices)."""
        closed = [self._close(r) for r in self.engine.finish()]
        for gap in self.engine.take_gaps():
            self._notices.append(self._gap_event(self._devices[gap.stream], gap))
        return closed

    def _close(self, result: WindowResult) -> ClosedWindow:
        start, end = result.start_ns, result.end_ns
        window = FeatureWindow(
            patient_id=self.patient_id,
            producer_id=self.producer_id,
            gateway_time_ns=end,
            window_start_ns=start,
            window_end_ns=end,
            features=Features(**result.readable),  # type: ignore[arg-type]
            coverage=result.coverage,
            model_features=result.model_features,
        )
        self.counters.windows += 1
        events: list[Event] = [self._gap_event(self._devices[g.stream], g) for g in result.gaps]
        events += self._quality.events(start, end, result.quality, self._devices)
        episode_was_open = self._episodes.active
        scored = self._score(window, result)
        events.extend(scored)
        # The loop decides on every score inside an open episode and on every episode start.
        triggers = [
            e.event_id
            for e in scored
            if (isinstance(e, StressScore) and episode_was_open)
            or (isinstance(e, StressEpisode) and e.phase == "start")
        ]
        return ClosedWindow(window, events, triggers)

    def _score(self, window: FeatureWindow, signals: WindowResult) -> list[Event]:
        origin = self.engine.origin_ns
        assert origin is not None
        calibration_end = origin + int(self.settings.calibration_s * NS)
        inputs = signals.score_inputs
        if MOTION_STREAM in self._devices:  # where it was measured: the scorer refuses by site
            site = self._sites[MOTION_STREAM] or UNDECLARED_SITE
            inputs = replace(inputs, motion_site=site)
        result = self.scorer.score(
            signals.model_features,
            inputs,
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
                method=self.method,
                quality=result.quality,
                components=result.components,
                threshold=threshold if result.quality == "ok" else None,
            )
        ]
        if result.quality != "calibrating":
            self.counters.scored += 1
        if not self._advised and window.window_end_ns > calibration_end:
            self._advise_inputs(window, result)
        episode = self._episode(window, result)
        return events if episode is None else [*events, episode]

    def _advise_inputs(self, window: FeatureWindow, result: WindowScore) -> None:
        """Once per run: a model that reads heart data cannot calibrate on a patient whose
        devices give it none, or only beats of a kind it was not validated on (ECG for a model
        trained on wrist pulse), or whose wrist pulse fails the beat checks most of the time,
        which looks like a broken sensor; say which setting fits.
        Only once the calibration period is over with skin data and the baseline still short,
        so a strap that connects late is not taken for a missing one."""
        scorer = self.scorer
        if not scorer.model.gate.needs_beats or not scorer.calibrating:
            return
        if result.quality != "poor_signal" or window.coverage.get("eda", 0) <= 0:
            return
        self._advised = True
        sources = [s for s in HEART_STREAMS if s in window.coverage]
        log.warning(
            "patient %s: the calibration period is over and the stress model, which reads heart "
            "data, has %d of the %d usable windows it needs (heart data from: %s); for a patient "
            "without a wrist-pulse device, or whose wrist pulse is this disturbed, set "
            '[stress_model] inputs = "without_heart", the default (docs/configuration.md)',
            self.patient_id,
            scorer.baseline.windows,
            scorer.settings.min_calibration_windows,
            ", ".join(sources) or "no stream",
        )

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
