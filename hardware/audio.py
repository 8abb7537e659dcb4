"""Vibroacoustic sessions as 16-bit PCM: one rendering loop, two sinks (a WAV file, a sound device).

The session is rendered chunk by chunk as the clock reaches it, so an abort stops the output
within one chunk, and what was written is exactly what the patient would have felt. The WAV
device (for gateways without a sound device) writes a plain mono 16-bit PCM file any player, or a
bass shaker's amplifier, can use; hardware.audio_aplay streams the same bytes to ALSA.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardware.clock import Clock
from hardware.devices import SessionReport
from hardware.waveforms import BreathingPattern, vibroacoustic
from ingest.private_files import open_private, private_dir
from stream.events import SessionParameters

FULL_SCALE = 32767
#: An aborted session still fades out rather than stopping dead.
ABORT_FADE_S = 2.0

#: Receives each chunk of PCM in order; may wait (back-pressure from a sound device).
PcmSink = Callable[[bytes], Awaitable[None]]


async def stream_session(
    parameters: SessionParameters,
    clock: Clock,
    abort: asyncio.Event,
    *,
    sink: PcmSink,
    sample_rate_hz: int,
    max_intensity: float,
    chunk_s: float | None = None,
    lead_s: float = 0.0,
) -> SessionReport:
    """Render the session into ``sink``, paced by ``clock``; fade out if ``abort`` is set.

    ``chunk_s`` is the size of each write (default: one breath). ``lead_s`` is how far the
    rendering may run ahead of the clock: a sound device needs a little queued audio to never
    run dry, and no more, so an abort is heard within about ``lead_s``.
    """
    pattern = BreathingPattern(parameters.breaths_per_min, parameters.inhale_fraction)
    intensity = min(parameters.intensity, max_intensity)
    duration_s = parameters.duration_s
    total = round(duration_s * sample_rate_hz)
    step = max(1, round((chunk_s or pattern.period_s) * sample_rate_hz))
    start_ns = clock.now_ns()
    written = 0
    while written < total and not abort.is_set():
        count = min(step, total - written)
        start_s = written / sample_rate_hz
        await sink(
            _pcm(
                pattern,
                start_s,
                count,
                duration_s=duration_s,
                intensity=intensity,
                sample_rate_hz=sample_rate_hz,
            )
        )
        written += count
        await clock.sleep_until(start_ns + int((written / sample_rate_hz - lead_s) * 1e9))
    if not abort.is_set():
        await clock.sleep_until(start_ns + int(duration_s * 1e9))  # the queued audio plays out
    rendered_s = written / sample_rate_hz
    ran_s = min(rendered_s, max(0.0, (clock.now_ns() - start_ns) / 1e9))
    if abort.is_set():  # fade out rather than stop dead
        count = round(ABORT_FADE_S * sample_rate_hz)
        fade = _pcm(
            pattern,
            rendered_s,
            count,
            duration_s=duration_s,
            intensity=intensity,
            sample_rate_hz=sample_rate_hz,
            gain=np.linspace(1.0, 0.0, count),
        )
        await sink(fade)
    return SessionReport(
        ran_s=ran_s, breaths=int(ran_s // pattern.period_s), completed=not abort.is_set()
    )


def _pcm(
    pattern: BreathingPattern,
    start_s: float,
    count: int,
    *,
    duration_s: float,
    intensity: float,
    sample_rate_hz: int,
    gain: np.ndarray | None = None,
) -> bytes:
    """16-bit little-endian PCM for ``count`` samples from ``start_s``, times ``gain``."""
    samples = vibroacoustic(
        pattern,
        start_s=start_s,
        count=count,
        sample_rate_hz=sample_rate_hz,
        duration_s=duration_s,
        intensity=intensity,
    )
    if gain is not None:
        samples = samples * gain
    return bytes(np.round(samples * FULL_SCALE).astype("<i2").tobytes())


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
        path = self.directory / f"session-{len(self.written) + 1}.wav"
        # Owner-only, whatever the umask: a session's timing and rate are health data. A folder
        # the user named is left as it is; one made here is 0700.
        private_dir(self.directory, tighten=False)
        with open_private(path, "wb") as handle, wave.open(handle, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate_hz)

            async def write(pcm: bytes) -> None:
                wav.writeframes(pcm)

            report = await stream_session(
                parameters,
                clock,
                abort,
                sink=write,
                sample_rate_hz=self.sample_rate_hz,
                max_intensity=self.max_intensity,
            )
        self.written.append(path)
        return report
