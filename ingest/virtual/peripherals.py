"""Virtual wearables: bumble GATT servers that advertise, answer and notify like the real ones.

They exist so the live ingest path (bleak, bleak-retry-connector, decoders) can be exercised
end to end without hardware: a heart-rate strap and a sensor for a declarative sample-stream
profile here, a Polar H10-like PMD sensor in :mod:`ingest.virtual.pmd_peripheral`, a Polar
Verity Sense streaming PPI in :mod:`ingest.virtual.ppi_peripheral`. Each one
re-advertises after losing its link (as real sensors do) and can drop the link itself to test
reconnection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import numpy.typing as npt
from bumble import gatt
from bumble.core import UUID

from ingest.profiles.body_sensor_location import (
    BODY_SENSOR_LOCATION_UUID,
    encode_body_sensor_location,
)
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, HEART_RATE_SERVICE_UUID
from ingest.profiles.sample_stream import SampleStreamProfile
from ingest.virtual.characteristics import (
    NOTIFY,
    READ,
    READABLE,
    WRITE,
    WRITE_NO_RESPONSE,
    WRITEABLE,
    characteristic,
)
from ingest.virtual.link import VirtualPeripheral, VirtualRadio, gatt_uuid

__all__ = [
    "VIRTUAL_COMMAND_UUID",
    "HeartRatePeripheral",
    "SampleStreamPeripheral",
    "VirtualPeripheral",
]


class HeartRatePeripheral(VirtualPeripheral):
    """Heart Rate (0x180D), Battery (0x180F) and Device Information (0x180A) services.
    ``body_sensor_location``: the Heart Rate Service's optional Body Sensor Location (0x2A38)
    code, 1 (chest) as on a strap; None leaves the characteristic out."""

    def __init__(
        self,
        radio: VirtualRadio,
        name: str = "Virtual HR",
        *,
        battery_level: int = 87,
        manufacturer: str = "vagus",
        model: str = "virtual-hr",
        extra_services: Sequence[gatt.Service] = (),
        advertised_uuids: Sequence[str] = (HEART_RATE_SERVICE_UUID,),
        body_sensor_location: int | None = 1,
    ) -> None:
        self.measurement = characteristic(HEART_RATE_MEASUREMENT_UUID, NOTIFY)
        heart_rate = [self.measurement]
        if body_sensor_location is not None:
            location = encode_body_sensor_location(body_sensor_location)
            heart_rate.append(characteristic(BODY_SENSOR_LOCATION_UUID, READ, location, READABLE))
        self.battery_level = battery_level
        battery_value = gatt.CharacteristicValue(read=lambda _conn: bytes([self.battery_level]))
        services = [
            gatt.Service(gatt_uuid(HEART_RATE_SERVICE_UUID), heart_rate),
            gatt.Service(
                UUID.from_16_bits(0x180F),
                [characteristic("2a19", READ | NOTIFY, battery_value, READABLE)],
            ),
            gatt.Service(
                UUID.from_16_bits(0x180A),
                [
                    characteristic("2a29", READ, manufacturer.encode(), READABLE),
                    characteristic("2a24", READ, model.encode(), READABLE),
                ],
            ),
            *extra_services,
        ]
        super().__init__(radio, name, services, advertised_uuids)

    async def notify(self, payload: bytes) -> None:
        """Send one Heart Rate Measurement (build it with ``encode_heart_rate_measurement``)."""
        await self.notify_value(self.measurement, payload)

    async def feed(self, payloads: Iterable[bytes], interval_s: float = 0.0) -> int:
        """Notify each payload in turn, ``interval_s`` apart; returns how many were sent."""
        sent = 0
        for payload in payloads:
            if sent and interval_s:
                await asyncio.sleep(interval_s)
            await self.notify(payload)
            sent += 1
        return sent


VIRTUAL_COMMAND_UUID = "7a6e0001-5f3c-4c1e-9d8b-76616775730a"
"""Write / write-without-response characteristic that only virtual sample-stream sensors have:
it records what a gateway writes, so tests can check writes without a real command set."""


class SampleStreamPeripheral(VirtualPeripheral):
    """A sensor for a declarative :class:`SampleStreamProfile` (e.g. ``vagus-eda-v1``)."""

    def __init__(
        self, radio: VirtualRadio, profile: SampleStreamProfile, name: str | None = None
    ) -> None:
        self.profile = profile
        self.stream = characteristic(profile.characteristic, NOTIFY)
        self.commands_received: list[bytes] = []
        self.command = characteristic(
            VIRTUAL_COMMAND_UUID,
            WRITE | WRITE_NO_RESPONSE,
            gatt.CharacteristicValue(write=lambda _c, v: self.commands_received.append(bytes(v))),
            WRITEABLE,
        )
        service = gatt.Service(gatt_uuid(profile.service), [self.stream, self.command])
        super().__init__(radio, name or profile.name, [service], [profile.service])

    async def notify(self, payload: bytes) -> None:
        await self.notify_value(self.stream, payload)

    async def notify_samples(self, raw_values: npt.ArrayLike, device_time_ns: int | None) -> bytes:
        """Encode one frame with the profile, notify it, and return the bytes sent."""
        payload = self.profile.encode(raw_values, device_time_ns)
        await self.notify(payload)
        return payload
