"""`vagus devices scan`: nearby devices of supported profiles, filtered, with pseudonymous ids.

The address and advertised name (a Polar strap's name carries its serial number) stay in the
returned :class:`Sighting` for the operator at the gateway's own terminal; nothing here logs
them, and nothing built from a sighting for events carries them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from ingest.devices.kind import Advertisement
from ingest.devices.registry import match_advertisement, scan_service_uuids
from ingest.transport.identity import device_id_for, install_address_redaction
from ingest.transport.targets import BleBackend


@dataclass(frozen=True, slots=True)
class ScanFilter:
    name_prefix: str | None = None
    min_rssi: int | None = None
    """RSSI floor in dBm: weaker devices (the neighbour's strap through a wall) are left out."""


@dataclass(frozen=True, slots=True)
class Sighting:
    device_id: str
    profile: str
    rssi: int
    address: str
    """Local to the operator's terminal only (pairing); never logged or sent."""
    name: str | None


def advertisement_of(adv: AdvertisementData) -> Advertisement:
    """What a device kind may recognise, from bleak's advertisement data."""
    return Advertisement(
        service_uuids=frozenset(u.lower() for u in adv.service_uuids),
        local_name=adv.local_name or "",
    )


async def scan(
    seconds: float,
    *,
    secret: bytes,
    backend: BleBackend | None = None,
    scan_filter: ScanFilter | None = None,
) -> list[Sighting]:
    """Supported devices heard within ``seconds``, strongest signal first."""
    install_address_redaction()
    wanted = scan_filter or ScanFilter()
    seen: dict[str, Sighting] = {}

    def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
        name = adv.local_name or device.name
        profile = match_advertisement(advertisement_of(adv))
        if profile is None:
            return
        if wanted.name_prefix and not (name or "").startswith(wanted.name_prefix):
            return
        if wanted.min_rssi is not None and adv.rssi < wanted.min_rssi:
            return
        previous = seen.get(device.address)
        if previous is not None and previous.profile != profile.name and name is None:
            return  # a later bare packet must not demote a device the name identified
        seen[device.address] = Sighting(
            device_id=device_id_for(device.address, secret),
            profile=profile.name,
            rssi=adv.rssi,
            address=device.address,
            name=name,
        )

    scanner = BleakScanner(
        on_advertisement,
        service_uuids=scan_service_uuids(),
        **(backend or BleBackend()).scanner_kwargs(),
    )
    async with scanner:
        await asyncio.sleep(seconds)
    return sorted(seen.values(), key=lambda s: (-s.rssi, s.device_id))
