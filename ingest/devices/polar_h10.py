"""The Polar H10 chest strap: ECG (and ACC) over Polar Measurement Data, heart rate over the Heart
Rate Service.

Codecs: :mod:`ingest.profiles.polar_pmd` (data frames), :mod:`ingest.profiles.pmd_control`
(control point), :mod:`ingest.profiles.polar_time` (PS-FTP clock setting), and the Heart Rate
Measurement through :class:`~ingest.devices.heart_rate.HeartRateDecoder`.

Start-up after each connection: set the clock (PS-FTP, when the service is there), read the ECG
settings, start ECG at 130 Hz / 14 bits on the PMD control point, and fail loudly on any
refusal: a session that silently never streams is the failure this project exists to avoid.

Clock: a PMD frame is stamped (ns since 2000-01-01) at its last sample; the device clock is
aligned to arrival times (:class:`~ingest.device_clock.ClockAligner`), guarded against corrupt
timestamps, and re-anchored when it really moved (set at connect, reset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from ingest.device_clock import MAX_OFFSET_STEP_DOWN_NS, ClockAligner, DeviceClockGuard
from ingest.devices.heart_rate import HeartRateDecoder
from ingest.devices.kind import (
    Advertisement,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    StartupError,
    sample_block,
)
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, HEART_RATE_SERVICE_UUID
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    MeasurementType,
    PmdAccFrame,
    PmdEcgFrame,
    SettingType,
    decode_control_point_response,
    decode_pmd_data,
    encode_get_settings,
    encode_start_measurement,
    polar_to_unix_ns,
)
from ingest.profiles.polar_time import PSFTP_MTU_UUID, encode_set_local_time

log = logging.getLogger(__name__)

#: Nominal rates of the Polar streams as the gateway configures them at connect.
POLAR_ECG_HZ = 130.0
POLAR_ACC_HZ = 25.0
ECG_SETTINGS: dict[int, int] = {SettingType.SAMPLE_RATE: 130, SettingType.RESOLUTION: 14}
CONTROL_TIMEOUT_S = 5.0
_ACCEPTED = {"SUCCESS", "ALREADY_IN_STATE"}


class PmdControl:
    """Requests on the PMD control point; its indications arrive through :meth:`on_value`."""

    def __init__(self) -> None:
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()

    def on_value(self, data: bytes) -> None:
        self._responses.put_nowait(data)

    async def request(self, link: GattLink, payload: bytes, what: str) -> bytes:
        while not self._responses.empty():
            self._responses.get_nowait()  # a stale answer must not be taken for this one
        await link.write(PMD_CONTROL_POINT_UUID, payload)
        try:
            async with asyncio.timeout(CONTROL_TIMEOUT_S):
                while True:
                    raw = await self._responses.get()
                    with contextlib.suppress(DecodeError):
                        answer = decode_control_point_response(raw)
                        if answer.op_code == payload[0]:
                            break
        except TimeoutError as exc:
            raise StartupError(f"{what}: no answer within {CONTROL_TIMEOUT_S:.0f} s") from exc
        if answer.status_name not in _ACCEPTED:
            raise StartupError(f"{what}: the sensor answered {answer.status_name}")
        return answer.parameters


async def set_clock(link: GattLink, now: datetime) -> bool:
    """Set the sensor clock if it has PS-FTP; False (and a debug line) when it has not."""
    if not link.has(PSFTP_MTU_UUID):
        log.debug("no PS-FTP service: the sensor clock is left as it is")
        return False
    await link.write(PSFTP_MTU_UUID, encode_set_local_time(now))
    return True


#: The H10 is a chest strap: its ECG and its motion are the chest's.
H10_SITE: Final = "chest"


class PolarH10Decoder:
    """One H10: Heart Rate Measurements and PMD ECG/ACC frames, on the gateway's clock."""

    def __init__(self, device_id: str, kind_name: str = "polar-h10") -> None:
        self.device_id = device_id
        self._kind_name = kind_name
        self._heart_rate = HeartRateDecoder(device_id, kind_name)
        self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)
        self._guard = DeviceClockGuard()

    def decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if characteristic == HEART_RATE_MEASUREMENT_UUID:
            return self._heart_rate.decode_measurement(notification)
        if characteristic == PMD_DATA_UUID:
            return [self._decode_pmd(notification)]
        raise DecodeError(f"{self._kind_name} has no characteristic {characteristic}")

    def _decode_pmd(self, notification: Notification) -> SampleBlock:
        frame = decode_pmd_data(notification.payload)
        if not isinstance(frame, PmdEcgFrame | PmdAccFrame):
            # before the clock guard: a stray frame (PPI is stamped 0) must not move the clock
            raise DecodeError(f"the H10 streams ECG and ACC, not {type(frame).__name__}")
        device_ns = polar_to_unix_ns(frame.timestamp_ns)
        if self._guard.admit(device_ns, notification.gateway_time_ns):
            # The device clock really moved (set at connect, reset): old offsets no longer apply.
            self._aligner = ClockAligner(max_step_down_ns=MAX_OFFSET_STEP_DOWN_NS)
        offset = self._aligner.offset_ns(device_ns, notification.gateway_time_ns)
        if isinstance(frame, PmdEcgFrame):
            return self._timed(frame.samples_uv, device_ns + offset, POLAR_ECG_HZ, "ecg", "uV")
        return self._timed(frame.samples_mg, device_ns + offset, POLAR_ACC_HZ, "acc", "mG")

    def _timed(
        self, samples: npt.NDArray[np.int32], last_ns: int, rate_hz: float, stream: str, unit: str
    ) -> SampleBlock:
        """Per-sample times for a frame stamped at its last sample (Polar's convention)."""
        count = len(samples)
        steps = np.arange(count - 1, -1, -1, dtype=np.int64)
        times = last_ns - (steps * 1e9 / rate_hz).astype(np.int64)
        return sample_block(
            self.device_id, stream, times, samples, unit=unit, rate_hz=rate_hz, site=H10_SITE
        )


class PolarH10Device:
    """Polar H10: ECG at 130 Hz over PMD, started on the control point, plus heart rate."""

    name: Final = "polar-h10"
    gatt: Final = GattTargets(
        services=(PMD_SERVICE_UUID, HEART_RATE_SERVICE_UUID),
        data=(HEART_RATE_MEASUREMENT_UUID, PMD_DATA_UUID),
        control=(PMD_CONTROL_POINT_UUID, PSFTP_MTU_UUID),
    )
    # Only the H10 streams ECG over PMD; H9 and H7 are heart-rate devices, and OH1 and Verity
    # Sense stream PPI over PMD (polar_optical.py).
    name_prefixes: Final = ("Polar H10",)

    def recognises(self, advertisement: Advertisement) -> Recognition:
        if advertisement.local_name.startswith(self.name_prefixes):
            return Recognition.SPECIFIC
        if advertisement.local_name.startswith("Polar "):
            # Another Polar model by name (a Verity Sense or OH1 serves PMD too): not an H10.
            return Recognition.NO
        if PMD_SERVICE_UUID in advertisement.service_uuids:
            return Recognition.SPECIFIC
        return Recognition.NO

    async def start(self, link: GattLink, now_ns: int) -> None:
        control = PmdControl()
        await link.subscribe(PMD_CONTROL_POINT_UUID, control.on_value)
        await set_clock(link, datetime.fromtimestamp(now_ns / 1e9, UTC))
        await control.request(link, encode_get_settings(MeasurementType.ECG), "read ECG settings")
        start = encode_start_measurement(MeasurementType.ECG, ECG_SETTINGS)
        await control.request(link, start, "start ECG")

    def decoder(self, device_id: str) -> PolarH10Decoder:
        return PolarH10Decoder(device_id, self.name)


DEVICE_KINDS = (PolarH10Device(),)
