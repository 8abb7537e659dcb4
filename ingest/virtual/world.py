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
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

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


async def _skin(eda: SampleStreamPeripheral) -> None:
    rate = eda.profile.rate_hz
    per_frame = max(1, round(rate))
    origin = time.monotonic_ns()
    sent = 0
    while True:
        t = (sent + np.arange(per_frame)) / rate
        raw = 4000 + 300 * np.sin(2 * np.pi * t / 40)  # 4 uS tonic level with a slow swing
        device_ns = origin + int(sent * 1e9 / rate)
        await eda.notify_samples(raw.reshape(-1, 1), device_time_ns=device_ns)
        sent += per_frame
        await asyncio.sleep(per_frame / rate)


async def _wrist(wrist: SampleStreamPeripheral) -> None:
    """A forearm at rest on a table: gravity on z, a little tremor, in milli-g."""
    rate = wrist.profile.rate_hz
    per_frame = max(1, round(rate))
    rng = np.random.default_rng(11)
    origin = time.monotonic_ns()
    sent = 0
    while True:
        raw = np.array([-120.0, 240.0, 960.0]) + rng.normal(0.0, 6.0, (per_frame, 3))
        await wrist.notify_samples(raw, device_time_ns=origin + int(sent * 1e9 / rate))
        sent += per_frame
        await asyncio.sleep(per_frame / rate)


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
            eda.spawn(_skin(eda))
            wrist.spawn(_wrist(wrist))
            yield VirtualWearables(radio, strap, h10, eda, wrist, band)
    finally:
        await radio.close()
