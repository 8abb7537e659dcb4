"""A Polar sensor's GATT as a device kind's start-up sees it, without bleak (shared by the H10's
and the optical sensors' start-up tests)."""

from __future__ import annotations

from collections.abc import Callable

from ingest.profiles.polar_pmd import PMD_CONTROL_POINT_UUID
from ingest.profiles.polar_time import PSFTP_MTU_UUID


class FakeLink:
    """A PMD control point that answers every request with ``status`` (0 = success), after an
    unrelated answer a start-up must ignore, and a PS-FTP characteristic when ``psftp``."""

    def __init__(self, *, psftp: bool = True, status: int = 0) -> None:
        self.characteristics = {PMD_CONTROL_POINT_UUID} | ({PSFTP_MTU_UUID} if psftp else set())
        self.status = status
        self.writes: list[tuple[str, bytes]] = []
        self.listeners: dict[str, Callable[[bytes], None]] = {}

    def has(self, uuid: str) -> bool:
        return uuid in self.characteristics

    async def write(self, uuid: str, payload: bytes) -> None:
        self.writes.append((uuid, payload))
        if uuid == PMD_CONTROL_POINT_UUID:
            self.listeners[uuid](b"\xf0\x09\x00\x00\x00")  # an unrelated answer is ignored
            self.listeners[uuid](bytes([0xF0, payload[0], payload[1], self.status, 0]))

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        self.listeners[uuid] = on_value
