"""One simulated radio medium (bumble Controllers sharing a ``LocalLink``) and the plumbing
every virtual peripheral shares: advertising, link tracking, dropping and coming back.

A radio is an ordinary object that a test or demo creates, so two tests never share a medium
and nothing is kept in module globals. Each bumble Device gets its own Controller (as each
real board has its own chip) and a random static address allocated from a per-radio counter,
which keeps runs deterministic.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Self

from bumble import gatt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

if TYPE_CHECKING:
    from ingest.virtual.bleak_backend import BumbleClient, BumbleScanner

__all__ = ["VirtualPeripheral", "VirtualRadio", "gatt_uuid"]

# Random static addresses must have the two most significant bits set (Core Vol 6, Part B,
# 1.3.2.1); the first octet also tells centrals (C0) from peripherals (F0) in logs.
_CENTRAL_PREFIX = 0xC0
_PERIPHERAL_PREFIX = 0xF0
_SIG_BASE = "-0000-1000-8000-00805f9b34fb"
_LEGACY_ADV_BYTES = 31


def gatt_uuid(value: str) -> UUID:
    """SIG UUIDs as 16-bit (as real devices put them on the air), others as 128-bit."""
    value = value.lower()
    if len(value) == 36 and value.startswith("0000") and value.endswith(_SIG_BASE):
        return UUID.from_16_bits(int(value[4:8], 16))
    return UUID(value)


class VirtualRadio:
    """A shared medium on which virtual centrals and peripherals advertise, scan and connect.

    Create it inside a running event loop (bumble Controllers bind to the loop). ``close()``
    takes every controller off the link, so a radio left behind by a test goes quiet.
    """

    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        self._serial = itertools.count(1)
        self._controllers: dict[Device, Controller] = {}
        self._releases: set[asyncio.Task[None]] = set()

    def _next_address(self, prefix: int) -> Address:
        serial = next(self._serial)
        octets = [prefix, 0x00, 0x00, (serial >> 16) & 0xFF, (serial >> 8) & 0xFF, serial & 0xFF]
        return Address(":".join(f"{o:02X}" for o in octets), Address.RANDOM_DEVICE_ADDRESS)

    def create_device(self, name: str, *, peripheral: bool) -> Device:
        """A bumble Device with its own Controller on this link (not powered on yet)."""
        address = self._next_address(_PERIPHERAL_PREFIX if peripheral else _CENTRAL_PREFIX)
        controller = Controller(f"{name}-controller", link=self.link)
        device = Device(
            config=DeviceConfiguration(name=name, address=address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        self._controllers[device] = controller
        return device

    async def create_central(self, name: str = "vagus-central") -> Device:
        """A powered-on central, the stand-in for one Bluetooth adapter."""
        device = self.create_device(name, peripheral=False)
        await device.power_on()
        return device

    async def release(self, device: Device) -> None:
        """Power a device off and take its controller off the link (idempotent)."""
        controller = self._controllers.pop(device, None)
        if controller is None:
            return
        await device.power_off()
        if controller in self.link.controllers:
            self.link.remove_controller(controller)

    def release_soon(self, device: Device) -> None:
        """Release from inside a bumble event handler; ``close()`` awaits the pending task."""
        task = asyncio.get_running_loop().create_task(self.release(device))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def close(self) -> None:
        """Release every device this radio created."""
        if self._releases:
            await asyncio.gather(*self._releases)
        for device in list(self._controllers):
            await self.release(device)

    def scanner_backend(self) -> type[BumbleScanner]:
        """A bleak scanner backend class bound to this radio, for ``BleakScanner(backend=)``."""
        from ingest.virtual.bleak_backend import bind_scanner  # noqa: PLC0415 (import cycle)

        return bind_scanner(self)

    def client_backend(self) -> type[BumbleClient]:
        """A bleak client backend class bound to this radio, for ``BleakClient(backend=)``."""
        from ingest.virtual.bleak_backend import bind_client  # noqa: PLC0415 (import cycle)

        return bind_client(self)


class VirtualPeripheral:
    """One advertising GATT server on a :class:`VirtualRadio` (use as ``async with``)."""

    def __init__(
        self,
        radio: VirtualRadio,
        name: str,
        services: Sequence[gatt.Service],
        advertised_uuids: Sequence[str],
        *,
        advertising_interval_ms: float = 20.0,
    ) -> None:
        self.radio = radio
        self.name = name
        self._services = list(services)
        self._advertised = [gatt_uuid(u) for u in advertised_uuids]
        self._interval_ms = advertising_interval_ms
        self._device: Device | None = None
        self._readvertise = True
        self._tasks: set[asyncio.Task[Any]] = set()
        self._comeback: asyncio.Task[None] | None = None
        self.connection_count = 0
        """How many links were ever accepted: a reconnection test checks it grew."""

    @property
    def device(self) -> Device:
        if self._device is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._device

    @property
    def address(self) -> str:
        return str(self.device.random_address)

    @property
    def connection(self) -> Connection | None:
        connections: dict[int, Connection] = self.device.connections
        return next(iter(connections.values()), None)

    async def start(self) -> Self:
        device = self.radio.create_device(self.name, peripheral=True)
        device.add_services(self._services)
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self._device = device
        await self.advertise()
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def advertise(self) -> None:
        """(Re)start connectable advertising: flags, service UUIDs and the name, all in the
        advertising PDU, shortened to fit 31 bytes: bumble's simulated controller answers a
        scan request with the advertising data, so a name only in the scan response is lost."""
        self._readvertise = True
        uuids16 = b"".join(bytes(u) for u in self._advertised if len(bytes(u)) == 2)
        uuids128 = b"".join(bytes(u) for u in self._advertised if len(bytes(u)) == 16)
        structures: list[tuple[int, bytes]] = [(AdvertisingData.FLAGS, b"\x06")]
        if uuids16:
            structures.append(
                (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, uuids16)
            )
        if uuids128:
            structures.append(
                (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, uuids128)
            )
        name = self.name.encode()
        room = _LEGACY_ADV_BYTES - sum(2 + len(data) for _, data in structures) - 2
        if len(name) <= room:
            structures.append((AdvertisingData.COMPLETE_LOCAL_NAME, name))
        elif room > 0:
            structures.append((AdvertisingData.SHORTENED_LOCAL_NAME, name[:room]))
        await self.device.start_advertising(
            advertising_data=bytes(AdvertisingData(structures)),
            scan_response_data=bytes(
                AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, name)])
            ),
            advertising_interval_min=self._interval_ms,
            advertising_interval_max=self._interval_ms,
        )

    async def drop_connection(self, *, come_back: bool = True) -> None:
        """Terminate the link from this side; advertise again unless ``come_back`` is False."""
        self._readvertise = come_back
        if (connection := self.connection) is not None:
            await connection.disconnect()
        if self._comeback is not None:
            await self._comeback
        if not come_back:
            await self.device.stop_advertising()

    async def stop(self) -> None:
        self._readvertise = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._device is not None:
            if (connection := self.connection) is not None:
                await connection.disconnect()
            await self._device.stop_advertising()
            await self.radio.release(self._device)
            self._device = None

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background job that ``stop()`` cancels, so no task outlives the peripheral."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def subscriber_count(self, characteristic: gatt.Characteristic[Any]) -> int:
        """Links whose CCCD enables notifications or indications of ``characteristic``."""
        subscribers: dict[Any, dict[int, bytes]] = self.device.gatt_server.subscribers
        return sum(
            1 for cccds in subscribers.values() if any(cccds.get(characteristic.handle, b"\0\0"))
        )

    async def notify_value(self, characteristic: gatt.Characteristic[Any], payload: bytes) -> None:
        await self.device.notify_subscribers(characteristic, payload)

    def _on_connection(self, connection: Connection) -> None:
        self.connection_count += 1
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, _reason: int) -> None:
        self.on_link_lost()
        if self._readvertise:
            self._comeback = self.spawn(self.advertise())

    def on_link_lost(self) -> None:
        """Hook for subclasses: a real sensor stops its measurements when the link drops."""
