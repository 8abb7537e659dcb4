"""Incremental R-peaks and EDA traces equal their whole-record versions; gaps are never joined."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dsp.ecg import detect_r_peaks
from dsp.filters import butter_lowpass_sos, sosfilt
from dsp.streaming import Engine
from dsp.streaming.beats import SEAM_TOLERANCE_S, BeatTracker
from dsp.streaming.eda_traces import EdaTraceTracker
from dsp.streaming.gaps import GapLog, note_jumps
from dsp.streaming.stages import EcgStage
from dsp.stress.features_eda import ALIGN_S, SMOOTH_HZ, TONIC_HZ, eda_features, eda_traces
from ingest.importers.wfdb import read_record
from tests.reference.sample_buffer import SampleBuffer

MITDB100 = Path(__file__).parents[2] / ".." / "shared" / "data" / "ecg" / "mitdb100" / "100"
NS = 1_000_000_000
T0 = 1_700_000_000 * NS


def strap_ecg(seconds: float, fs: float = 130.0, seed: int = 3) -> np.ndarray:
    """Chest-strap-like ECG (µV): QRS + T on wander and noise, RR varying 0.6-1.0 s."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    x = 100 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 15, t.size)
    beat = 0.4
    while beat < seconds - 1:
        x += 1200 * np.exp(-0.5 * ((t - beat) / 0.012) ** 2)
        x += 250 * np.exp(-0.5 * ((t - beat - 0.25) / 0.05) ** 2)
        beat += 0.8 + 0.2 * np.sin(2 * np.pi * beat / 20) + rng.normal(0, 0.02)
    return x


def _times(n: int, fs: float) -> np.ndarray:
    return T0 + (np.arange(n) * (NS / fs)).astype(np.int64)


def _incremental(times: np.ndarray, x: np.ndarray, fs: float, hop_s: float) -> np.ndarray:
    buffer = SampleBuffer()
    tracker = BeatTracker(GapLog())
    step = int(hop_s * fs)
    for i in range(0, x.size, step):  # samples arrive hop by hop, as windows close
        buffer.extend(times[i : i + step], x[i : i + step])
        tracker.update(buffer, fs, until_ns=int(times[min(i + step, x.size) - 1]) - 3 * NS)
    tracker.update(buffer, fs, until_ns=int(times[-1]) + 1)
    return tracker.beats_ns


def _assert_same_beats(ours: np.ndarray, whole: np.ndarray) -> None:
    assert ours.size == whole.size
    moved = np.abs(ours - whole)
    assert moved.max() <= SEAM_TOLERANCE_S * NS
    print(f"{whole.size} beats, {np.count_nonzero(moved)} moved, max {moved.max() / 1e6:.1f} ms")


@pytest.mark.parametrize("hop_s", [10.0, 7.3])
def test_incremental_beats_equal_whole_record_on_strap_ecg(hop_s: float) -> None:
    x = strap_ecg(900.0)
    times = _times(x.size, 130.0)
    whole = times[detect_r_peaks(x, 130.0)]
    assert whole.size > 1000
    _assert_same_beats(_incremental(times, x, 130.0, hop_s), whole)


@pytest.mark.skipif(not MITDB100.with_suffix(".dat").is_file(), reason="../shared is absent")
def test_incremental_beats_equal_whole_record_on_mitdb100() -> None:
    record = read_record(MITDB100)
    x = np.ascontiguousarray(record.lead("MLII"))
    times = _times(x.size, record.fs)
    whole = times[detect_r_peaks(x, record.fs)]
    _assert_same_beats(_incremental(times, x, record.fs, 10.0), whole)


def test_no_interval_spans_a_jump_in_sample_times() -> None:
    x = strap_ecg(120.0)
    times = _times(x.size, 130.0)
    hole = (times >= T0 + 50 * NS) & (times < T0 + 53 * NS)
    buffer, gaps = SampleBuffer(), GapLog()
    buffer.extend(times[~hole], x[~hole])
    note_jumps(gaps, times[~hole], 130.0)  # the engine's scan: the tracker never scans
    tracker = BeatTracker(gaps)
    tracker.update(buffer, 130.0, until_ns=T0 + 119 * NS)
    beats, real = tracker.between(T0, T0 + 120 * NS)
    across = (beats[:-1] < T0 + 50 * NS) & (beats[1:] >= T0 + 53 * NS)
    assert np.count_nonzero(across) == 1 and not real[across].any()
    assert real[~across].all()


def test_a_hole_longer_than_the_overlap_between_updates_is_a_gap() -> None:
    """Window by window, no update's samples span a 40 s hole: the engine's scan checks the
    step from the last sample it scanned too (once it did not, and the interval counted)."""
    x = strap_ecg(180.0)
    times = _times(x.size, 130.0)
    hole = (times >= T0 + 60 * NS) & (times < T0 + 100 * NS)
    engine = Engine(window_s=10.0, hop_s=10.0, lateness_s=0.0)
    for end_s in range(10, 181, 10):  # samples arrive block by block, windows close behind
        block = (times >= T0 + (end_s - 10) * NS) & (times < T0 + end_s * NS) & ~hole
        engine.add("ecg", times[block], x[block], 130.0)
        engine.advance(T0 + end_s * NS)
    engine.finish()
    stage = engine._stages["ecg"]
    assert isinstance(stage, EcgStage)
    tracker = stage.beats
    beats, real = tracker.between(T0, T0 + 180 * NS)
    across = (beats[:-1] < T0 + 60 * NS) & (beats[1:] >= T0 + 100 * NS)
    assert np.count_nonzero(across) == 1 and not real[across].any()
    assert real[~across].all()
    assert tracker.gaps.overlap_ns(T0 + 61 * NS, T0 + 99 * NS) == 38 * NS


def test_a_marked_gap_breaks_the_intervals_over_it() -> None:
    x = strap_ecg(60.0)
    times = _times(x.size, 130.0)
    buffer = SampleBuffer()
    buffer.extend(times, x)
    gaps = GapLog()
    gaps.add(T0 + 20 * NS, T0 + 20 * NS + NS // 4)  # shorter than any RR: no sample missing
    tracker = BeatTracker(gaps)
    tracker.update(buffer, 130.0, until_ns=T0 + 59 * NS)
    beats, real = tracker.between(T0, T0 + 60 * NS)
    spanning = (beats[:-1] < T0 + 20 * NS + NS // 4) & (beats[1:] > T0 + 20 * NS)
    assert np.count_nonzero(~real) == 1 and not real[spanning].any()


def test_gap_log_merges_and_measures() -> None:
    gaps = GapLog()
    gaps.add(10, 20)
    gaps.add(15, 30)
    gaps.add(50, 60)
    assert gaps.starts.tolist() == [10, 50] and gaps.ends.tolist() == [30, 60]
    assert gaps.overlap_ns(0, 55) == 25
    assert gaps.spans(np.array([0, 5, 12, 40, 45, 70])).tolist() == [0, 1, 1, 0, 1]
    with pytest.raises(ValueError, match="end after"):
        gaps.add(5, 5)


def _steady(x: np.ndarray, cutoff: float, fs: float, order: int) -> np.ndarray:
    out: np.ndarray = x[0] + sosfilt(butter_lowpass_sos(cutoff, fs, order=order), x - x[0])
    return out


def test_eda_traces_block_by_block_equal_the_whole_stream_and_restart_after_a_gap() -> None:
    fs = 4.0
    rng = np.random.default_rng(0)
    x = 3 + np.cumsum(rng.normal(0, 0.01, 2400))
    times = _times(x.size, fs)
    times[1200:] += 30 * NS  # a 30 s hole
    buffer, gaps = SampleBuffer(), GapLog()
    tracker = EdaTraceTracker(fs, gaps)
    for i in range(0, x.size, 4):
        buffer.extend(times[i : i + 4], x[i : i + 4])
        note_jumps(gaps, times[max(i - 1, 0) : i + 4], fs)  # the engine's scan
        if i % 40 == 36:
            tracker.update(buffer, until_ns=int(times[i + 3]) + 1)
    tracker.update(buffer, until_ns=int(times[-1]) + 1)
    for part in (slice(0, 1200), slice(1200, None)):  # each side filtered on its own
        smoothed = _steady(x[part], SMOOTH_HZ, fs, 1)
        np.testing.assert_allclose(tracker.smoothed[part], smoothed, rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            tracker.tonic[part], _steady(smoothed, TONIC_HZ, fs, 2), rtol=0, atol=1e-12
        )


def test_carried_eda_features_match_the_former_per_window_traces() -> None:
    """The old path re-filtered 186 s of history per window, starting the filters afresh; the
    carried traces differ only by that start's transient, long decayed (here by < 1e-13)."""
    fs = 4.0
    rng = np.random.default_rng(1)
    n = int(900 * fs)
    pulses = np.zeros(n)
    pulses[rng.choice(n, 40, replace=False)] = rng.uniform(0.05, 0.4, 40)
    kernel = np.exp(-np.arange(240) / 16.0) * (1 - np.exp(-np.arange(240) / 3.0))
    x = 4 + 0.5 * np.sin(2 * np.pi * np.arange(n) / 2400) + np.convolve(pulses, kernel)[:n]
    times = _times(n, fs)
    buffer = SampleBuffer()
    buffer.extend(times, x)
    tracker = EdaTraceTracker(fs, GapLog())
    worst = 0.0
    for end_s in range(300, 880, 10):
        start, end = T0 + (end_s - 60) * NS, T0 + end_s * NS
        tracker.update(buffer, until_ns=end + int(ALIGN_S * NS))
        ours = tracker.features(start=start, end=end)
        h_times, h_values = buffer.window(end - 180 * NS, end + int(ALIGN_S * NS))
        first, last = np.searchsorted(h_times, (start, end))
        former = eda_features(eda_traces(h_values[:, 0], fs), fs, start=first, stop=last)
        assert ours["scr_peak_count"] == former["scr_peak_count"]
        for name in ("scl_mean", "scl_min", "scl_max", "scl_median", "scr_amplitude_sum"):
            worst = max(worst, abs(ours[name] - former[name]) / max(abs(former[name]), 1e-9))
            assert ours[name] == pytest.approx(former[name], rel=1e-9, abs=1e-12), name
    print(f"largest relative difference of the SCL and SCR-sum features: {worst:.1e}")
