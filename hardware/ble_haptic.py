"""A BLE haptic device: a vibration band or pillow pad driven by GATT writes.

Each update writes one byte, the vibration intensity (0-255), to the device's intensity
characteristic without waiting for a response, so a slow link delays nothing. The intensity
follows the breathing cue with the session's fades, never exceeds the device's cap, and is set
to 0 when the session ends, is aborted, or fails. A write that fails (the band left the room)
ends the session as "failed" rather than pretending it went on.

:class:`BleHapticBand` is the configured band: it finds the band (by address or advertised-name
prefix), keeps it connected for as long as the gateway runs, reconnects after a drop, and turns
presses of the band's button into patient requests. Its address never reaches a log line or an
event: it is named by its label and pseudonymous device id (:mod:`ingest.transport.identity`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from bleak import BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from hardware.clock import Clock
from hardware.control import PatientAction, PatientControl, PatientRequest
from hardware.cue import follow_cue
from hardware.devices import SessionReport
from hardware.haptic_profiles import HapticProfile, Press
from ingest.transport.backoff import Backoff
from ingest.transport.identity import device_id_for, install_address_redaction, redact_addresses
from stream.events import SessionParameters

log = logging.getLogger(__name__)

#: Intensity updates per second: smooth enough to feel, light on the radio link.
UPDATE_HZ = 4.0
#: The band's button: a short press stops the session, a long one means "not now".
PRESS_ACTIONS: dict[Press, PatientAction] = {"short": "stop", "long": "not_now"}
BAND_BUTTON = "band-button"
_EXPECTED = (BleakError, TimeoutError, OSError, EOFError)


class GattWriter(Protocol):
    """What the device needs of a connected client (a :class:`bleak.BleakClient`)."""

    async def write_gatt_char(
        self, char_specifier: str, data: bytes | bytearray, response: bool | None = None
    ) -> None: ...


@dataclass
class BleHapticDevice:
    """Drives the intensity characteristic ``characteristic`` through ``client``."""

    client: GattWriter
    characteristic: str
    max_intensity: float = 1.0
    name: str = "ble-haptic"
    update_hz: float = UPDATE_HZ

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        try:
            return await follow_cue(
                parameters,
                clock,
                abort,
                max_intensity=self.max_intensity,
                update_hz=self.update_hz,
                apply=self._write,
            )
        finally:
            with contextlib.suppress(Exception):  # best effort: the link may be gone
                await self._write(0.0)

    async def _write(self, intensity: float) -> None:
        await self.client.write_gatt_char(
            self.characteristic, bytes([round(intensity * 255)]), response=False
        )


class HapticBandError(RuntimeError):
    """The band is not connected, lost its link during the session, or refused a write."""


class BleBackendKwargs(Protocol):
    """bleak's ``backend=`` for scanner and client (an ingest.transport.targets.BleBackend)."""

    def scanner_kwargs(self) -> dict[str, Any]: ...

    def client_kwargs(self) -> dict[str, Any]: ...


@dataclass
class _Link:
    """One connection: a session that started on it fails as soon as it is lost, even if the
    band comes back (reconnected) before the next write."""

    client: BleakClientWithServiceCache
    lost: asyncio.Event

    async def write_gatt_char(
        self, char_specifier: str, data: bytes | bytearray, response: bool | None = None
    ) -> None:
        if self.lost.is_set():
            raise HapticBandError("the band's link was lost during the session")
        await self.client.write_gatt_char(char_specifier, data, response=bool(response))


class BleHapticBand:
    """One configured band, kept connected while ``async with`` lasts (an OutputDevice)."""

    def __init__(
        self,
        profile: HapticProfile,
        *,
        secret: bytes,
        backend: BleBackendKwargs,
        address: str | None = None,
        name_prefix: str | None = None,
        label: str = "",
        max_intensity: float = 1.0,
        control: PatientControl | None = None,
        scan_timeout_s: float = 10.0,
        reconnect_cap_s: float = 60.0,
        connect_attempts: int = 3,
    ) -> None:
        if (address is None) == (name_prefix is None):
            raise ValueError("a band needs exactly one of address and name_prefix")
        self.profile = profile
        self.label = label
        self.max_intensity = max_intensity
        #: Where the band's button presses go; None: presses are logged and ignored.
        self.control = control
        self.device_id: str | None = None
        self.name = ""
        self._named(None)
        self.connections = 0
        self.last_error = ""
        self._address = address
        self._name_prefix = name_prefix
        self._secret = secret
        self._backend = backend
        self._scan_timeout_s = scan_timeout_s
        self._reconnect_cap_s = reconnect_cap_s
        self._connect_attempts = connect_attempts
        self._link: _Link | None = None
        self._connected = asyncio.Event()
        self._attempt_failed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _named(self, device_id: str | None) -> None:
        """Name for logs and errors: label and pseudonymous id, never the address."""
        self.device_id = device_id
        who = f"ble-haptic {self.label!r}" if self.label else "ble-haptic"
        self.name = f"{who} {device_id}" if device_id else who

    @property
    def connected(self) -> bool:
        return self._link is not None

    async def __aenter__(self) -> BleHapticBand:
        install_address_redaction()  # bleak-retry-connector logs addresses at debug level
        self._task = asyncio.create_task(self._run(), name=f"band-{self.label or 'haptic'}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_connected(self, timeout_s: float, *, one_attempt: bool = False) -> bool:
        """True once connected; False after ``timeout_s`` or, with ``one_attempt``, as soon as
        an attempt has failed (``last_error`` says why)."""
        waits = [self._connected.wait()] + ([self._attempt_failed.wait()] if one_attempt else [])
        tasks = [asyncio.ensure_future(w) for w in waits]
        try:
            await asyncio.wait(tasks, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        return self.connected

    async def render(
        self, parameters: SessionParameters, clock: Clock, abort: asyncio.Event
    ) -> SessionReport:
        link = self._link
        if link is None:
            reason = self.last_error or "still connecting"
            raise HapticBandError(f"{self.name} is not connected ({reason})")
        device = BleHapticDevice(
            link,
            self.profile.intensity_uuid,
            max_intensity=self.max_intensity,
            name=self.name,
            update_hz=min(UPDATE_HZ, self.profile.max_update_hz),
        )
        try:
            report = await device.render(parameters, clock, abort)
        except _EXPECTED as exc:
            raise HapticBandError(f"{self.name}: {_reason(exc)}") from exc
        if link.lost.is_set():  # the last write went out before the loss was noticed
            raise HapticBandError(f"{self.name}: the link was lost during the session")
        return report

    async def _run(self) -> None:
        """Connect, hold the link until it drops, wait, repeat: until cancelled."""
        backoff = Backoff(cap_s=self._reconnect_cap_s)
        while True:
            if await self._connect_once():
                backoff.reset()
            delay = backoff.next_delay()
            log.info("%s: next connection attempt in %.2f s", self.name, delay)
            await asyncio.sleep(delay)

    def _matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self._address is not None:
            return device.address.upper() == self._address.upper()
        assert self._name_prefix is not None
        return (adv.local_name or device.name or "").startswith(self._name_prefix)

    async def _connect_once(self) -> bool:
        """One find-connect-hold cycle; True if it got as far as a usable link."""
        lost = asyncio.Event()
        linked = False
        try:
            found = await BleakScanner.find_device_by_filter(
                self._matches, timeout=self._scan_timeout_s, **self._backend.scanner_kwargs()
            )
            if found is None:
                self._failed("scan", f"not found within {self._scan_timeout_s:g} s")
                return False
            self._named(device_id_for(found.address, self._secret))
            client = await establish_connection(
                BleakClientWithServiceCache,
                found,
                self.name,  # bleak-retry-connector logs this name
                disconnected_callback=lambda _client: lost.set(),
                max_attempts=self._connect_attempts,
                **self._backend.client_kwargs(),
            )
        except _EXPECTED as exc:
            self._failed("connect", _reason(exc))
            return False
        try:
            await self._start(client)
            self._link, linked = _Link(client, lost), True
            self.connections += 1
            self.last_error = ""
            self._attempt_failed.clear()
            self._connected.set()
            log.info("%s: connected", self.name)
            await lost.wait()
            self._failed("link", "lost")
        except (*_EXPECTED, HapticBandError) as exc:
            self._failed("start-up", _reason(exc))
        finally:
            self._link = None
            self._connected.clear()
            lost.set()
            with contextlib.suppress(*_EXPECTED):
                await client.disconnect()
        return linked

    async def _start(self, client: BleakClientWithServiceCache) -> None:
        profile = self.profile
        if client.services.get_characteristic(profile.intensity_uuid) is None:
            raise HapticBandError(f"no {profile.name} intensity characteristic")
        if profile.button_uuid is None:
            return
        if client.services.get_characteristic(profile.button_uuid) is None:
            log.info("%s: no button characteristic; presses are not heard", self.name)
            return
        await client.start_notify(profile.button_uuid, self._on_button)

    def _on_button(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        decode = self.profile.decode_press
        press = decode(bytes(data)) if decode is not None else None
        if press is None:
            log.info("%s: button value %s is not a press", self.name, bytes(data).hex())
            return
        if self.control is None:
            log.info("%s: %s press, but no patient control is attached", self.name, press)
            return
        self.control.submit(PatientRequest(PRESS_ACTIONS[press], BAND_BUTTON))

    def _failed(self, stage: str, reason: str) -> None:
        self.last_error = f"{stage}: {reason}"
        self._attempt_failed.set()
        log.warning("%s: %s", self.name, self.last_error)


def _reason(exc: BaseException) -> str:
    return redact_addresses(str(exc)) or type(exc).__name__
