"""A recorded paced-breathing protocol -> resonance pace -> the patient's audited policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.errors import RecordingError
from ingest.importers.inline import (
    ImportedRecord,
    device_entry,
    event_records,
    frame_records,
    in_time_order,
    inline_profile_toml,
)
from ingest.importers.output import write_imported
from ingest.recording import Marker, RecordingHeader
from stream.settings import KafkaSettings
from tests.dsp.test_resonance import paced_rr
from tests.helpers import PATIENT, config_with_topics, run_vagus
from vagus.resonance_assessment import Schedule, assess

PACES = (7.0, 6.5, 6.0, 5.5, 5.0, 4.5)
SEGMENT_S = 150.0
START_NS = 1_773_151_200 * 10**9
ECG_HZ = 250.0


def _beat_times_ns(resonance: float) -> np.ndarray:
    """Beat times of the whole protocol: each pace's RR series, back to back."""
    times, now = [], 0.0
    for i, pace in enumerate(PACES):
        segment_end = (i + 1) * SEGMENT_S
        for rr in paced_rr(pace, resonance=resonance, seed=i, seconds=SEGMENT_S + 5):
            if now + rr / 1000 >= segment_end:
                break
            now += rr / 1000
            times.append(now)
        now = segment_end
    return START_NS + (np.asarray(times) * 1e9).astype(np.int64)


def _ecg(beats_ns: np.ndarray) -> np.ndarray:
    """µV: a narrow R wave at each beat, a T wave after it, and noise."""
    t = np.arange(int(len(PACES) * SEGMENT_S * ECG_HZ)) / ECG_HZ
    x = np.random.default_rng(3).normal(0.0, 15.0, t.size)
    for beat in (beats_ns - START_NS) / 1e9:
        near = slice(max(0, int((beat - 0.1) * ECG_HZ)), int((beat + 0.4) * ECG_HZ))
        x[near] += 1200.0 * np.exp(-(((t[near] - beat) / 0.012) ** 2))
        x[near] += 250.0 * np.exp(-(((t[near] - beat - 0.25) / 0.05) ** 2))
    return np.round(x).astype(np.int16)


def _pace_markers() -> list[Marker]:
    starts = [START_NS + int(i * SEGMENT_S * 1e9) for i in range(len(PACES) + 1)]
    labels = [f"pace={p:g}" for p in PACES] + ["pace=end"]
    return [Marker(t, label, "") for t, label in zip(starts, labels, strict=True)]


def _write(path: Path, *, beats: str, markers: bool, resonance: float = 5.5) -> Path:
    beat_ns = _beat_times_ns(resonance)
    if beats == "ecg":
        entry = device_entry(
            device_id="d-00000000",
            label="chest ECG",
            profile_toml=inline_profile_toml(
                name="test-ecg", signal="ecg", description="synthetic", sample_type="i16",
                units="uV", rate_hz=ECG_HZ,
            ),
        )  # fmt: skip
        records = frame_records(entry, _ecg(beat_ns), start_ns=START_NS)
    else:
        entry = device_entry(
            device_id="d-00000001",
            label=beats.upper(),
            profile_toml=inline_profile_toml(
                name=f"test-{beats}", signal=beats, description="synthetic", sample_type="f64",
                units="s", rate_hz=1.0,
            ),
        )  # fmt: skip
        intervals = np.diff(beat_ns, prepend=START_NS) / 1e9
        records = event_records(entry, intervals, [int(t) for t in beat_ns])
    everything: list[ImportedRecord] = [*records, *(_pace_markers() if markers else [])]
    header = RecordingHeader(
        format_version=2, patient_id=PATIENT, start_time_ns=START_NS, devices=[entry]
    )
    write_imported(path, header, in_time_order(everything))
    return path


@pytest.mark.parametrize("beats", ["ecg", "ibi", "ppi"])
def test_the_resonant_pace_is_found_from_markers(tmp_path: Path, beats: str) -> None:
    assessment = assess(_write(tmp_path / "protocol.vagus", beats=beats, markers=True))
    assert assessment.estimate.breaths_per_min == 5.5
    assert assessment.decode_errors == 0
    assert assessment.beat_source.startswith("ECG" if beats == "ecg" else "device intervals")
    assert [s.breaths_per_min for s in assessment.estimate.segments] == list(PACES)


def test_a_schedule_stands_in_for_markers(tmp_path: Path) -> None:
    path = _write(tmp_path / "protocol.vagus", beats="ibi", markers=False, resonance=6.5)
    with pytest.raises(RecordingError, match="no pace="):
        assess(path)
    assert assess(path, Schedule(PACES, SEGMENT_S)).estimate.breaths_per_min == 6.5


def test_a_shifted_schedule_leaves_short_segments_out(tmp_path: Path) -> None:
    path = _write(tmp_path / "protocol.vagus", beats="ibi", markers=False)
    shifted = assess(path, Schedule(PACES, SEGMENT_S, start_s=60.0)).estimate
    assert shifted.segments[-1].problem is not None  # runs past the end of the recording


@pytest.mark.broker
async def test_apply_publishes_an_audited_policy_version(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    recording = str(_write(tmp_path / "protocol.vagus", beats="ibi", markers=True))
    refused = run_vagus(
        "--config", config, "resonance", recording, "--apply", PATIENT,
        "--actor", "clinician:c-17", "--min-confidence", "1.01",
    )  # fmt: skip
    assert refused.returncode != 0
    assert "below --min-confidence" in refused.stderr
    applied = run_vagus(
        "--config", config, "resonance", recording, "--apply", PATIENT,
        "--actor", "clinician:c-17", "--reason", "first visit",
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    assert "policy v1 paces breathing at 5.5/min" in applied.stdout

    shown = json.loads(run_vagus("--config", config, "policy", "show", PATIENT).stdout)
    assert shown["version"] == 1
    assert shown["policy"]["resonance_breaths_per_min"] == 5.5
    history = json.loads(run_vagus("--config", config, "policy", "history", PATIENT).stdout)
    (entry,) = history["audit"]
    assert entry["actor"] == "clinician:c-17"
    assert entry["new"] == {"resonance_breaths_per_min": "5.5"}
    assert entry["reason"].startswith("resonance assessment of protocol.vagus: 5.5/min")
    assert entry["reason"].endswith("; first visit")
