"""A virtual vibration band speaking a haptic profile (``vagus-haptic-v1`` by default).

It records every intensity byte the gateway writes, with the time it arrived, so tests can
check what the patient would have felt (capped, following the cue, 0 at the end), and it can
press its own button by notifying, as a patient would.
"""

from __future__ import annotations

import time
from typing import Any

from bumble import gatt

from hardware.haptic_profiles import VAGUS_HAPTIC_V1, HapticProfile, Press
from ingest.virtual.characteristics import (
    NOTIFY,
    WRITE,
    WRITE_NO_RESPONSE,
    WRITEABLE,
    characteristic,
)
from ingest.virtual.link import VirtualPeripheral, VirtualRadio, gatt_uuid

__all__ = ["HapticBandPeripheral"]

#: Button values of ``vagus-haptic-v1`` (hardware.haptic_profiles.decode_one_byte_press).
_PRESS_BYTES: dict[Press, bytes] = {"short": b"\x01", "long": b"\x02"}


class HapticBandPeripheral(VirtualPeripheral):
    """A band with the profile's intensity characteristic and, if it has one, its button."""

    def __init__(
        self,
        radio: VirtualRadio,
        name: str = "vBand 1",
        *,
        profile: HapticProfile = VAGUS_HAPTIC_V1,
        with_button: bool = True,
    ) -> None:
        self.profile = profile
        #: (monotonic ns, byte) for every intensity write, in arrival order.
        self.intensities: list[tuple[int, int]] = []
        self.intensity = characteristic(
            profile.intensity_uuid,
            WRITE_NO_RESPONSE | WRITE,
            gatt.CharacteristicValue(write=self._on_write),
            WRITEABLE,
        )
        chars: list[gatt.Characteristic[Any]] = [self.intensity]
        self.button: gatt.Characteristic[Any] | None = None
        if with_button and profile.button_uuid is not None:
            self.button = characteristic(profile.button_uuid, NOTIFY)
            chars.append(self.button)
        service = gatt.Service(gatt_uuid(profile.service_uuid), chars)
        super().__init__(radio, name, [service], [profile.service_uuid])

    def _on_write(self, _connection: Any, value: bytes) -> None:
        for byte in bytes(value):
            self.intensities.append((time.monotonic_ns(), byte))

    @property
    def levels(self) -> list[int]:
        """The intensity bytes received, in order."""
        return [byte for _t, byte in self.intensities]

    def button_subscribed(self) -> bool:
        return self.button is not None and self.subscriber_count(self.button) > 0

    async def press(self, kind: Press = "short") -> None:
        """Notify one press of the band's button (the patient pressed it)."""
        if self.button is None:
            raise RuntimeError(f"{self.name} has no button")
        await self.notify_value(self.button, _PRESS_BYTES[kind])
