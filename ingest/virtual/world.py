"""A patient's worth of virtual wearables on one radio, streaming in real time.

``vagus devices scan|status``, ``vagus record`` and ``vagus gateway`` take ``--backend virtual``
to run against this instead of BlueZ, so the live commands are testable end to end (and
demonstrable) on a machine without Bluetooth. The sensors stream whether or not anyone listens,
as real ones do once started: a chest strap (Heart Rate Service with RR intervals), a Polar
H10 stand-in (ECG on request), an EDA sensor for the ``vagus-eda-v1`` sample-stream profile and
a wrist accelerometer for ``vagus-motion-v1`` (the stress models read wrist motion only).
A vibration band (``vagus-haptic-v1``, an output, not a sensor) is there for ``[[outputs]]``
entries with ``name_prefix = "vBand"``; nothing connects to it unless one is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.devices.heart_rate import HeartRateDevice
from ingest.devices.polar_h10 import PolarH10Device
from ingest.devices.sample_stream import SampleStreamDevice
from ingest.profiles.heart_rate import encode_heart_rate_measurement
from ingest.profiles.sample_stream import load_builtin
from ingest.virtual.haptic_band import HapticBandPeripheral
from ingest.virtual.link import VirtualRadio
from ingest.virtual.peripherals import (
    HeartRatePeripheral,
    SampleStreamPeripheral,
)
from ingest.virtual.pmd_peripheral import PolarPmdPeripheral

HR_NAME = "Virtual HR strap"
H10_NAME = "Polar H10 VIRTUAL1"
EDA_NAME = "vEDA 1"  # short: a 128-bit service UUID leaves 8 bytes of advertising for it
WRIST_NAME = "vMot 1"  # as short, for the same reason
BAND_NAME = "vBand 1"  # as short, for the same reason
#: (profile, advertised-name prefix, label) of each virtual wearable, for default targets.
VIRTUAL_DEVICES = (
    (HeartRateDevice.name, HR_NAME, "virtual strap"),
    (PolarH10Device.name, H10_NAME, "virtual chest ECG"),
    (SampleStreamDevice.builtin("vagus-eda-v1").name, EDA_NAME, "virtual EDA"),
    (SampleStreamDevice.builtin("vagus-motion-v1").name, WRIST_NAME, "virtual wrist motion"),
)


@dataclass
class VirtualWearables:
    radio: VirtualRadio
    strap: HeartRatePeripheral
    h10: PolarPmdPeripheral
    eda: SampleStreamPeripheral
    wrist: SampleStreamPeripheral
    band: HapticBandPeripheral


async def _beat(strap: HeartRatePeripheral) -> None:
    rng = np.random.default_rng(7)
    while True:
        rr = int(rng.normal(870, 40))  # 1/1024 s, about 70 bpm
        bpm = round(60 * 1024 / rr)
        await strap.notify(
            encode_heart_rate_measurement(bpm, rr_intervals_1024=[rr], sensor_contact=True)
        )
        await asyncio.sleep(rr / 1024)


async def _paced(
    sensor: SampleStreamPeripheral, frame: Callable[[npt.NDArray[np.float64]], npt.ArrayLike]
) -> None:
    """Notify one-second frames at the profile's rate for ever; ``frame`` makes a frame's raw
    samples from their times (s since the start), the device clock stamps its first."""
    rate = sensor.profile.rate_hz
    per_frame = max(1, round(rate))
    origin = time.monotonic_ns()
    sent = 0
    while True:
        raw = frame((sent + np.arange(per_frame)) / rate)
        await sensor.notify_samples(raw, device_time_ns=origin + int(sent * 1e9 / rate))
        sent += per_frame
        await asyncio.sleep(per_frame / rate)


def _skin(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """A 4 uS tonic level with a slow swing, in the profile's nanosiemens."""
    return (4000 + 300 * np.sin(2 * np.pi * t / 40)).reshape(-1, 1)


def _wrist() -> Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]]:
    """A forearm at rest on a table: gravity on z, a little tremor, in milli-g."""
    rng = np.random.default_rng(11)
    return lambda t: np.array([-120.0, 240.0, 960.0]) + rng.normal(0.0, 6.0, (len(t), 3))


@contextlib.asynccontextmanager
async def virtual_wearables() -> AsyncIterator[VirtualWearables]:
    """Start the four wearables and the band on a fresh radio; stop and release everything on
    exit."""
    radio = VirtualRadio()
    try:
        async with (
            HeartRatePeripheral(radio, HR_NAME, battery_level=71) as strap,
            PolarPmdPeripheral(radio, H10_NAME, clock_ns=time.time_ns) as h10,
            SampleStreamPeripheral(radio, load_builtin("vagus-eda-v1"), EDA_NAME) as eda,
            SampleStreamPeripheral(radio, load_builtin("vagus-motion-v1"), WRIST_NAME) as wrist,
            HapticBandPeripheral(radio, BAND_NAME) as band,
        ):
            strap.spawn(_beat(strap))
            eda.spawn(_paced(eda, _skin))
            wrist.spawn(_paced(wrist, _wrist()))
            yield VirtualWearables(radio, strap, h10, eda, wrist, band)
    finally:
        await radio.close()
