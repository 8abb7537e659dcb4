"""Intervals a device computed (a strap's RR, an E4's IBI, a band's PPI) in the engine: HRV from
the device's values through the ECG path's own code, a gate that counts the beats the device
dropped, and the precedence between heart sources when a patient wears several."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.streaming import Engine
from dsp.streaming.engine import WindowResult
from dsp.streaming.intervals import (
    CONTIGUOUS_SHARE,
    beat_series,
    covered_share,
    interval_window,
)
from dsp.streaming.rr import heart_features
from dsp.streaming.stages import (
    STAGES,
    E4IntervalStage,
    EcgStage,
    PulseStage,
    StrapIntervalStage,
)
from dsp.stress.features import HRV_FEATURES
from ingest.devices.heart_rate import HeartRateDecoder
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement
from tests.dsp.test_pulse import FS, _pulse_wave
from vagus.config import WindowSettings
from vagus.pipeline import FeaturePipeline

NS = 1_000_000_000
T0 = 10**18
MS = 1_000_000
#: (stream, sample times, values, rate or None: irregular)
Block = tuple[str, np.ndarray, np.ndarray, float | None]


def _sinus(seconds: float, seed: int = 1) -> np.ndarray:
    """RR intervals (ms) of a calm rhythm: 850 ms, a 0.25 Hz respiratory swing, a little noise."""
    rng = np.random.default_rng(seed)
    out: list[float] = []
    t = 0.0
    while t < seconds * 1000.0:
        rr = 850.0 + 40.0 * np.sin(2 * np.pi * 0.25 * t / 1000.0) + rng.normal(0, 5)
        out.append(rr)
        t += rr
    return np.array(out)


def _stamps(rr_ms: np.ndarray, jitter_ms: float = 0.0, seed: int = 2) -> np.ndarray:
    """Each interval stamped at the beat that ends it, as a device reports it (a strap's stamps
    are reconstructed from arrivals, so they wobble around the true beat by a few ms)."""
    beats = T0 + np.round(np.cumsum(rr_ms) * MS).astype(np.int64)
    wobble = np.random.default_rng(seed).normal(0, jitter_ms, beats.size) * MS
    return beats + np.round(wobble).astype(np.int64)


def test_hrv_comes_from_the_devices_values_not_its_wobbling_stamps() -> None:
    """A strap's stamps wobble by ~5 ms; the intervals it sent are exact. The window's HRV is
    that of the intervals, as the ECG path computes it from the same beats."""
    rr = _sinus(360.0)
    stamps = _stamps(rr, jitter_ms=5.0)
    start, end = int(stamps[-1]) - 60 * NS, int(stamps[-1]) + 1
    readable, model, gate = interval_window(
        stamps, rr, resolution_hz=1024.0, start=start, end=end, with_spectrum=True
    )
    exact = _stamps(rr)
    real = np.ones(exact.size - 1, dtype=np.bool_)
    _, ecg_model, ecg_gate = heart_features(exact, real, fs=1024.0, start=start, end=end)
    assert gate is not None and ecg_gate is not None
    assert gate == pytest.approx(ecg_gate, abs=0.02) and gate < 0.05
    assert set(model) == set(HRV_FEATURES)
    for name in ("hrv_mean_rr", "hrv_rmssd", "hrv_sdnn"):
        assert model[name] == pytest.approx(ecg_model[name], rel=0.02), name
    recent = rr[1:][exact[1:] >= start]  # intervals that end inside the window
    assert readable["heart_rate_bpm"] == pytest.approx(60000.0 / recent.mean(), rel=0.01)
    assert readable["rmssd_ms"] == pytest.approx(np.sqrt(np.mean(np.diff(recent) ** 2)), rel=0.05)


def test_a_dropped_beat_breaks_the_series_instead_of_making_a_long_interval() -> None:
    rr = np.full(12, 800.0)
    stamps = _stamps(rr)
    keep = np.ones(rr.size, dtype=bool)
    keep[6] = False  # the device dropped the 7th beat: the 8th arrives 1600 ms after the 6th
    beats, real = beat_series(stamps[keep], rr[keep])
    assert real.tolist() == [True] * 5 + [False] + [True] * 4
    assert np.all(np.diff(beats)[real] == 800 * MS)
    # nonsense values are left out and break the series too
    broken = rr.copy()
    broken[3], broken[8] = np.nan, 40.0
    beats, real = beat_series(stamps, broken)
    assert beats.size == 10 and not real[2] and not real[6]


def _beat_series_by_definition(
    stamps: np.ndarray, intervals_ms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """beat_series' rule one beat at a time: continue by the interval when the step between
    stamps matches it (within CONTIGUOUS_SHARE), else restart at the stamp, never going back."""
    keep = np.isfinite(intervals_ms) & (intervals_ms >= 200.0) & (intervals_ms <= 3000.0)
    stamps, values = stamps[keep], np.round(intervals_ms[keep] * 1e6).astype(np.int64)
    beats: list[int] = []
    real: list[bool] = []
    for k, (stamp, value) in enumerate(zip(stamps.tolist(), values.tolist(), strict=True)):
        if k and abs(stamp - stamps[k - 1] - value) <= CONTIGUOUS_SHARE * value:
            beats.append(beats[-1] + value)
            real.append(True)
        else:
            beats.append(stamp if not k else max(stamp, beats[-1] + 1))
            if k:
                real.append(False)
    return np.array(beats, dtype=np.int64), np.array(real, dtype=bool)


@pytest.mark.parametrize("seed", range(20))
def test_beat_series_follows_its_rule_through_breaks_jitter_and_stamps_that_go_back(
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    intervals = rng.uniform(150.0, 3200.0, n) if seed % 5 == 0 else rng.normal(800.0, 60.0, n)
    intervals[rng.random(n) < 0.03] = np.nan
    steps = intervals * (1 + rng.normal(0.0, 0.05, n))  # stamps wobble around the values
    steps[rng.random(n) < 0.05] *= 2.0  # a lost beat
    steps[rng.random(n) < 0.02] = -300.0  # the stamps jump back
    stamps = (1e12 + np.cumsum(np.nan_to_num(steps, nan=800.0)) * 1e6).astype(np.int64)
    beats, real = beat_series(stamps, intervals)
    want_beats, want_real = _beat_series_by_definition(stamps, intervals)
    np.testing.assert_array_equal(beats, want_beats)
    np.testing.assert_array_equal(real, want_real)
    assert np.all(np.diff(beats) > 0)


def test_beats_the_device_dropped_count_against_the_window() -> None:
    """Half the window without intervals: clean as the rest is, the gate sees half missing."""
    rr = _sinus(180.0)
    stamps = _stamps(rr)
    end = int(stamps[-1]) + 1
    start = end - 60 * NS
    hole = (stamps > start + 15 * NS) & (stamps < start + 45 * NS)
    _, _, clean_gate = interval_window(
        stamps, rr, resolution_hz=1024.0, start=start, end=end, with_spectrum=False
    )
    _, model, gate = interval_window(
        stamps[~hole], rr[~hole], resolution_hz=1024.0, start=start, end=end, with_spectrum=False
    )
    assert clean_gate is not None and clean_gate < 0.05
    assert gate is not None and 0.45 < gate < 0.55
    assert model["hrv_mean_rr"] == pytest.approx(rr.mean(), rel=0.05)  # the numbers stand
    beats, real = beat_series(stamps[~hole], rr[~hole])
    assert covered_share(beats, real, start, end) == pytest.approx(1.0 - gate, abs=1e-9)


def _interval_blocks(stream: str, rr_ms: np.ndarray, scale: float) -> list[Block]:
    """One block per beat, as a strap's notifications carry them (values in the stream's unit)."""
    stamps = _stamps(rr_ms)
    return [(stream, stamps[k : k + 1], rr_ms[k : k + 1] / scale, None) for k in range(rr_ms.size)]


def _ecg(seconds: int, rr_s: float) -> np.ndarray:
    t = np.arange(seconds * 130) / 130.0
    phase = (t % rr_s) - rr_s / 2
    return 1000 * np.exp(-0.5 * (phase / 0.012) ** 2)


def _run(blocks: list[Block], until_s: int) -> list[WindowResult]:
    engine = Engine(window_s=60.0, hop_s=10.0, lateness_s=2.0)
    for stream, times, values, rate in sorted(blocks, key=lambda b: int(b[1][0])):
        engine.add(stream, times, np.asarray(values, dtype=np.float64), rate)
    return engine.advance(T0 + until_s * NS)


@pytest.mark.parametrize(("stream", "scale"), [("rr", 1.0), ("ibi", 1000.0), ("ppi", 1.0)])
def test_an_interval_stream_alone_gives_the_window_its_heart_numbers(
    stream: str, scale: float
) -> None:
    rr = np.full(170, 800.0) + np.random.default_rng(4).normal(0, 8, 170)
    results = _run(_interval_blocks(stream, rr, scale), 130)
    last = results[-1]
    assert last.readable["heart_rate_bpm"] == pytest.approx(75.0, abs=1.0)
    assert last.model_features["hrv_mean_rr"] == pytest.approx(800.0, abs=5.0)
    assert last.score_inputs.beats >= 74
    assert last.score_inputs.rr_artifact_fraction is not None
    assert last.score_inputs.rr_artifact_fraction < 0.05
    # a strap's RR come from its own R-peaks; an E4's IBI and a band's PPI from pulse
    assert last.score_inputs.beat_kind == ("ecg" if stream == "rr" else "pulse")


@pytest.mark.parametrize("worn", ["ecg", "bvp"])
def test_precedence_ecg_then_strap_intervals_then_pulse_then_wrist_intervals(worn: str) -> None:
    """Strap RR at 48 bpm with an ECG at 60 bpm: the ECG's numbers. Strap RR at 48 bpm with
    wrist pulse at 75 bpm: the strap's. E4 IBI with the BVP trace: the trace's."""
    assert (
        EcgStage.HEART_RANK
        > StrapIntervalStage.HEART_RANK
        > PulseStage.HEART_RANK
        > E4IntervalStage.HEART_RANK
        > 0
    )
    assert STAGES["rr"] is StrapIntervalStage and STAGES["ibi"] is E4IntervalStage
    if worn == "ecg":
        trace, rate, expected_bpm = _ecg(130, 1.0), 130.0, 60.0
    else:
        trace, rate, expected_bpm = _pulse_wave(np.arange(0.5, 129.5, 0.8), 130.0, 0.02), FS, 48.0
    per = int(rate)
    blocks: list[Block] = [
        (
            worn,
            T0 + s * NS + (np.arange(per) * NS // per).astype(np.int64),
            trace[s * per : (s + 1) * per],
            rate,
        )
        for s in range(130)
    ]
    blocks += _interval_blocks("rr", np.full(105, 1250.0), 1.0)  # 48 bpm
    last = _run(blocks, 130)[-1]
    assert last.readable["heart_rate_bpm"] == pytest.approx(expected_bpm, abs=1.0)
    assert (last.heart_source, last.beat_kind) == (
        ("ecg", "ecg") if worn == "ecg" else ("rr", "ecg")
    )
    # an E4's own intervals never displace the pulse trace the gateway reads itself
    if worn == "bvp":
        ibi = _interval_blocks("ibi", np.full(105, 1250.0), 1000.0)
        pulse_only = [b for b in blocks if b[0] == "bvp"]
        assert _run(pulse_only + ibi, 130)[-1].readable["heart_rate_bpm"] == pytest.approx(
            75.0, abs=1.0
        )


def test_a_heart_rate_service_strap_gives_the_gateway_its_heart_numbers() -> None:
    """The strap's 0x2A37 notifications, decoded as the gateway decodes them (beat times
    reconstructed from arrivals), through the feature pipeline: each window has the strap's
    heart rate, the model's HRV and a gate share for the score gate."""
    decoder = HeartRateDecoder("strap-1")
    pipeline = FeaturePipeline(patient_id="p-test", producer_id="test", windows=WindowSettings())
    rr = _sinus(200.0)
    ticks = np.round(rr * 1024 / 1000).astype(int)
    beat_ns = T0 + np.cumsum(rr * MS).astype(np.int64)
    closed = []
    for k in range(0, rr.size, 2):  # two intervals a notification, sent ~30 ms after the beat
        arrival = int(beat_ns[min(k + 1, rr.size - 1)]) + 30 * MS
        payload = encode_heart_rate_measurement(70, rr_intervals_1024=ticks[k : k + 2].tolist())
        note = Notification("strap-1", HEART_RATE_MEASUREMENT_UUID, arrival, payload)
        for block in decoder.decode(note):
            pipeline.add(block)
        closed += pipeline.advance(arrival)
    windows = [c.window for c in closed]
    assert len(windows) >= 10
    last = windows[-1]
    recent = rr[(beat_ns >= last.window_start_ns) & (beat_ns < last.window_end_ns)]
    assert last.features.heart_rate_bpm == pytest.approx(60000.0 / recent.mean(), rel=0.01)
    assert last.model_features["hrv_mean_rr"] == pytest.approx(recent.mean(), rel=0.01)
    assert last.features.rr_artifact_fraction is not None
    assert last.features.rr_artifact_fraction < 0.05
