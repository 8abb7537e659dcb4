"""The wrist-pulse beat path: peaks of a synthetic pulse wave with known beats, the gate."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.pulse import MAX_ARTEFACT_FRACTION, interval_beats, pulse_beats, pulse_keep

FS = 64.0


def _pulse_wave(beats_s: np.ndarray, seconds: float, noise: float, seed: int = 0) -> np.ndarray:
    """A systolic bump (Gaussian, 80 ms) plus a smaller dicrotic one 300 ms later, per beat."""
    t = np.arange(int(seconds * FS)) / FS
    wave = np.zeros_like(t)
    for beat in beats_s:
        wave += np.exp(-0.5 * ((t - beat) / 0.08) ** 2)
        wave += 0.3 * np.exp(-0.5 * ((t - beat - 0.3) / 0.06) ** 2)
    return wave + np.random.default_rng(seed).normal(0, noise, t.size)


def test_peaks_of_a_clean_pulse_wave_are_its_beats() -> None:
    rr = 0.85 + 0.05 * np.sin(np.arange(70) / 3.0)  # 60-75 bpm with some variability
    beats = 1.0 + np.cumsum(rr)
    beats = beats[beats < 59.0]
    found = pulse_beats(_pulse_wave(beats, 60.0, noise=0.02), FS)
    assert found.usable
    assert found.times_s.size == beats.size
    assert np.max(np.abs(found.times_s - beats)) < 0.05
    assert found.artefact_fraction == 0.0


def test_noise_alone_fails_the_gate() -> None:
    noise = np.random.default_rng(1).normal(0, 1, int(60 * FS))
    assert not pulse_beats(noise, FS).usable


def test_keep_rejects_out_of_range_and_jumps() -> None:
    rr = np.array([800.0] * 6 + [1400.0] + [800.0] * 6 + [250.0] + [800.0] * 6)
    keep = pulse_keep(rr)
    assert not keep[6] and not keep[13]
    assert keep.sum() == rr.size - 2


def test_device_intervals_are_gated_like_pulse_beats() -> None:
    steady = np.cumsum(np.full(40, 0.8))
    assert interval_beats(steady).usable
    rng = np.random.default_rng(2)
    erratic = np.cumsum(rng.uniform(0.3, 1.9, 40))
    gated = interval_beats(erratic)
    assert gated.artefact_fraction > MAX_ARTEFACT_FRACTION and not gated.usable
    with pytest.raises(ValueError, match="increasing"):
        interval_beats(np.array([1.0, 0.5]))
