"""A paced-breathing LED: brightness follows the breathing cue (gpiozero PWMLED on a Pi GPIO).

Brightness rises over the inhale and falls over the exhale, faded in and out over the session
like the vibroacoustic signal, and never above the device's intensity cap. The pin factory is
injectable, so tests drive gpiozero's mock pins and a Pi uses its real ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from hardware.clock import Clock
from hardware.cue import follow_cue
from hardware.devices import SessionReport
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

        led = PWMLED(self.pin, pin_factory=self.pin_factory)

        async def show(level: float) -> None:
            led.value = level

        try:
            return await follow_cue(
                parameters,
                clock,
                abort,
                max_intensity=self.max_intensity,
                update_hz=UPDATE_HZ,
                apply=show,
            )
        finally:
            led.value = 0.0
            led.close()
