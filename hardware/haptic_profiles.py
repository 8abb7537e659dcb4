"""Haptic profiles: how a BLE vibration band lays out its GATT, in one registry.

A profile says where the intensity byte goes, how fast the band may be updated, and (when the
band has a button) which characteristic notifies presses and how a press decodes. The output
driver (:mod:`hardware.ble_haptic`), the configuration check and the virtual band all read the
same entry, so a new band layout is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

#: A band's button: a short press stops the session, a long one also means "not now".
Press = Literal["short", "long"]
PressDecoder = Callable[[bytes], Press | None]


@dataclass(frozen=True, slots=True)
class HapticProfile:
    """One band layout: service, intensity characteristic, optional button, update rate."""

    name: str
    description: str
    service_uuid: str
    #: Written without response: one byte, 0 (off) to 255 (the band's strongest).
    intensity_uuid: str
    #: Fastest intensity updates the band's firmware takes (writes per second).
    max_update_hz: float
    #: Notifies button presses; None: the band has no button vagus listens to.
    button_uuid: str | None = None
    decode_press: PressDecoder | None = None

    def __post_init__(self) -> None:
        if (self.button_uuid is None) != (self.decode_press is None):
            raise ValueError(f"{self.name}: a button needs both a UUID and a decoder")
        if not 0 < self.max_update_hz <= 50:
            raise ValueError(f"{self.name}: max_update_hz must be within (0, 50]")


def decode_one_byte_press(data: bytes) -> Press | None:
    """``vagus-haptic-v1``: one byte, 1 = short press, 2 = long press; anything else is not a
    press (a band may notify other states on the same characteristic later)."""
    return _ONE_BYTE_PRESSES.get(data[0]) if len(data) == 1 else None


_ONE_BYTE_PRESSES: dict[int, Press] = {1: "short", 2: "long"}


VAGUS_HAPTIC_V1 = HapticProfile(
    name="vagus-haptic-v1",
    description="open layout: intensity u8 (write without response), button u8 notify "
    "(1 short, 2 long)",
    # Generated for vagus, like vagus-eda-v1's; firmware that uses them works unchanged.
    service_uuid="5d1c0000-7a0e-4b57-9a63-76616775730a",
    intensity_uuid="5d1c0001-7a0e-4b57-9a63-76616775730a",
    button_uuid="5d1c0002-7a0e-4b57-9a63-76616775730a",
    decode_press=decode_one_byte_press,
    max_update_hz=10.0,
)

HAPTIC_PROFILES: dict[str, HapticProfile] = {VAGUS_HAPTIC_V1.name: VAGUS_HAPTIC_V1}


def haptic_profile(name: str) -> HapticProfile:
    """The profile called ``name``; the error lists the known ones."""
    try:
        return HAPTIC_PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(HAPTIC_PROFILES))
        raise ValueError(f"unknown haptic profile {name!r} (known: {known})") from None
