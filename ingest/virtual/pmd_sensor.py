"""What every virtual Polar PMD sensor shares: its GATT services, the control point's answer
cycle, the PS-FTP clock setting and the life of its frame stream.

A sensor kind (the H10's ECG, a Verity Sense's PPI) says which requests it accepts
(:meth:`PmdSensor._handle`) and how it streams once started (:meth:`PmdSensor._stream_frames`);
the rest is the same on every Polar sensor and lives here once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bumble import gatt
from bumble.device import Connection

from ingest.errors import DecodeError
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    STATUS_NAMES,
)
from ingest.profiles.polar_time import PSFTP_MTU_UUID, PSFTP_SERVICE_UUID, decode_set_local_time
from ingest.virtual.characteristics import (
    INDICATE,
    NOTIFY,
    READ,
    READABLE,
    WRITE,
    WRITEABLE,
    characteristic,
)
from ingest.virtual.link import VirtualRadio, gatt_uuid
from ingest.virtual.peripherals import HeartRatePeripheral

__all__ = ["OP_SETTINGS", "OP_START", "OP_STOP", "STATUS", "PmdSensor"]

#: control-point status codes by name (the codec's table, inverted)
STATUS = {name: code for code, name in STATUS_NAMES.items()}
_RESPONSE = 0xF0
OP_SETTINGS, OP_START, OP_STOP = 0x01, 0x02, 0x03


class PmdSensor(HeartRatePeripheral):
    """Heart Rate, the PMD service and PS-FTP; control-point requests are answered with an
    indication ``[0xF0, op, type, status, more, params...]`` after the write's response, as a
    sensor does, and a successful start spawns the stream until a stop or a lost link."""

    def __init__(self, radio: VirtualRadio, name: str, *, model: str, features: bytes) -> None:
        """``features``: the control point's read value (the measurement types offered)."""
        self.control_point = characteristic(
            PMD_CONTROL_POINT_UUID,
            READ | WRITE | INDICATE,
            gatt.CharacteristicValue(read=lambda _c: features, write=self._on_control),
            READABLE | WRITEABLE,
        )
        self.data = characteristic(PMD_DATA_UUID, NOTIFY)
        pmd = gatt.Service(gatt_uuid(PMD_SERVICE_UUID), [self.control_point, self.data])
        psftp_mtu = characteristic(
            PSFTP_MTU_UUID,
            WRITE | NOTIFY,
            gatt.CharacteristicValue(write=self._on_psftp),
            WRITEABLE,
        )
        psftp = gatt.Service(gatt_uuid(PSFTP_SERVICE_UUID), [psftp_mtu])
        super().__init__(
            radio, name, manufacturer="Polar Electro Oy", model=model, extra_services=[pmd, psftp]
        )
        self.local_time_set: list[datetime] = []
        """Every SET_LOCAL_TIME the sensor accepted over PS-FTP, in order."""
        self.frames_sent: list[bytes] = []
        self.frames_while_subscribed: list[bytes] = []
        """Frames notified while a central was subscribed to the data characteristic."""
        self._stream: asyncio.Task[Any] | None = None

    @property
    def streaming(self) -> bool:
        return self._stream is not None and not self._stream.done()

    def _handle(
        self, connection: Connection, op: int, kind: int, params: bytes
    ) -> tuple[int, bytes]:
        """(status, parameters of the answer) for one control-point request."""
        raise NotImplementedError

    async def _stream_frames(self) -> None:
        """Notify frames until cancelled (by a stop or a lost link)."""
        raise NotImplementedError

    def _clock_set(self, moment: datetime) -> None:
        """A central set the sensor clock over PS-FTP (a sensor with a clock follows it)."""

    def _on_control(self, connection: Connection, value: bytes) -> None:
        # Answer after the ATT Write Response has gone out, as a device does.
        self.spawn(self._answer(connection, bytes(value)))

    async def _answer(self, connection: Connection, request: bytes) -> None:
        op = request[0] if request else 0
        kind = request[1] if len(request) > 1 else 0
        status, params = self._handle(connection, op, kind, request[2:])
        response = bytes([_RESPONSE, op, kind, status, 0]) + params
        await self.device.indicate_subscriber(connection, self.control_point, response)
        if status == STATUS["SUCCESS"] and op == OP_START:
            self._stream = self.spawn(self._stream_frames())

    def _on_psftp(self, _connection: Connection, value: bytes) -> None:
        try:
            moment = decode_set_local_time(bytes(value)).moment
        except DecodeError:
            return  # a real sensor answers with an error frame; nothing here reads it
        self.local_time_set.append(moment)
        self._clock_set(moment)

    async def _notify_frame(self, frame: bytes) -> None:
        if self.subscriber_count(self.data):
            self.frames_while_subscribed.append(frame)
        # Recorded first: a stop that cancels this task mid-notify may still deliver the frame.
        self.frames_sent.append(frame)
        await self.notify_value(self.data, frame)

    def on_link_lost(self) -> None:
        self._stop_stream()

    def _stop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
