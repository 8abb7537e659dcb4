"""What the transport is asked to reach (a configured device) and how it reaches it (backend)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from ingest.devices.registry import device_kind
from ingest.errors import IngestError
from ingest.transport.identity import ADDRESS_PATTERN


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """One device a patient wears: by address (pairs with one strap) or by advertised-name
    prefix (the first matching device), with the profile that decodes it."""

    profile: str
    address: str | None = None
    name_prefix: str | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if (self.address is None) == (self.name_prefix is None):
            raise IngestError("a device needs exactly one of address and name_prefix")
        if self.address is not None and not ADDRESS_PATTERN.fullmatch(self.address):
            raise IngestError("address must look like AA:BB:CC:DD:EE:FF")
        if self.name_prefix is not None and not self.name_prefix.strip():
            raise IngestError("name_prefix must not be empty")
        if ADDRESS_PATTERN.search(self.label):
            raise IngestError("a device label leaves the gateway: it must not hold an address")
        device_kind(self.profile)  # raises for an unknown profile

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.address is not None:
            return device.address.upper() == self.address.upper()
        assert self.name_prefix is not None
        return (adv.local_name or device.name or "").startswith(self.name_prefix)

    def describe(self) -> str:
        """For logs: the profile and label, never the address or name."""
        return f"{self.profile} {self.label!r}" if self.label else self.profile


@dataclass(frozen=True, slots=True)
class BleBackend:
    """bleak backend classes; ``None`` means bleak's platform default (BlueZ on a Pi)."""

    scanner: type[Any] | None = None
    client: type[Any] | None = None

    def scanner_kwargs(self) -> dict[str, Any]:
        return {} if self.scanner is None else {"backend": self.scanner}

    def client_kwargs(self) -> dict[str, Any]:
        return {} if self.client is None else {"backend": self.client}
