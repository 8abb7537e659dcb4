"""Issue 14 item 5 on every shared recording: streaming beats equal whole-record detection's.

The real Polar H10 ride is where the former engine lost beats: each seam run restarted its
Pan-Tompkins levels, which at exercise rates started above half the beats (16 beats of the ride
lost, 12 of them in 1161-1170 s; time-compressed to ~160-170 bpm, 25-53). Here it goes through
the gateway's own FeaturePipeline in 73-sample notifications, and every window's beat count and
heart rate are compared with whole-record detection of the same span. The other recordings go
through the beat tracker at 100-1000 Hz (see tests/dsp/test_streaming_equals_batch.py for the
bounds checked per window). Skipped when ../shared/data is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from dsp.ecg import detect_r_peaks
from dsp.streaming.rr import heart_features
from ingest.decoding import SampleBlock
from ingest.importers.wfdb import read_record
from tests.dsp.test_streaming_equals_batch import NS, T0, Hard, check_equal, stream_beats
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

ROOT = Path(__file__).parents[2]
DATA = ROOT / ".." / "shared" / "data"
sys.path.insert(0, str(ROOT / "bench"))  # bench/ is scripts, not a package: import as they do
from h10_ride import RIDE, read_notifications  # noqa: E402

pytestmark = pytest.mark.shared_data
RECORDS = {  # name: (path, lead)
    "mitdb100": ("ecg/mitdb100/100", "MLII"),
    "mitdb119": ("ecg/mitdb119/119", "MLII"),
    "mitdb200": ("ecg/mitdb200/200", "MLII"),
    "mitdb208": ("ecg/mitdb208/208", "MLII"),
    "svdb800": ("ecg/svdb800/800", 0),
}
CSVS = {"neurokit100": ("ecg/neurokit/bio_resting_5min_100hz.csv", 100.0),
        "neurokit1000": ("ecg/neurokit/ecg_1000hz.csv", 1000.0)}  # fmt: skip


def _need(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"../shared/data/{path.relative_to(DATA)} is not present")


def ride_uv() -> npt.NDArray[np.float64]:
    from ingest.profiles.polar_pmd import PmdEcgFrame, decode_pmd_data

    _need(DATA / RIDE)
    frames = [decode_pmd_data(f) for f in read_notifications(DATA / RIDE)]
    return np.concatenate([f.samples_uv for f in frames if isinstance(f, PmdEcgFrame)]).astype(
        np.float64
    )


def _times(n: int, fs: float) -> npt.NDArray[np.int64]:
    return T0 + (np.arange(n) * (NS / fs)).astype(np.int64)


def test_gateway_windows_on_the_h10_ride_count_the_beats_detection_finds() -> None:
    fs = 130.0
    x = ride_uv()
    times = _times(x.size, fs)
    batch = times[detect_r_peaks(x, fs)]
    pipeline = FeaturePipeline(patient_id="p", producer_id="t", windows=WindowSettings())
    windows = []
    for i in range(0, x.size, 73):  # one PMD notification each
        block = SampleBlock("h10", "ecg", times[i : i + 73], x[i : i + 73], "uV", fs)
        pipeline.add(block)
        windows += pipeline.advance(int(times[min(i + 73, x.size) - 1]))
    windows += pipeline.finish()
    assert len(windows) > 100
    worst = 0.0
    for closed in windows:
        start, end = closed.window.window_start_ns, closed.window.window_end_ns
        recent = batch[(batch >= end - 180 * NS) & (batch < end)]
        readable, _, _ = heart_features(
            recent, np.ones(max(recent.size - 1, 0), bool), fs=fs, start=start, end=end
        )
        features = closed.window.features
        assert features.beats == readable["beats"], (end - T0) / NS
        batch_hr = readable.get("heart_rate_bpm")
        if batch_hr is not None:
            assert features.heart_rate_bpm is not None
            worst = max(worst, abs(features.heart_rate_bpm - batch_hr))
    print(f"{len(windows)} windows, largest heart-rate difference {worst:.3f} bpm")
    assert worst <= 0.5


@pytest.mark.parametrize("faster", [1.0, 1.35, 1.5])
def test_h10_ride_time_compressed_streams_to_the_batch_beats(faster: float) -> None:
    """The ride read `faster` times faster (~120 -> 160-180 bpm), back at 130 Hz."""
    fs = 130.0
    x = ride_uv()
    x = np.interp(np.arange(int(x.size / faster)) * faster, np.arange(x.size), x)
    hard = Hard(fs, x, _times(x.size, fs), flipped=False)
    ours, closes = stream_beats(hard, np.random.default_rng(0), 10.0, 8.4)
    check_equal(hard, ours, closes)


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_wfdb_records_stream_to_the_batch_beats(name: str) -> None:
    path, lead = RECORDS[name]
    _need((DATA / path).with_suffix(".dat"))
    record = read_record(DATA / path)
    x = np.ascontiguousarray(
        record.lead(lead) if isinstance(lead, str) else record.signals_mv[:, 0]
    )
    hard = Hard(record.fs, x, _times(x.size, record.fs), flipped=False)
    ours, closes = stream_beats(hard, np.random.default_rng(1), 10.0, 8.4)
    check_equal(hard, ours, closes)


@pytest.mark.parametrize("name", sorted(CSVS))
def test_neurokit_csvs_stream_to_the_batch_beats(name: str) -> None:
    path, fs = CSVS[name]
    _need(DATA / path)
    x = np.loadtxt(DATA / path, delimiter=",", skiprows=1, usecols=0)
    hard = Hard(fs, np.ascontiguousarray(x), _times(x.size, fs), flipped=False)
    ours, closes = stream_beats(hard, np.random.default_rng(2), 7.3, 8.4)
    check_equal(hard, ours, closes)
