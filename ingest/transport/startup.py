"""What every connection starts with, whatever the device: Battery and Device Information.

A device's own start-up (the Polar H10's control-point sequence) belongs to its kind
(:meth:`ingest.devices.DeviceKind.start`); the session runs it through :class:`BleakLink`, the
bleak side of the small :class:`~ingest.devices.GattLink` interface a kind's start-up talks to.
Battery and Device Information are read here, for ``vagus devices status``; the battery again
for the gateway's health reports (vagus.health).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakError

from ingest.devices.kind import StartupError

__all__ = [
    "BleakLink",
    "DeviceInformation",
    "StartupError",
    "read_battery_percent",
    "read_characteristic",
    "read_device_information",
]

log = logging.getLogger(__name__)

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_UUID = "00002a26-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    battery_percent: int | None
    manufacturer: str | None
    model: str | None
    firmware: str | None


async def read_characteristic(client: BleakClient, uuid: str) -> bytes | None:
    """The characteristic's value; ``None`` when the device lacks it or the read fails."""
    if client.services.get_characteristic(uuid) is None:
        return None
    try:
        return bytes(await client.read_gatt_char(uuid))
    except (BleakError, TimeoutError) as exc:
        log.debug("reading %s failed: %s", uuid, type(exc).__name__)
        return None


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", errors="replace").rstrip("\0").strip() or None if value else None


async def read_battery_percent(client: BleakClient) -> int | None:
    """Battery Level (0x2A19) in percent; ``None`` without a Battery Service or a valid value."""
    battery = await read_characteristic(client, BATTERY_LEVEL_UUID)
    return battery[0] if battery and battery[0] <= 100 else None


async def read_device_information(client: BleakClient) -> DeviceInformation:
    """Battery (0x2A19) and Device Information strings; ``None`` for what a device lacks."""
    return DeviceInformation(
        battery_percent=await read_battery_percent(client),
        manufacturer=_text(await read_characteristic(client, MANUFACTURER_UUID)),
        model=_text(await read_characteristic(client, MODEL_UUID)),
        firmware=_text(await read_characteristic(client, FIRMWARE_UUID)),
    )


class BleakLink:
    """A connected bleak client as the :class:`~ingest.devices.GattLink` a kind's start-up
    uses; ``subscribe`` goes through the session, which subscribes each characteristic once."""

    def __init__(
        self,
        client: BleakClient,
        subscribe: Callable[
            [BleakClient, str, Callable[[BleakGATTCharacteristic, bytearray], None]],
            Awaitable[None],
        ],
    ) -> None:
        self._client = client
        self._subscribe = subscribe

    def has(self, uuid: str) -> bool:
        return self._client.services.get_characteristic(uuid) is not None

    async def write(self, uuid: str, payload: bytes) -> None:
        await self._client.write_gatt_char(uuid, payload, response=True)

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        await self._subscribe(self._client, uuid, lambda _char, data: on_value(bytes(data)))
