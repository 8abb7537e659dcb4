"""The gateway's signal path on the bundled recording, against the simulator's known truth.

The demo recording is synthesised from a known RR series and known phase parameters
(scripts/make_demo_recording.py), so the features the pipeline computes from the raw PMD frames
can be checked against what was put in.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.decoding import DeviceDecoder
from ingest.recording import Marker, NotificationRecord, RecordingReader
from stream.events import SignalQuality, StressEpisode, StressScore
from vagus.config import WindowSettings
from vagus.demo import DEFAULT_RECORDING
from vagus.pipeline import ClosedWindow, FeaturePipeline

ROOT = Path(__file__).resolve().parents[2]
NS = 1_000_000_000


@pytest.fixture(scope="module")
def windows() -> tuple[list[ClosedWindow], dict[str, int]]:
    reader = RecordingReader(DEFAULT_RECORDING)
    decoders = {d.device_id: DeviceDecoder(d.device_id, d.profile) for d in reader.header.devices}
    pipeline = FeaturePipeline(
        patient_id=reader.header.patient_id, producer_id="test", windows=WindowSettings()
    )
    closed: list[ClosedWindow] = []
    phases: dict[str, int] = {}
    for record in reader:
        if isinstance(record, Marker):
            phases[record.label.removeprefix("phase:")] = record.gateway_time_ns
        elif isinstance(record, NotificationRecord):
            for block in decoders[record.device_id].decode(record.to_notification()):
                pipeline.add(block)
            closed += pipeline.advance(record.gateway_time_ns)
    closed += pipeline.finish()
    assert reader.report.intact
    return closed, phases


def _in(window: ClosedWindow, phases: dict[str, int], phase: str, margin_s: float = 60) -> bool:
    """Windows wholly inside a phase, away from the transitions."""
    bounds = [*sorted(phases.values()), max(phases.values()) + 420 * NS]
    start = phases[phase]
    end = min(b for b in bounds if b > start)
    w = window.window
    return w.window_start_ns >= start + margin_s * NS and w.window_end_ns <= end - margin_s * NS


def _feature(windows: list[ClosedWindow], name: str) -> float:
    values = [getattr(w.window.features, name) for w in windows]
    return float(statistics.median(v for v in values if v is not None))


def test_features_match_the_simulated_physiology(
    windows: tuple[list[ClosedWindow], dict[str, int]],
) -> None:
    closed, phases = windows
    baseline = [w for w in closed if _in(w, phases, "baseline")]
    stress = [w for w in closed if _in(w, phases, "stress")]
    assert len(baseline) >= 20 and len(stress) >= 15
    # Simulated mean RR: 909 ms at baseline (66 bpm), 652 ms under stress (92 bpm).
    assert _feature(baseline, "heart_rate_bpm") == pytest.approx(66.0, abs=1.5)
    assert _feature(stress, "heart_rate_bpm") == pytest.approx(92.0, abs=1.5)
    # The strap's own heart rate agrees with the ECG-derived one.
    assert _feature(stress, "strap_heart_rate_bpm") == pytest.approx(92.0, abs=2.0)
    assert _feature(stress, "rmssd_ms") < 0.4 * _feature(baseline, "rmssd_ms")
    assert _feature(stress, "scr_rate_per_min") > 2 * _feature(baseline, "scr_rate_per_min")
    assert _feature(stress, "motion_fraction") < 0.5
    for window in closed[1:]:
        assert window.window.features.rr_artifact_fraction == 0.0
        assert min(window.window.coverage.values()) >= 0.95


def test_episode_during_stress_and_never_in_baseline(
    windows: tuple[list[ClosedWindow], dict[str, int]],
) -> None:
    closed, phases = windows
    starts = [
        e for w in closed for e in w.events if isinstance(e, StressEpisode) and e.phase == "start"
    ]
    assert len(starts) == 1
    assert phases["stress"] <= starts[0].gateway_time_ns < phases["stress"] + 120 * NS
    baseline_scores = [
        e.score
        for w in closed
        for e in w.events
        if isinstance(e, StressScore)
        and e.score is not None
        and e.gateway_time_ns < phases["stress"]
    ]
    assert baseline_scores and max(baseline_scores) < 0.4


def test_calibration_then_scoring(windows: tuple[list[ClosedWindow], dict[str, int]]) -> None:
    closed, phases = windows
    scores = [e for w in closed for e in w.events if isinstance(e, StressScore)]
    calibrating = [s for s in scores if s.quality == "calibrating"]
    assert all(s.score is None for s in calibrating)
    assert all(s.window_end_ns <= phases["baseline"] + 300 * NS + NS for s in calibrating)
    assert sum(s.quality == "ok" for s in scores) >= 80


def test_signal_quality_reported_once_per_stream_when_steady(
    windows: tuple[list[ClosedWindow], dict[str, int]],
) -> None:
    closed, _ = windows
    quality = [e for w in closed for e in w.events if isinstance(e, SignalQuality)]
    assert sorted(q.stream for q in quality) == ["acc", "ecg", "eda"]
    assert all(q.kind == "ok" for q in quality)


def test_the_bundled_recording_regenerates_byte_for_byte(tmp_path: Path) -> None:
    output = tmp_path / "again.vrec"
    subprocess.run(
        [sys.executable, "scripts/make_demo_recording.py", "-o", str(output)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert output.read_bytes() == DEFAULT_RECORDING.read_bytes()
