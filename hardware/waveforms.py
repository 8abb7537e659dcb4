"""Session waveforms: the breathing envelope and the vibroacoustic signal built on it.

Pure numpy so a session can be rendered, inspected and tested without a sound device. The
envelope follows the paced-breathing cue: it rises over the inhale and falls over the exhale
(raised-cosine halves, so there is never a click), and the whole session fades in and out so it
never starts or stops abruptly: a patient must not be startled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

#: Low-frequency carrier typical of vibroacoustic therapy; felt as much as heard.
DEFAULT_CARRIER_HZ = 40.0
DEFAULT_RAMP_S = 10.0
#: Even at zero breath modulation the carrier keeps this share of its level (a steady floor).
ENVELOPE_FLOOR = 0.25


@dataclass(frozen=True, slots=True)
class BreathingPattern:
    """Breaths per minute and the share of each breath spent inhaling."""

    breaths_per_min: float
    inhale_fraction: float

    def __post_init__(self) -> None:
        if not 3 <= self.breaths_per_min <= 12:
            raise ValueError("breaths_per_min must be within [3, 12]")
        if not 0.2 <= self.inhale_fraction <= 0.6:
            raise ValueError("inhale_fraction must be within [0.2, 0.6]")

    @property
    def period_s(self) -> float:
        return 60.0 / self.breaths_per_min


def breathing_envelope(pattern: BreathingPattern, t_s: FloatArray) -> FloatArray:
    """0 at the start of each inhale, 1 at its end, back to 0 at the end of the exhale."""
    phase = np.mod(t_s, pattern.period_s) / pattern.period_s
    inhale = pattern.inhale_fraction
    rising = 0.5 - 0.5 * np.cos(np.pi * phase / inhale)
    falling = 0.5 + 0.5 * np.cos(np.pi * (phase - inhale) / (1.0 - inhale))
    shaped: FloatArray = np.where(phase < inhale, rising, falling)
    return shaped


def session_ramp(t_s: FloatArray, duration_s: float, ramp_s: float = DEFAULT_RAMP_S) -> FloatArray:
    """Raised-cosine fade in over ``ramp_s`` and out over the last ``ramp_s`` of the session."""
    ramp = max(min(ramp_s, duration_s / 2), 1e-9)
    fade_in = np.clip(t_s / ramp, 0.0, 1.0)
    fade_out = np.clip((duration_s - t_s) / ramp, 0.0, 1.0)
    gain: FloatArray = (0.5 - 0.5 * np.cos(np.pi * np.minimum(fade_in, fade_out))).astype(
        np.float64
    )
    return gain


def vibroacoustic(
    pattern: BreathingPattern,
    *,
    start_s: float,
    count: int,
    sample_rate_hz: int,
    duration_s: float,
    intensity: float,
    carrier_hz: float = DEFAULT_CARRIER_HZ,
) -> FloatArray:
    """``count`` samples from ``start_s``: carrier x breathing envelope x session ramp x intensity.

    The peak never exceeds ``intensity`` (full scale is 1.0), which is what a device's intensity
    cap relies on.
    """
    if not 0.0 <= intensity <= 1.0:
        raise ValueError("intensity must be within [0, 1]")
    t = start_s + np.arange(count, dtype=np.float64) / sample_rate_hz
    envelope = ENVELOPE_FLOOR + (1.0 - ENVELOPE_FLOOR) * breathing_envelope(pattern, t)
    carrier = np.sin(2.0 * np.pi * carrier_hz * t)
    signal: FloatArray = intensity * envelope * session_ramp(t, duration_s) * carrier
    return signal
