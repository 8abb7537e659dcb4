"""The configured outputs and controls: ``[[outputs]]`` and ``[[controls]]`` made into devices.

:func:`build_outputs` turns each entry into an :class:`~hardware.devices.OutputDevice` (several
together run one session through :class:`~hardware.devices.FanOutDevice`); nothing is opened
yet, so the gateway can be built around ``outputs.device`` first. ``async with
outputs.running(control)`` then connects the BLE bands and claims the buttons' pins, and
releases them on the way out, after the gateway has ended its last session.

For `vagus outputs test --wav DIR`, :func:`wav_stand_in` renders what each output would do to a
WAV file: the vibroacoustic output its exact PCM, a light or band its level as the loudness of a
tone, so an installer can check the cue without the amplifier, the lamp or the band.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hardware.audio import FULL_SCALE, WavVibroacousticDevice, stream_session
from hardware.audio_aplay import vibroacoustic_output
from hardware.ble_haptic import UPDATE_HZ as BAND_UPDATE_HZ
from hardware.ble_haptic import BleBackendKwargs, BleHapticBand
from hardware.button import GpioButton
from hardware.clock import Clock
from hardware.control import PatientControl
from hardware.cue import follow_cue
from hardware.devices import FanOutDevice, OutputDevice, SessionReport, SimulatedDevice
from hardware.haptic_profiles import haptic_profile
from hardware.led import UPDATE_HZ as LED_UPDATE_HZ
from hardware.led import LedPacer
from stream.events import SessionParameters
from vagus.config import ConfigError, VagusConfig
from vagus.config_outputs import (
    BleHapticOutput,
    LedOutput,
    OutputSettings,
    SimulatedOutput,
    VibroacousticOutput,
)
from vagus.state_paths import state_paths

log = logging.getLogger(__name__)

#: A light or band rendered to a WAV file: a tone this high, as loud as the level.
LEVEL_TONE_HZ = 220.0
WAV_RATE_HZ = 8000
#: The simulated pacer has no update rate of its own; its level is sampled this often.
SIMULATED_UPDATE_HZ = 4.0


class OutputSetupError(ConfigError):
    """A configured output or control cannot be set up (no Bluetooth, a pin in use)."""


@dataclass
class BuiltOutput:
    """One ``[[outputs]]`` entry and the device built from it."""

    index: int
    settings: OutputSettings
    device: OutputDevice

    @property
    def title(self) -> str:
        return output_title(self.index, self.settings)


def output_title(index: int, settings: OutputSettings) -> str:
    """``outputs[1] led 'bedside lamp'``: kind and label, never an address."""
    label = f" {settings.label!r}" if settings.label else ""
    return f"outputs[{index}] {settings.kind}{label}"


class Outputs:
    """What renders sessions and the patient's buttons, built but not yet opened."""

    def __init__(
        self, config: VagusConfig, built: list[BuiltOutput], *, pin_factory: Any = None
    ) -> None:
        self.built = built
        self._config = config
        self._pin_factory = pin_factory
        self.buttons: list[GpioButton] = []
        devices = [b.device for b in built]
        self.device: OutputDevice = devices[0] if len(devices) == 1 else FanOutDevice(devices)

    @property
    def bands(self) -> list[BleHapticBand]:
        return [b.device for b in self.built if isinstance(b.device, BleHapticBand)]

    @contextlib.asynccontextmanager
    async def running(self, control: PatientControl | None) -> AsyncIterator[Outputs]:
        """Connect the bands and claim the buttons' pins (their presses go to ``control``;
        without one, buttons are not claimed and band presses are only logged)."""
        async with contextlib.AsyncExitStack() as stack:
            for band in self.bands:
                band.control = control
                await stack.enter_async_context(band)
            if control is not None:
                for index, settings in enumerate(self._config.controls):
                    button = GpioButton(
                        settings.pin,
                        control,
                        hold_s=settings.hold_s,
                        pull_up=settings.pull_up,
                        pin_factory=self._pin_factory,
                    )
                    _open_button(button, f"controls[{index}] ({settings.kind})")
                    stack.callback(button.close)
                    self.buttons.append(button)
            try:
                yield self
            finally:
                self.buttons = []


def _open_button(button: GpioButton, where: str) -> None:
    from gpiozero.exc import GPIOZeroError  # noqa: PLC0415 - only gateways with buttons

    try:
        button.open()
    except GPIOZeroError as exc:
        raise OutputSetupError(f"{where}: cannot use GPIO {button.pin}: {exc}") from exc


def build_outputs(
    config: VagusConfig,
    *,
    ble: BleBackendKwargs | None = None,
    secret: bytes | None = None,
    pin_factory: Any = None,
) -> Outputs:
    """The devices for ``config.outputs`` (the simulated pacer when there are none).

    ``ble`` is the bleak backend the bands connect through; ``secret`` the device-id secret
    that names them in logs (default: the one in ``[live] state_dir``); ``pin_factory`` is
    gpiozero's (tests pass a mock one).
    """
    entries: list[OutputSettings] = list(config.outputs) or [SimulatedOutput()]
    built = [
        BuiltOutput(i, settings, _device(config, settings, ble, secret, pin_factory))
        for i, settings in enumerate(entries)
    ]
    for output in built:
        if isinstance(output.device, WavVibroacousticDevice):
            why = (
                "aplay is not installed (Debian package alsa-utils)"
                if shutil.which("aplay") is None
                else "Linux lists no sound card and no alsa_device is set"
            )
            log.warning(
                "%s: %s, so sessions are written to WAV files in %s and the patient feels nothing",
                output.title,
                why,
                output.device.directory,
            )
    return Outputs(config, built, pin_factory=pin_factory)


def _device(
    config: VagusConfig,
    settings: OutputSettings,
    ble: BleBackendKwargs | None,
    secret: bytes | None,
    pin_factory: Any,
) -> OutputDevice:
    if isinstance(settings, VibroacousticOutput):
        wav_dir = settings.wav_dir
        directory = (
            Path(wav_dir).expanduser() if wav_dir else state_paths(config).state_dir / "sessions"
        )
        return vibroacoustic_output(
            wav_directory=directory,
            alsa_device=settings.alsa_device,
            keep_wav=settings.keep_wav,
            sample_rate_hz=settings.sample_rate_hz,
            max_intensity=settings.max_intensity,
        )
    if isinstance(settings, LedOutput):
        return LedPacer(settings.pin, pin_factory=pin_factory, max_intensity=settings.max_intensity)
    if isinstance(settings, BleHapticOutput):
        if ble is None:
            raise OutputSetupError("a ble_haptic output needs Bluetooth, and none was given")
        if secret is None:
            from ingest.transport.identity import load_or_create_secret  # noqa: PLC0415

            secret = load_or_create_secret(state_paths(config).state_dir)
        return BleHapticBand(
            haptic_profile(settings.profile),
            secret=secret,
            backend=ble,
            address=settings.address,
            name_prefix=settings.name_prefix,
            label=settings.label,
            max_intensity=settings.max_intensity,
            scan_timeout_s=config.live.scan_timeout_s,
            reconnect_cap_s=config.live.reconnect_cap_s,
        )
    return SimulatedDevice()


def warn_without_outputs(config: VagusConfig, *, real_bluetooth: bool) -> bool:
    """One warning when a real gateway would drive only the simulated pacer; True if it did."""
    if config.outputs or not real_bluetooth:
        return False
    log.warning(
        "no [[outputs]] configured: sessions run on the simulated pacer and the patient will "
        "feel nothing (docs/configuration.md, Outputs)"
    )
    return True


# --- WAV stand-ins for `vagus outputs test --wav` ---------------------------------------------


class JumpClock:
    """Time that jumps to whatever is waited for: a session renders to a file at once."""

    def __init__(self) -> None:
        self._now_ns = time.time_ns()

    def now_ns(self) -> int:
        return self._now_ns

    async def sleep_until(self, time_ns: int) -> None:
        self._now_ns = max(self._now_ns, time_ns)
        await asyncio.sleep(0)


@dataclass
class PcmWavDevice:
    """The vibroacoustic signal, exactly as the sound device would get it, in ``path``."""

    path: Path
    sample_rate_hz: int
    max_intensity: float
    name: str = "wav-file"

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        with _wav_writer(self.path, self.sample_rate_hz) as wav:

            async def write(pcm: bytes) -> None:
                wav.writeframes(pcm)

            return await stream_session(
                parameters,
                clock,
                abort,
                sink=write,
                sample_rate_hz=self.sample_rate_hz,
                max_intensity=self.max_intensity,
            )


@dataclass
class LevelWavDevice:
    """A light's brightness or a band's strength, step by step at the device's own update
    rate, as the loudness of a :data:`LEVEL_TONE_HZ` tone in ``path``."""

    path: Path
    update_hz: float
    max_intensity: float
    name: str = "wav-file"

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        step = round(WAV_RATE_HZ / self.update_hz)
        written = 0
        with _wav_writer(self.path, WAV_RATE_HZ) as wav:

            async def show(level: float) -> None:
                nonlocal written
                t = (written + np.arange(step)) / WAV_RATE_HZ
                tone = level * np.sin(2 * np.pi * LEVEL_TONE_HZ * t)
                wav.writeframes(np.round(tone * FULL_SCALE).astype("<i2").tobytes())
                written += step

            return await follow_cue(
                parameters,
                clock,
                abort,
                max_intensity=self.max_intensity,
                update_hz=self.update_hz,
                apply=show,
            )


@contextlib.contextmanager
def _wav_writer(path: Path, rate_hz: int) -> Iterator[wave.Wave_write]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        yield wav


def wav_stand_in(index: int, settings: OutputSettings, directory: Path) -> OutputDevice:
    """What output ``index`` would do, written to ``directory/output-<index>-<kind>.wav``."""
    path = directory / f"output-{index}-{settings.kind}.wav"
    if isinstance(settings, VibroacousticOutput):
        return PcmWavDevice(path, settings.sample_rate_hz, settings.max_intensity)
    if isinstance(settings, LedOutput):
        return LevelWavDevice(path, LED_UPDATE_HZ, settings.max_intensity)
    if isinstance(settings, BleHapticOutput):
        rate = min(BAND_UPDATE_HZ, haptic_profile(settings.profile).max_update_hz)
        return LevelWavDevice(path, rate, settings.max_intensity)
    return LevelWavDevice(path, SIMULATED_UPDATE_HZ, 1.0)
