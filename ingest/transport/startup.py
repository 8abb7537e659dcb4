"""Per-profile start-up after each connection: what a device needs before it streams.

* Polar H10: set the clock (PS-FTP, when the service is there), read the ECG settings, start ECG
  at 130 Hz / 14 bits on the PMD control point, and fail loudly on any refusal: a session that
  silently never streams is the failure this project exists to avoid.
* Heart Rate Service and sample-stream sensors need nothing beyond their subscription.

Battery and Device Information are read here too, for ``vagus devices status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from ingest.errors import DecodeError, IngestError
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    MeasurementType,
    SettingType,
    decode_control_point_response,
    encode_get_settings,
    encode_start_measurement,
)
from ingest.profiles.polar_time import PSFTP_MTU_UUID, encode_set_local_time

log = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_UUID = "00002a26-0000-1000-8000-00805f9b34fb"
ECG_SETTINGS: dict[int, int] = {SettingType.SAMPLE_RATE: 130, SettingType.RESOLUTION: 14}
CONTROL_TIMEOUT_S = 5.0
_ACCEPTED = {"SUCCESS", "ALREADY_IN_STATE"}


class StartupError(IngestError):
    """A device refused or did not answer its start-up; the session reconnects and retries."""


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    battery_percent: int | None
    manufacturer: str | None
    model: str | None
    firmware: str | None


async def _read(client: BleakClient, uuid: str) -> bytes | None:
    if client.services.get_characteristic(uuid) is None:
        return None
    try:
        return bytes(await client.read_gatt_char(uuid))
    except (BleakError, TimeoutError) as exc:
        log.debug("reading %s failed: %s", uuid, type(exc).__name__)
        return None


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", errors="replace").rstrip("\0").strip() or None if value else None


async def read_device_information(client: BleakClient) -> DeviceInformation:
    """Battery (0x2A19) and Device Information strings; ``None`` for what a device lacks."""
    battery = await _read(client, BATTERY_LEVEL_UUID)
    return DeviceInformation(
        battery_percent=battery[0] if battery and battery[0] <= 100 else None,
        manufacturer=_text(await _read(client, MANUFACTURER_UUID)),
        model=_text(await _read(client, MODEL_UUID)),
        firmware=_text(await _read(client, FIRMWARE_UUID)),
    )


class PolarStartup:
    """Drives the PMD control point; its indications arrive through :meth:`on_control`."""

    def __init__(self) -> None:
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()

    def on_control(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self._responses.put_nowait(bytes(data))

    async def run(self, client: BleakClient, now: datetime | None = None) -> None:
        await self.set_clock(client, now or datetime.now(UTC))
        await self._request(client, encode_get_settings(MeasurementType.ECG), "read ECG settings")
        start = encode_start_measurement(MeasurementType.ECG, ECG_SETTINGS)
        await self._request(client, start, "start ECG")

    @staticmethod
    async def set_clock(client: BleakClient, now: datetime) -> bool:
        """Set the sensor clock if it has PS-FTP; False (and a debug line) when it has not."""
        if client.services.get_characteristic(PSFTP_MTU_UUID) is None:
            log.debug("no PS-FTP service: the sensor clock is left as it is")
            return False
        await client.write_gatt_char(PSFTP_MTU_UUID, encode_set_local_time(now), response=True)
        return True

    async def _request(self, client: BleakClient, payload: bytes, what: str) -> bytes:
        while not self._responses.empty():
            self._responses.get_nowait()  # a stale answer must not be taken for this one
        await client.write_gatt_char(PMD_CONTROL_POINT_UUID, payload, response=True)
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
