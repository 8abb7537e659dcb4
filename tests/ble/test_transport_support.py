"""Shared by the transport tests (no tests here): an accelerated clock, a sink, a waiter."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.recording import DeviceRecord, Marker, NotificationRecord
from ingest.transport.backoff import Backoff
from ingest.transport.gaps import Gap
from ingest.transport.manager import Transport
from ingest.transport.targets import BleBackend, DeviceTarget
from ingest.virtual.link import VirtualRadio

SECRET = bytes(range(32))
SLOWDOWN = 10.0 if os.environ.get("VAGUS_BLUEZ_GUEST") else 1.0
"""How much longer waits may take in ``make bluez-check``'s guest: it is software-emulated."""


class AcceleratedClock:
    """Unix ns that run ``speed`` times faster than the wall clock, from the wall clock's now."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._origin_wall = time.time_ns()
        self._origin_mono = time.monotonic_ns()

    def __call__(self) -> int:
        return self._origin_wall + int((time.monotonic_ns() - self._origin_mono) * self.speed)


@dataclass
class Collected:
    items: list[NotificationRecord | Marker | DeviceRecord] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    async def sink(self, item: NotificationRecord | Marker | DeviceRecord) -> None:
        self.items.append(item)

    async def on_gap(self, gap: Gap) -> None:
        self.gaps.append(gap)

    def notifications(self, characteristic: str | None = None) -> list[NotificationRecord]:
        return [
            i
            for i in self.items
            if isinstance(i, NotificationRecord)
            and (characteristic is None or i.characteristic == characteristic)
        ]

    def markers(self) -> list[Marker]:
        return [i for i in self.items if isinstance(i, Marker)]

    def transport(
        self,
        radio: VirtualRadio,
        targets: list[DeviceTarget],
        *,
        clock: Callable[[], int] = time.time_ns,
        scan_timeout_s: float = 2.0,
    ) -> Transport:
        """The gateway's transport to ``targets``, through bleak on the virtual radio, quick to
        retry, delivering here."""
        return Transport(
            targets,
            secret=SECRET,
            sink=self.sink,
            on_gap=self.on_gap,
            backend=virtual_backend(radio),
            clock=clock,
            backoff=fast_backoff,
            scan_timeout_s=scan_timeout_s,
        )


def virtual_backend(radio: VirtualRadio) -> BleBackend:
    return BleBackend(scanner=radio.scanner_backend(), client=radio.client_backend())


def fast_backoff() -> Backoff:
    return Backoff(base_s=0.02, factor=2.0, cap_s=0.2)


async def wait_for(predicate: Callable[[], bool], within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s * SLOWDOWN):
        while not predicate():
            await asyncio.sleep(0.005)
