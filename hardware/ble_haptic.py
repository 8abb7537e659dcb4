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

from hardware.clock import Clock
from hardware.cue import follow_cue
from hardware.devices import SessionReport
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
        try:
            return await follow_cue(
                parameters,
                clock,
                abort,
                max_intensity=self.max_intensity,
                update_hz=UPDATE_HZ,
                apply=self._write,
            )
        finally:
            with contextlib.suppress(Exception):  # best effort: the link may be gone
                await self._write(0.0)

    async def _write(self, intensity: float) -> None:
        await self.client.write_gatt_char(
            self.characteristic, bytes([round(intensity * 255)]), response=False
        )
