"""Wrist pulse in the engine: a window's beats and heart numbers, the pulse gate, and ECG taking
precedence over pulse when a patient wears both."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.streaming import Engine
from dsp.streaming.pulse import pulse_window
from dsp.streaming.stages import STAGES, EcgStage, PulseStage
from dsp.stress.features import HRV_FEATURES, SPECTRAL_HRV_FEATURES
from tests.dsp.test_pulse import FS, _pulse_wave

NS = 1_000_000_000
T0 = 10**18


def _beats(rr_s: float, seconds: float) -> np.ndarray:
    return np.arange(0.5, seconds - 0.5, rr_s)


def test_a_clean_window_gives_its_heart_rate_and_the_models_time_domain_hrv() -> None:
    readable, model, rejected = pulse_window(_pulse_wave(_beats(0.8, 60.0), 60.0, 0.02), FS)
    assert readable["heart_rate_bpm"] == pytest.approx(75.0, abs=0.5)
    assert readable["beats"] == 74 and rejected == 0.0
    assert model["hrv_mean_rr"] == pytest.approx(800.0, abs=5.0)
    assert set(model) == set(HRV_FEATURES) - set(SPECTRAL_HRV_FEATURES)


def test_a_window_failing_the_pulse_gate_defines_no_model_feature() -> None:
    noise = np.random.default_rng(3).normal(0, 1, int(60 * FS))
    readable, model, rejected = pulse_window(noise, FS)
    assert model == {} and rejected > 0.3
    assert readable["rr_artifact_fraction"] == rejected


Block = tuple[str, np.ndarray, np.ndarray, float]


def _blocks(stream: str, seconds: int, values: np.ndarray, rate: float) -> list[Block]:
    per = int(rate)
    out = []
    for second in range(seconds):
        times = T0 + second * NS + (np.arange(per) * NS // per).astype(np.int64)
        out.append((stream, times, values[second * per : (second + 1) * per], rate))
    return out


def _ecg(seconds: int, rr_s: float) -> np.ndarray:
    t = np.arange(seconds * 130) / 130.0
    phase = (t % rr_s) - rr_s / 2
    return 1000 * np.exp(-0.5 * (phase / 0.012) ** 2)


@pytest.mark.parametrize("with_ecg", [False, True])
def test_heart_numbers_come_from_pulse_alone_or_wholly_from_the_ecg(with_ecg: bool) -> None:
    """Pulse at 75 bpm; an ECG (when worn) at 60 bpm: the window's heart numbers are one
    source's, the ECG's when it has them, whatever stream started first."""
    assert STAGES["bvp"] is PulseStage and PulseStage.HEART_RANK < EcgStage.HEART_RANK
    engine = Engine(window_s=60.0, hop_s=10.0, lateness_s=2.0)
    blocks = _blocks("bvp", 130, _pulse_wave(_beats(0.8, 130.0), 130.0, 0.02), FS)
    if with_ecg:
        blocks += _blocks("ecg", 130, _ecg(130, 1.0), 130.0)
    for stream, times, values, rate in sorted(blocks, key=lambda b: (b[1][0], b[0] == "ecg")):
        engine.add(stream, times, values, rate)
    results = engine.advance(T0 + 130 * NS)
    assert results
    last = results[-1]
    expected_bpm, expected_rr = (60.0, 1000.0) if with_ecg else (75.0, 800.0)
    assert last.readable["heart_rate_bpm"] == pytest.approx(expected_bpm, abs=1.0)
    assert last.model_features["hrv_mean_rr"] == pytest.approx(expected_rr, abs=10.0)
    assert last.score_inputs.rr_artifact_fraction is not None
    assert abs(last.score_inputs.beats - 60.0 / expected_rr * 1000.0) <= 1  # 60 s of beats
