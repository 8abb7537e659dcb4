"""``[[outputs]]`` and ``[[controls]]``: what the patient feels and the buttons they press.

Each entry is a tagged struct (its ``kind``); :func:`outputs_problem` names the first entry and
key that cannot be used (``outputs[1] (led): pin must be within 0..27``), and also refuses a pin
or a band configured twice. vagus.config holds the lists; vagus.outputs builds the devices.
"""

from __future__ import annotations

import math
import re

import msgspec

from hardware.haptic_profiles import HAPTIC_PROFILES
from ingest.transport.identity import ADDRESS_PATTERN as _ADDRESS

_LABEL_MAX = 40
#: ALSA PCM names as aplay -D takes them; no spaces or shell characters (it is an argv item).
_ALSA_DEVICE = re.compile(r"[A-Za-z0-9_:,.=-]{1,64}")


class _Entry(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    """An ``[[outputs]]`` or ``[[controls]]`` entry, told apart by its ``kind`` key."""

    #: Shown by `vagus outputs test` and in logs: where the output is ("bedside lamp").
    label: str = ""

    @property
    def kind(self) -> str:
        return str(type(self).__struct_config__.tag)

    def problem(self) -> str | None:
        """What is wrong with the entry, naming the key; None when it can be used."""
        if len(self.label) > _LABEL_MAX or not self.label.isprintable():
            return f"label must be at most {_LABEL_MAX} printable characters"
        if _ADDRESS.search(self.label):
            return "label leaves the gateway in logs: it must not hold an address"
        return None


class _CappedOutput(_Entry, frozen=True, kw_only=True):
    #: The output's own intensity cap, below the [device_limits] one where this device is strong.
    max_intensity: float = 1.0

    def problem(self) -> str | None:
        if not (math.isfinite(self.max_intensity) and 0 < self.max_intensity <= 1):
            return "max_intensity must be within (0, 1]"
        return super().problem()


class VibroacousticOutput(_CappedOutput, frozen=True, kw_only=True, tag="vibroacoustic"):
    """A bass shaker or vibroacoustic pad on a sound device, played through ALSA's aplay."""

    #: The ALSA device ("hw:1,0", "null"); None: the default device, if Linux lists a card.
    alsa_device: str | None = None
    #: Session WAV files go here when there is no sound device, and with keep_wav as well.
    wav_dir: str | None = None
    keep_wav: bool = False
    sample_rate_hz: int = 8000

    def problem(self) -> str | None:
        if self.alsa_device is not None and not _ALSA_DEVICE.fullmatch(self.alsa_device):
            return "alsa_device must look like hw:1,0, plughw:CARD=Device,DEV=0 or null"
        if self.wav_dir is not None and not self.wav_dir.strip():
            return "wav_dir must not be empty"
        if not 4000 <= self.sample_rate_hz <= 48000:
            return "sample_rate_hz must be within 4000..48000"
        return super().problem()


class LedOutput(_CappedOutput, frozen=True, kw_only=True, tag="led"):
    """A paced-breathing LED on a PWM-capable GPIO pin."""

    pin: int  # BCM numbering

    def problem(self) -> str | None:
        return _pin_problem(self.pin) or super().problem()


class BleHapticOutput(_CappedOutput, frozen=True, kw_only=True, tag="ble_haptic"):
    """A BLE vibration band (hardware/haptic_profiles.py), by address or advertised name."""

    profile: str = "vagus-haptic-v1"
    address: str | None = None
    name_prefix: str | None = None

    def problem(self) -> str | None:
        if self.profile not in HAPTIC_PROFILES:
            known = ", ".join(sorted(HAPTIC_PROFILES))
            return f"profile {self.profile!r} is not a haptic profile (known: {known})"
        if (self.address is None) == (self.name_prefix is None):
            return "address: a band needs exactly one of address and name_prefix"
        if self.address is not None and not _ADDRESS.fullmatch(self.address):
            return "address must look like AA:BB:CC:DD:EE:FF"
        if self.name_prefix is not None and not self.name_prefix.strip():
            return "name_prefix must not be empty"
        return super().problem()


class SimulatedOutput(_Entry, frozen=True, kw_only=True, tag="simulated"):
    """The in-memory pacer: demos and tests only; the patient feels nothing."""


OutputSettings = VibroacousticOutput | LedOutput | BleHapticOutput | SimulatedOutput


class GpioButtonControl(_Entry, frozen=True, kw_only=True, tag="gpio_button"):
    """A push button between a GPIO pin and ground: press to stop, hold for "not now"."""

    pin: int  # BCM numbering
    hold_s: float = 2.0
    #: The pin's internal pull-up (button to ground); false for a button to 3.3 V with a
    #: pull-down.
    pull_up: bool = True

    def problem(self) -> str | None:
        if not (math.isfinite(self.hold_s) and 0.5 <= self.hold_s <= 10):
            return "hold_s must be within [0.5, 10]"
        return _pin_problem(self.pin) or super().problem()


ControlSettings = GpioButtonControl


def _pin_problem(pin: int) -> str | None:
    return None if 0 <= pin <= 27 else "pin must be within 0..27 (BCM numbering)"


def outputs_problem(outputs: list[OutputSettings], controls: list[ControlSettings]) -> str | None:
    """The first problem of ``[[outputs]]`` and ``[[controls]]``, as ``outputs[1] (led): ...``."""
    pins: dict[int, str] = {}
    addresses: dict[str, str] = {}
    entries: list[tuple[str, _Entry]] = [(f"outputs[{i}]", o) for i, o in enumerate(outputs)]
    entries += [(f"controls[{i}]", c) for i, c in enumerate(controls)]
    for where, entry in entries:
        prefix = f"{where} ({entry.kind})"
        problem = entry.problem()
        if problem is not None:
            return f"{prefix}: {problem}"
        pin = getattr(entry, "pin", None)
        if isinstance(pin, int):
            if pin in pins:
                return f"{prefix}: pin {pin} is already used by {pins[pin]}"
            pins[pin] = where
        if isinstance(entry, BleHapticOutput) and entry.address is not None:
            key = entry.address.upper().replace("-", ":")
            if key in addresses:
                return f"{prefix}: address is the same band as {addresses[key]}"
            addresses[key] = where
    return None
