"""A paced-breathing LED: brightness follows the breathing cue (gpiozero PWMLED on a Pi GPIO).

Brightness rises over the inhale and falls over the exhale, faded in and out over the session
like the vibroacoustic signal, and never above the device's intensity cap. The pin factory is
injectable, so tests drive gpiozero's mock pins and a Pi uses its real ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.clock import Clock
from hardware.devices import SessionReport
from hardware.waveforms import BreathingPattern, breathing_envelope, session_ramp
from stream.events import SessionParameters

#: Brightness updates per second: smooth to the eye, cheap for a Pi.
UPDATE_HZ = 20.0


@dataclass
class LedPacer:
    """Drives one PWM LED on ``pin`` (BCM numbering)."""

    pin: int
    pin_factory: Any = None
    max_intensity: float = 1.0
    name: str = "led-pacer"

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        from gpiozero import PWMLED  # noqa: PLC0415 - only gateways with a LED need gpiozero

        pattern = BreathingPattern(parameters.breaths_per_min, parameters.inhale_fraction)
        level = min(parameters.intensity, self.max_intensity)
        led = PWMLED(self.pin, pin_factory=self.pin_factory)
        start_ns = clock.now_ns()
        step_s = 1.0 / UPDATE_HZ
        elapsed_s = 0.0
        try:
            while elapsed_s < parameters.duration_s and not abort.is_set():
                t = np.array([elapsed_s])
                brightness = (
                    level * breathing_envelope(pattern, t) * session_ramp(t, parameters.duration_s)
                )
                led.value = float(np.clip(brightness[0], 0.0, level))
                elapsed_s += step_s
                await clock.sleep_until(start_ns + int(elapsed_s * 1e9))
        finally:
            led.value = 0.0
            led.close()
        ran_s = min(elapsed_s, parameters.duration_s)
        return SessionReport(
            ran_s=ran_s, breaths=int(ran_s // pattern.period_s), completed=not abort.is_set()
        )
