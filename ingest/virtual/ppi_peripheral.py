"""A virtual Polar Verity Sense: pulse-to-pulse intervals over PMD once a central starts PPI.

It serves Heart Rate, the PMD service and the PS-FTP clock characteristic, advertises as "Polar
Sense ..." with the Heart Rate Service (as the real sensor does; the 128-bit PMD UUID would
crowd the name out of the advertisement), and answers the control point for PPI only: PPI takes
no settings, so a start that carries any is refused (INVALID_PARAMETER), and every other
measurement type is NOT_SUPPORTED. Frames carry a timestamp of 0, as the real sensor's do.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from bumble import gatt
from bumble.device import Connection

from ingest.errors import DecodeError
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    STATUS_NAMES,
    MeasurementType,
    encode_pmd_ppi_frame,
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

__all__ = ["PPI_SAMPLES_PER_FRAME", "PolarSensePeripheral", "synthetic_ppi_ms"]

_STATUS = {name: code for code, name in STATUS_NAMES.items()}
_RESPONSE, _OP_SETTINGS, _OP_START, _OP_STOP = 0xF0, 0x01, 0x02, 0x03
_FEATURES = bytes([0x0F, 1 << MeasurementType.PPI, 0x00])
"""Control-point read: the measurement types offered, as a bit mask (here PPI only)."""
PPI_SAMPLES_PER_FRAME = 2


def synthetic_ppi_ms(n: int, mean_ms: float = 850.0, seed: int = 11) -> npt.NDArray[np.int64]:
    """Plausible resting intervals (ms): a slow breathing swing plus a little noise."""
    rng = np.random.default_rng(seed)
    swing = 40.0 * np.sin(2 * np.pi * np.arange(n) / 5.0)
    return np.asarray(np.rint(mean_ms + swing + rng.normal(0.0, 15.0, n)), dtype=np.int64)


class PolarSensePeripheral(HeartRatePeripheral):
    """A Verity Sense stand-in streaming PPI frames of ``samples_per_frame`` intervals.

    ``intervals_ms`` (cycled) are what it sends; ``blocker`` and ``skin_contact`` (cycled with
    them) are each interval's flags, skin contact always reported as supported. Frames go out
    every ``frame_interval_s`` while PPI is started; ``ppi_start_status`` lets a test make the
    sensor refuse the start (a real one does while its SDK mode is on).
    """

    def __init__(
        self,
        radio: VirtualRadio,
        name: str = "Polar Sense VIRTUAL1",
        *,
        intervals_ms: npt.ArrayLike | None = None,
        blocker: npt.ArrayLike = False,
        skin_contact: npt.ArrayLike = True,
        samples_per_frame: int = PPI_SAMPLES_PER_FRAME,
        frame_interval_s: float = 1.7,
        ppi_start_status: int = 0,
    ) -> None:
        self.control_point = characteristic(
            PMD_CONTROL_POINT_UUID,
            READ | WRITE | INDICATE,
            gatt.CharacteristicValue(read=lambda _c: _FEATURES, write=self._on_control),
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
            radio,
            name,
            manufacturer="Polar Electro Oy",
            model="Polar Verity Sense",
            extra_services=[pmd, psftp],
        )
        intervals = np.asarray(synthetic_ppi_ms(60) if intervals_ms is None else intervals_ms)
        self.intervals_ms = intervals.astype(np.int64)
        self.blocker = np.broadcast_to(np.asarray(blocker, dtype=bool), intervals.shape)
        self.skin_contact = np.broadcast_to(np.asarray(skin_contact, dtype=bool), intervals.shape)
        self.samples_per_frame = samples_per_frame
        self.frame_interval_s = frame_interval_s
        self.ppi_start_status = ppi_start_status
        self.local_time_set: list[datetime] = []
        """Every SET_LOCAL_TIME the sensor accepted over PS-FTP, in order."""
        self.start_requests: list[bytes] = []
        """Every start request written to the control point, as written."""
        self.frames_sent: list[bytes] = []
        self.frames_while_subscribed: list[bytes] = []
        """Frames notified while a central was subscribed to the data characteristic."""
        self._cursor = 0
        self._stream: asyncio.Task[Any] | None = None

    @property
    def streaming(self) -> bool:
        return self._stream is not None and not self._stream.done()

    def _on_control(self, connection: Connection, value: bytes) -> None:
        # Answer after the ATT Write Response has gone out, as a device does.
        self.spawn(self._answer(connection, bytes(value)))

    async def _answer(self, connection: Connection, request: bytes) -> None:
        op = request[0] if request else 0
        kind = request[1] if len(request) > 1 else 0
        status = self._handle(op, kind, request)
        response = bytes([_RESPONSE, op, kind, status, 0])
        await self.device.indicate_subscriber(connection, self.control_point, response)
        if status == _STATUS["SUCCESS"] and op == _OP_START:
            self._stream = self.spawn(self._stream_ppi())

    def _handle(self, op: int, kind: int, request: bytes) -> int:
        if op not in (_OP_SETTINGS, _OP_START, _OP_STOP):
            return _STATUS["INVALID_OP_CODE"]
        if kind != MeasurementType.PPI:
            return _STATUS["NOT_SUPPORTED"]
        if op == _OP_SETTINGS:
            return _STATUS["SUCCESS"]  # PPI has no settings to offer
        if op == _OP_STOP:
            status = "SUCCESS" if self.streaming else "ALREADY_IN_STATE"
            self._stop_stream()
            return _STATUS[status]
        return self._check_start(request)

    def _check_start(self, request: bytes) -> int:
        self.start_requests.append(request)
        if self.streaming:
            return _STATUS["ALREADY_IN_STATE"]
        if len(request) > 2:
            return _STATUS["INVALID_PARAMETER"]
        return self.ppi_start_status

    def _on_psftp(self, _connection: Connection, value: bytes) -> None:
        try:
            self.local_time_set.append(decode_set_local_time(bytes(value)).moment)
        except DecodeError:
            return  # a real sensor answers with an error frame; nothing here reads it

    async def _stream_ppi(self) -> None:
        while True:
            await asyncio.sleep(self.frame_interval_s)
            await self._send_frame()

    def next_frame(self) -> bytes:
        """The next frame's bytes (advances through the intervals, cycling)."""
        idx = (self._cursor + np.arange(self.samples_per_frame)) % len(self.intervals_ms)
        self._cursor += self.samples_per_frame
        intervals = self.intervals_ms[idx]
        return encode_pmd_ppi_frame(
            intervals,
            hr_bpm=np.clip(np.rint(60_000 / np.maximum(intervals, 1)), 0, 255),
            error_ms=10,
            blocker=self.blocker[idx],
            skin_contact=self.skin_contact[idx],
        )

    async def _send_frame(self) -> None:
        frame = self.next_frame()
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
