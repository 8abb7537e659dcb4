"""bleak backends that drive a bumble central on a :class:`VirtualRadio`.

bleak picks a backend by class (``BleakScanner(backend=...)``, ``BleakClient(backend=...)``),
so the classes here are bound to one radio by :func:`bind_scanner` / :func:`bind_client`
(``radio.scanner_backend()`` / ``radio.client_backend()``) instead of through globals. Every
scanner and client gets a central Device of its own: bumble allows one pending LE connection
per device, and separate centrals let clients connect concurrently as BlueZ allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, cast

from bleak.args import SizedBuffer
from bleak.assigned_numbers import gatt_char_props_to_strs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device
from bumble.gatt_client import CharacteristicProxy, Client
from bumble.hci import Address

if TYPE_CHECKING:
    from ingest.virtual.link import VirtualRadio

__all__ = ["BumbleClient", "BumbleScanner", "bind_client", "bind_scanner"]

PREFERRED_MTU = 247
"""ATT MTU the client asks for, as BlueZ does; a Polar ECG frame (229 bytes) needs >= 232."""

_DEFAULT_MTU = 23
_NOT_CONNECTED = "Not connected"
_UUID16 = {AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, 0x02}
_UUID128 = {AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, 0x06}


def _uuid_str(value: core.UUID) -> str:
    return normalize_uuid_str(value.to_hex_str("-"))


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """bleak's view of one (merged advertising + scan response) bumble advertisement."""
    name: str | None = None
    uuids: list[str] = []
    manufacturer: dict[int, bytes] = {}
    tx_power: int | None = None
    for ad_type, data in cast("list[tuple[int, bytes]]", adv.data.ad_structures):
        if ad_type in _UUID16:
            uuids += [
                normalize_uuid_str(data[i : i + 2][::-1].hex()) for i in range(0, len(data), 2)
            ]
        elif ad_type in _UUID128:
            uuids += [str(uuid.UUID(bytes=data[i : i + 16][::-1])) for i in range(0, len(data), 16)]
        elif ad_type in {AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME}:
            name = data.decode("utf-8", errors="replace")
        elif ad_type == AdvertisingData.MANUFACTURER_SPECIFIC_DATA and len(data) >= 2:
            manufacturer[int.from_bytes(data[:2], "little")] = data[2:]
        elif ad_type == AdvertisingData.TX_POWER_LEVEL and data:
            tx_power = int.from_bytes(data[:1], "little", signed=True)
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data={},
        service_uuids=list(dict.fromkeys(uuids)),  # the merged scan response repeats them
        tx_power=tx_power,
        rssi=int(adv.rssi),
        platform_data=(adv,),
    )


def _merge(old: AdvertisementData, new: AdvertisementData) -> AdvertisementData:
    """Keep what earlier packets said, as BlueZ does: a bare ADV_IND must not erase the name
    that came in the scan response."""
    return new._replace(
        local_name=new.local_name or old.local_name,
        manufacturer_data={**old.manufacturer_data, **new.manufacturer_data},
        service_uuids=list(dict.fromkeys(old.service_uuids + new.service_uuids)),
        tx_power=new.tx_power if new.tx_power is not None else old.tx_power,
    )


class BumbleScanner(BaseBleakScanner):
    """Active or passive scanning with a bumble central; filtering as bleak specifies."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode != "passive"
        self._device: Device | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        if self._device is None:
            self._device = await self.radio.create_central("bleak-scanner")
            self._device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self._device.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.remove_listener(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
            await device.stop_scanning()
            await self.radio.release(device)

    def _on_advertisement(self, adv: Advertisement) -> None:
        address = str(adv.address)
        data = advertisement_data(adv)
        if (seen := self.seen_devices.get(address)) is not None:
            data = _merge(seen[1], data)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        device = self.create_or_update_device(address, address, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """A GATT client on its own bumble central; reports every disconnection, as BlueZ does."""

    radio: ClassVar[VirtualRadio]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = getattr(address_or_ble_device, "details", None)
        self._peer_address = (
            details
            if isinstance(details, Address)
            else Address(self.address, Address.RANDOM_DEVICE_ADDRESS)
        )
        self._name = getattr(address_or_ble_device, "name", None) or self.address
        self._wanted_services = services
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._callbacks: dict[int, NotifyCallback] = {}
        self._dispatchers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection else _DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    def _client(self) -> Client:
        if self._connection is None:
            raise BleakError(_NOT_CONNECTED)
        return self._connection.gatt_client

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self.is_connected:
            raise BleakError("Client is already connected")
        timeout = float(kwargs.get("timeout", self._timeout))
        device = await self.radio.create_central("bleak-client")
        self._device = device
        try:
            # bumble's own connect timeout waits forever for the simulated controller to
            # confirm the cancel; the central is released below, which ends the attempt.
            with _bumble_errors():
                async with asyncio.timeout(timeout):
                    connection = await device.connect(self._peer_address, timeout=None)
            self._connection = connection
            connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
            with _bumble_errors():
                await connection.gatt_client.request_mtu(PREFERRED_MTU)
                self.services = await self._discover()
        except BaseException:
            await self.disconnect()
            raise

    async def _discover(self) -> BleakGATTServiceCollection:
        client = self._client()
        collection = BleakGATTServiceCollection()
        for proxy in await client.discover_services():
            service_uuid = _uuid_str(proxy.uuid)
            if self._wanted_services is not None and service_uuid not in self._wanted_services:
                continue
            service = BleakGATTService(proxy, proxy.handle, service_uuid)
            collection.add_service(service)
            for char in await client.discover_characteristics((), proxy):
                await client.discover_descriptors(char)
                characteristic = BleakGATTCharacteristic(
                    char,
                    char.handle,
                    _uuid_str(char.uuid),
                    sorted(gatt_char_props_to_strs(int(char.properties))),
                    lambda: self.mtu_size - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for desc in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(desc, desc.handle, _uuid_str(desc.type), characteristic)
                    )
        return collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._callbacks.clear()
        self._dispatchers.clear()
        device, self._device = self._device, None
        if device is not None:
            self.radio.release_soon(device)
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection, device = self._connection, self._device
        if connection is not None:
            # Returns once the link is down; _on_disconnection has then run.
            with contextlib.suppress(core.BaseBumbleError):
                await asyncio.wait_for(connection.disconnect(), self._timeout)
        elif device is not None:
            self._device = None
            await self.radio.release(device)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("virtual peripherals need no pairing")

    async def unpair(self) -> None:
        raise NotImplementedError("virtual peripherals need no pairing")

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        with _bumble_errors():
            return bytearray(await self._client().read_value(characteristic.handle))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        with _bumble_errors():
            return bytearray(await self._client().read_value(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        with _bumble_errors():
            await self._client().write_value(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        with _bumble_errors():
            await self._client().write_value(descriptor.handle, bytes(data), True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Write the CCCD (notify preferred over indicate, as bleak asks of backends).

        A second call for the same characteristic only replaces the callback, so one
        notification is never delivered twice.
        """
        handle = characteristic.handle
        self._callbacks[handle] = callback
        if handle in self._dispatchers:
            return

        def dispatch(value: bytes) -> None:
            if (current := self._callbacks.get(handle)) is not None:
                current(bytearray(value))

        self._dispatchers[handle] = dispatch
        proxy = cast("CharacteristicProxy[bytes]", characteristic.obj)
        try:
            with _bumble_errors():
                await self._client().subscribe(proxy, dispatch, prefer_notify=True)
        except BaseException:
            self._callbacks.pop(handle, None)
            self._dispatchers.pop(handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        handle = characteristic.handle
        self._callbacks.pop(handle, None)
        dispatch = self._dispatchers.pop(handle, None)
        if dispatch is not None:
            proxy = cast("CharacteristicProxy[bytes]", characteristic.obj)
            with _bumble_errors():
                await self._client().unsubscribe(proxy, dispatch)


@contextlib.contextmanager
def _bumble_errors() -> Iterator[None]:
    """Map bumble's exceptions to the ones bleak callers (and bleak-retry-connector) expect."""
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(exc.error_code) from exc
    except core.TimeoutError as exc:
        raise TimeoutError("virtual connection timed out") from exc
    except core.BaseBumbleError as exc:
        raise BleakError(str(exc)) from exc


def bind_scanner(radio: VirtualRadio) -> type[BumbleScanner]:
    """A :class:`BumbleScanner` subclass whose instances scan on ``radio``."""
    return cast("type[BumbleScanner]", type("BumbleScanner", (BumbleScanner,), {"radio": radio}))


def bind_client(radio: VirtualRadio) -> type[BumbleClient]:
    """A :class:`BumbleClient` subclass whose instances connect on ``radio``."""
    return cast("type[BumbleClient]", type("BumbleClient", (BumbleClient,), {"radio": radio}))
