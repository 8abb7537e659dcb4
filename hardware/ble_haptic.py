"""A BLE haptic device: a vibration band or pillow pad driven by GATT writes.

Each update writes one byte, the vibration intensity (0-255), to the device's intensity
characteristic without waiting for a response, so a slow link delays nothing. The intensity
follows the breathing cue with the session's fades, never exceeds the device's cap, and is set
to 0 when the session ends, is aborted, or fails. A write that fails (the band left the room)
ends the session as "failed" rather than pretending it went on.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hardware.clock import Clock
from hardware.devices import SessionReport
from hardware.waveforms import BreathingPattern, breathing_envelope, session_ramp
from stream.events import SessionParameters

#: Intensity updates per second: smooth enough to feel, light on the radio link.
UPDATE_HZ = 4.0


class GattWriter(Protocol):
    """What the device needs of a connected client (a :class:`bleak.BleakClient`)."""

    async def write_gatt_char(
        self, char_specifier: str, data: bytes | bytearray, response: bool | None = None
    ) -> None: ...


@dataclass
class BleHapticDevice:
    """Drives the intensity characteristic ``characteristic`` through ``client``."""

    client: GattWriter
    characteristic: str
    max_intensity: float = 1.0
    name: str = "ble-haptic"

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        pattern = BreathingPattern(parameters.breaths_per_min, parameters.inhale_fraction)
        level = min(parameters.intensity, self.max_intensity)
        start_ns = clock.now_ns()
        elapsed_s = 0.0
        try:
            while elapsed_s < parameters.duration_s and not abort.is_set():
                t = np.array([elapsed_s])
                value = (
                    level * breathing_envelope(pattern, t) * session_ramp(t, parameters.duration_s)
                )
                await self._write(float(np.clip(value[0], 0.0, level)))
                elapsed_s += 1.0 / UPDATE_HZ
                await clock.sleep_until(start_ns + int(elapsed_s * 1e9))
        finally:
            with contextlib.suppress(Exception):  # best effort: the link may be gone
                await self._write(0.0)
        ran_s = min(elapsed_s, parameters.duration_s)
        return SessionReport(
            ran_s=ran_s, breaths=int(ran_s // pattern.period_s), completed=not abort.is_set()
        )

    async def _write(self, intensity: float) -> None:
        await self.client.write_gatt_char(
            self.characteristic, bytes([round(intensity * 255)]), response=False
        )
