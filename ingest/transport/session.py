"""One device's life on the gateway: find, connect, start, stream, lose, back off, repeat.

One :class:`DeviceSession` per worn device runs as its own task until cancelled; nothing ends
it but cancellation, because a strap that disappears at night must be picked up again whenever
it comes back. Every connection is a fresh bleak client, subscribed once per characteristic, so
a reconnection can never double the notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError
from bleak_retry_connector import BleakClientWithServiceCache, establish_connection

from ingest.devices.registry import device_kind
from ingest.recording import DeviceEntry, DeviceRecord, Marker, NotificationRecord
from ingest.transport.backoff import Backoff
from ingest.transport.gaps import Gap, GapTracker
from ingest.transport.identity import device_id_for, redact_addresses
from ingest.transport.radio_trouble import radio_trouble
from ingest.transport.startup import (
    BleakLink,
    DeviceInformation,
    StartupError,
    read_battery_percent,
    read_characteristic,
    read_device_information,
)
from ingest.transport.targets import BleBackend, DeviceTarget

log = logging.getLogger(__name__)

TransportItem = NotificationRecord | Marker | DeviceRecord | Gap
Emit = Callable[[TransportItem], None]
NotifyCallback = Callable[[BleakGATTCharacteristic, bytearray], None]
_EXPECTED = (BleakError, TimeoutError, StartupError, OSError, EOFError)
#: A battery re-read that takes longer than this is given up (the last value stands).
BATTERY_READ_TIMEOUT_S = 5.0


@dataclass
class DeviceStatus:
    """What ``vagus devices status`` shows; addresses are not part of it."""

    profile: str
    label: str
    device_id: str | None = None
    connected: bool = False
    connections: int = 0
    notifications: int = 0
    gaps: int = 0
    last_data_ns: int | None = None
    last_error: str = ""
    info: DeviceInformation | None = None


class DeviceSession:
    def __init__(
        self,
        target: DeviceTarget,
        *,
        secret: bytes,
        emit: Emit,
        stamp: Callable[[], int],
        backend: BleBackend,
        backoff: Backoff,
        scan_timeout_s: float = 10.0,
        connect_attempts: int = 3,
    ) -> None:
        self.target = target
        self.kind = device_kind(target.profile)
        self.status = DeviceStatus(profile=target.profile, label=target.label)
        self.subscribe_calls = 0
        """start_notify calls over the session's life: one per characteristic per connection."""
        self._secret = secret
        self._emit = emit
        self._stamp = stamp
        self._backend = backend
        self._backoff = backoff
        self._scan_timeout_s = scan_timeout_s
        self._connect_attempts = connect_attempts
        self._tracker: GapTracker | None = None
        self._subscribed: set[str] = set()
        self._has_data = False
        self._stopping = False
        #: Set by the transport before it cancels the session: a cancellation that arrives while
        #: the BLE stack sets up a link can be swallowed there (seen with the virtual wearables:
        #: the session then waited for ever for a link loss, and SIGINT never ended the gateway).
        self._stop_requested = asyncio.Event()
        #: When the session last moved on (a scan ended, a connection attempt ended, data came):
        #: the service watchdog holds back when a BLE stack stops answering (stalled_s).
        self._progress_at = time.monotonic()
        #: Connections whose Battery and Device Information were read (the gateway's health
        #: reporter sends a report for each); the client of the open one, for re-reads.
        self.ready_connections = 0
        self._client: BleakClient | None = None

    async def read_battery(self) -> int | None:
        """Re-read Battery Level through the open connection, keep it in ``status.info``, and
        return it; without a connection (or when the read fails) the last value read."""
        client = self._client
        info = self.status.info
        if client is not None and info is not None and self.status.connected:
            level = None
            with contextlib.suppress(*_EXPECTED):
                async with asyncio.timeout(BATTERY_READ_TIMEOUT_S):
                    level = await read_battery_percent(client)
            if level is not None and self.status.info is info:
                self.status.info = dataclasses.replace(info, battery_percent=level)
        return self.status.info.battery_percent if self.status.info is not None else None

    def stalled_s(self) -> float:
        """Seconds since the session last made progress."""
        return time.monotonic() - self._progress_at

    def _fields(self, event: str) -> dict[str, str]:
        """The structured fields of this session's log lines (vagus.structured_logs)."""
        return {"device": self.name, "event": event}

    def _progressed(self) -> None:
        self._progress_at = time.monotonic()

    def request_stop(self) -> None:
        """End the session at its next wait, as a cancellation would."""
        self._stop_requested.set()

    @property
    def name(self) -> str:
        return self.status.device_id or self.target.describe()

    async def run(self) -> None:
        """Connect and stream until cancelled; closes an open gap on the way out."""
        try:
            while not self._stop_requested.is_set():
                self._progressed()
                await self._connect_once()
                self._progressed()
                delay = self._backoff.next_delay()
                log.info(
                    "%s: next connection attempt in %.2f s",
                    self.name,
                    delay,
                    extra=self._fields("backoff"),
                )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stop_requested.wait()
        finally:
            if self._tracker is not None:
                for gap in self._tracker.close_open_gap(self._stamp()):
                    self._report_gap(gap)

    async def _find(self) -> BLEDevice | None:
        device = await BleakScanner.find_device_by_filter(
            self.target.matches, timeout=self._scan_timeout_s, **self._backend.scanner_kwargs()
        )
        if device is None:
            return None
        device_id = device_id_for(device.address, self._secret)
        if device_id != self.status.device_id:
            if self._tracker is not None:  # a name prefix found another device: close the old
                for gap in self._tracker.close_open_gap(self._stamp()):
                    self._report_gap(gap)
            self.status.device_id = device_id
            self._tracker = GapTracker(device_id)
            entry = DeviceEntry(
                device_id=device_id, profile=self.kind.name, label=self.target.label
            )
            self._emit(DeviceRecord(entry))
        return device

    async def _connect_once(self) -> None:
        try:
            device = await self._find()
            self._progressed()
            if device is None:
                log.info("%s: not advertising", self.name, extra=self._fields("not_advertising"))
                return
            lost = asyncio.Event()
            client = await establish_connection(
                BleakClientWithServiceCache,
                # the advertised name (it may carry a serial) never reaches a library's log:
                # bleak-retry-connector prints the device's name; it gets the pseudonymous id
                BLEDevice(device.address, self.name, device.details),
                self.name,  # bleak-retry-connector logs this name: the pseudonymous id
                disconnected_callback=lambda _client: self._on_disconnect(lost),
                max_attempts=self._connect_attempts,
                **self._backend.client_kwargs(),
            )
        except _EXPECTED as exc:
            self._failed("connect", exc)
            return
        self._progressed()
        self.status.connected = True
        self.status.connections += 1
        self._has_data = False
        try:
            await self._start(client)
            log.info("%s: streaming", self.name, extra=self._fields("streaming"))
            if not await _lost_before_stop(lost, self._stop_requested):
                raise asyncio.CancelledError  # stopped: the end of the data, as a cancellation
            log.warning("%s: link lost", self.name, extra=self._fields("link_lost"))
        except _EXPECTED as exc:
            self._failed("start-up", exc)
        except asyncio.CancelledError:
            self._stopping = True  # the end of the data, not a gap in it
            raise
        finally:
            self._client = None
            self._on_disconnect(lost)
            with contextlib.suppress(*_EXPECTED):
                await client.disconnect()

    def _failed(self, stage: str, exc: BaseException) -> None:
        trouble = radio_trouble(exc)  # the gateway's own radio or BlueZ, not the sensor
        message = trouble or redact_addresses(str(exc)) or type(exc).__name__
        self.status.last_error = f"{stage}: {message}"
        event = "radio_unavailable" if trouble else f"{stage}_failed"
        log.warning("%s: %s failed: %s", self.name, stage, message, extra=self._fields(event))

    def _on_disconnect(self, lost: asyncio.Event) -> None:
        if lost.is_set():
            return
        lost.set()
        self.status.connected = False
        if self._has_data and self._tracker is not None and not self._stopping:
            self._tracker.disconnected(self._stamp())

    async def _start(self, client: BleakClient) -> None:
        """Read the kind's device facts (each goes to the sink as a notification, before any
        data), subscribe its data characteristics, then run its own start-up; its control
        characteristics are subscribed by that start-up and never reach the sink."""
        self._subscribed = set()
        self.status.info = await read_device_information(client)
        self._client = client
        self.ready_connections += 1
        assert self.status.device_id is not None
        for uuid in self.kind.gatt.read:
            value = await read_characteristic(client, uuid)
            if value is not None:
                self._emit(
                    NotificationRecord(self.status.device_id, uuid, self._stamp(), None, value)
                )
        for uuid in self.kind.gatt.data:
            if client.services.get_characteristic(uuid) is None:
                raise StartupError(f"{self.kind.name} device lacks characteristic {uuid}")
            await self._subscribe(client, uuid, self._on_data)
        await self.kind.start(BleakLink(client, self._subscribe), self._stamp())

    async def _subscribe(self, client: BleakClient, uuid: str, callback: NotifyCallback) -> None:
        if uuid in self._subscribed:
            raise RuntimeError(f"{uuid} is already subscribed on this connection")
        await client.start_notify(uuid, callback)
        self._subscribed.add(uuid)
        self.subscribe_calls += 1

    def _on_data(self, characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        tracker = self._tracker
        assert tracker is not None
        assert self.status.device_id is not None
        record = NotificationRecord(
            self.status.device_id, characteristic.uuid, self._stamp(), None, bytes(data)
        )
        if not self._has_data:
            self._has_data = True
            self._backoff.reset()  # a connection that delivers data counts as a success
        for gap in tracker.observe(record.gateway_time_ns):
            self._report_gap(gap)
        self.status.notifications += 1
        self._progress_at = time.monotonic()  # inline: once per notification
        self.status.last_data_ns = record.gateway_time_ns
        self._emit(record)

    def _report_gap(self, gap: Gap) -> None:
        self.status.gaps += 1
        log.warning(
            "%s: gap in %s, %.3f s (%s)",
            gap.device_id,
            gap.stream,
            (gap.end_ns - gap.start_ns) / 1e9,
            gap.reason,
            extra=self._fields("gap") | {"stream": gap.stream},
        )
        self._emit(gap)


async def _lost_before_stop(lost: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait for the link's loss or a stop request; True when the link was lost."""
    waits = {asyncio.ensure_future(lost.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
    return lost.is_set() and not stop.is_set()
