"""The vibroacoustic output device, rendering to a WAV file (for gateways without a sound device).

The session is rendered one breath at a time as the clock reaches it, so an abort stops the
output within one breath, and what was written is exactly what the patient would have felt. The
file is a plain 16-bit PCM WAV that any player (or a bass shaker's amplifier) can use.
"""

from __future__ import annotations

import asyncio
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardware.clock import Clock
from hardware.devices import SessionReport
from hardware.waveforms import BreathingPattern, vibroacoustic
from stream.events import SessionParameters

FULL_SCALE = 32767
#: An aborted session still fades out rather than stopping dead.
ABORT_FADE_S = 2.0


@dataclass
class WavVibroacousticDevice:
    """Writes each session to ``directory/session-<n>.wav``."""

    directory: Path
    sample_rate_hz: int = 8000
    name: str = "wav-vibroacoustic"
    max_intensity: float = 1.0
    written: list[Path] = field(default_factory=list)

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        pattern = BreathingPattern(parameters.breaths_per_min, parameters.inhale_fraction)
        intensity = min(parameters.intensity, self.max_intensity)
        path = self.directory / f"session-{len(self.written) + 1}.wav"
        self.directory.mkdir(parents=True, exist_ok=True)
        start_ns = clock.now_ns()
        duration_s = parameters.duration_s
        rendered_s = 0.0
        breaths = 0
        with wave.open(str(path), "wb") as sink:
            sink.setnchannels(1)
            sink.setsampwidth(2)
            sink.setframerate(self.sample_rate_hz)
            while rendered_s < duration_s and not abort.is_set():
                chunk_s = min(pattern.period_s, duration_s - rendered_s)
                count = round(chunk_s * self.sample_rate_hz)
                sink.writeframes(
                    self._pcm(
                        pattern, rendered_s, count, duration_s, intensity, gain=np.ones(count)
                    )
                )
                rendered_s += chunk_s
                if chunk_s >= pattern.period_s:
                    breaths += 1
                await clock.sleep_until(start_ns + int(rendered_s * 1e9))
            if abort.is_set():  # fade out rather than stop dead
                count = round(ABORT_FADE_S * self.sample_rate_hz)
                fade = np.linspace(1.0, 0.0, count)
                sink.writeframes(
                    self._pcm(pattern, rendered_s, count, duration_s, intensity, gain=fade)
                )
        self.written.append(path)
        return SessionReport(ran_s=rendered_s, breaths=breaths, completed=not abort.is_set())

    def _pcm(
        self,
        pattern: BreathingPattern,
        start_s: float,
        count: int,
        duration_s: float,
        intensity: float,
        *,
        gain: np.ndarray,
    ) -> bytes:
        """16-bit PCM for ``count`` samples from ``start_s``, times ``gain``."""
        samples = vibroacoustic(
            pattern,
            start_s=start_s,
            count=count,
            sample_rate_hz=self.sample_rate_hz,
            duration_s=duration_s,
            intensity=intensity,
        )
        return bytes(np.round(samples * gain * FULL_SCALE).astype("<i2").tobytes())
