"""Vibroacoustic waveforms and the WAV device: carrier, breathing envelope, caps, gentle edges."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.audio import WavVibroacousticDevice
from hardware.waveforms import (
    DEFAULT_CARRIER_HZ,
    BreathingPattern,
    breathing_envelope,
    session_ramp,
    vibroacoustic,
)
from stream.events import SessionParameters
from tests.hardware.test_interlock import FakeClock

RATE = 8000


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as source:
        assert (source.getnchannels(), source.getsampwidth(), source.getframerate()) == (1, 2, RATE)
        frames = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    samples: np.ndarray = frames / 32767.0
    return samples


def _rms(signal: np.ndarray, window: int) -> np.ndarray:
    usable = len(signal) // window * window
    rms: np.ndarray = np.sqrt(np.mean(signal[:usable].reshape(-1, window) ** 2, axis=1))
    return rms


def test_envelope_rises_over_the_inhale_and_falls_over_the_exhale() -> None:
    pattern = BreathingPattern(6.0, 0.4)  # 10 s breaths: 4 s in, 6 s out
    t = np.array([0.0, 2.0, 4.0, 7.0, 10.0])
    assert breathing_envelope(pattern, t) == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0], abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    bpm=st.floats(3, 12),
    inhale=st.floats(0.2, 0.6),
    intensity=st.floats(0, 1),
    duration=st.floats(20, 600),
)
def test_the_signal_never_exceeds_its_intensity_and_starts_and_ends_silent(
    bpm: float, inhale: float, intensity: float, duration: float
) -> None:
    pattern = BreathingPattern(bpm, inhale)
    count = round(duration * 200)
    signal = vibroacoustic(
        pattern,
        start_s=0.0,
        count=count,
        sample_rate_hz=200,
        duration_s=duration,
        intensity=intensity,
    )
    assert np.max(np.abs(signal)) <= intensity + 1e-12
    assert abs(signal[0]) < 1e-9
    assert session_ramp(np.array([duration]), duration)[0] == pytest.approx(0.0, abs=1e-9)


def test_the_carrier_is_low_frequency() -> None:
    pattern = BreathingPattern(6.0, 0.4)
    signal = vibroacoustic(
        pattern, start_s=20.0, count=RATE * 20, sample_rate_hz=RATE, duration_s=120.0, intensity=0.5
    )
    spectrum = np.abs(np.fft.rfft(signal))
    peak_hz = np.fft.rfftfreq(len(signal), 1 / RATE)[np.argmax(spectrum)]
    assert peak_hz == pytest.approx(DEFAULT_CARRIER_HZ, abs=0.1)


async def test_wav_device_renders_the_whole_session_paced_by_breathing(tmp_path: Path) -> None:
    device = WavVibroacousticDevice(tmp_path, sample_rate_hz=RATE, max_intensity=0.6)
    parameters = SessionParameters(
        duration_s=60.0, breaths_per_min=6.0, inhale_fraction=0.4, intensity=0.9
    )
    report = await device.render(parameters, FakeClock(), asyncio.Event())
    assert report.completed and report.breaths == 6 and report.ran_s == pytest.approx(60.0)
    signal = _read(device.written[0])
    assert len(signal) == 60 * RATE
    assert np.max(np.abs(signal)) <= 0.6 + 1e-4  # the device's own cap beats the command's 0.9
    loudness = _rms(signal, RATE // 2)  # every half second
    # Away from the 10-s fades, loudness peaks once per breath, at the end of each inhale.
    peaks_s = [
        i * 0.5
        for i in range(24, 96)
        if loudness[i] >= loudness[i - 1] and loudness[i] > loudness[i + 1]
    ]
    assert peaks_s == pytest.approx([14.0, 24.0, 34.0, 44.0], abs=0.5)


async def test_an_aborted_session_fades_out_instead_of_stopping_dead(tmp_path: Path) -> None:
    device = WavVibroacousticDevice(tmp_path, sample_rate_hz=RATE)
    abort = asyncio.Event()

    class AbortingClock(FakeClock):
        async def sleep_until(self, time_ns: int) -> None:
            await super().sleep_until(time_ns)
            if self.now >= 30_000_000_000:
                abort.set()

    parameters = SessionParameters(duration_s=300.0, intensity=0.5)
    report = await device.render(parameters, AbortingClock(), abort)
    assert not report.completed and report.ran_s == pytest.approx(30.0)
    signal = _read(device.written[0])
    assert len(signal) == 32 * RATE  # 30 s rendered plus the 2 s fade
    assert _rms(signal[-RATE // 10 :], RATE // 10)[0] < 0.01
