"""A virtual Polar H10: the PMD service streaming ECG, its control point, and the PSFTP clock.

It answers the control point as the real sensor does (settings query, start, stop, the error
codes for bad requests), stamps frames on its own clock, which runs from 2019-01-01 until a
central sets it over PSFTP, and streams a synthetic ECG (or one given) at 130 Hz.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
from bumble.device import Connection

from ingest.profiles.polar_pmd import (
    POLAR_EPOCH_UNIX_NS,
    MeasurementType,
    SettingType,
    encode_pmd_ecg_frame,
)
from ingest.virtual.link import VirtualRadio
from ingest.virtual.pmd_sensor import OP_SETTINGS, OP_START, OP_STOP, PmdSensor

__all__ = ["ECG_RATE_HZ", "ECG_SAMPLES_PER_FRAME", "PolarPmdPeripheral", "synthetic_ecg_uv"]

_SUCCESS, _INVALID_OP, _NOT_SUPPORTED, _INVALID_LENGTH, _INVALID_PARAMETER = 0, 1, 3, 4, 5
_ALREADY_IN_STATE, _INVALID_RESOLUTION, _INVALID_RATE, _INVALID_MTU = 6, 7, 8, 10
ECG_RATE_HZ, ECG_RESOLUTION_BITS, ECG_SAMPLES_PER_FRAME = 130, 14, 73
"""What a Polar H10 offers for ECG, and how many samples it packs per notification."""
_ECG_SETTINGS = bytes(
    [SettingType.SAMPLE_RATE, 1, ECG_RATE_HZ, 0, SettingType.RESOLUTION, 1, 14, 0]
)
_ECG_FRAME_BYTES = 10 + 3 * ECG_SAMPLES_PER_FRAME
_H10_DEFAULT_UNIX_NS = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000_000
"""Where an H10's clock stands after power-up until a central sets it."""


def synthetic_ecg_uv(
    n: int, rate_hz: int = ECG_RATE_HZ, bpm: float = 60.0
) -> npt.NDArray[np.int64]:
    """A crude ECG (Gaussian R waves on a flat line, µV): enough to see beats, not physiology."""
    t = np.arange(n) / rate_hz
    phase = (t * bpm / 60.0) % 1.0
    return np.rint(1200.0 * np.exp(-(((phase - 0.5) / 0.012) ** 2)) - 50.0).astype(np.int64)


class PolarPmdPeripheral(PmdSensor):
    """A Polar H10 stand-in: Heart Rate plus the PMD service streaming ECG at 130 Hz.

    The control point answers with indications ``[0xF0, op, type, status, more, params...]``;
    like a real H10 it rejects a start without settings (INVALID_PARAMETER) and one whose
    frames would not fit the negotiated MTU (INVALID_MTU). Frames go out every
    ``frame_interval_s`` (real time by default; tests pass something shorter).

    With ``clock_ns`` (Unix ns, possibly accelerated) the sensor clock runs on it, from
    2019-01-01 until a PS-FTP ``SET_LOCAL_TIME`` sets it, and keeps running while the link is
    down, as an H10's does; without it, frame timestamps continue from ``first_timestamp_ns``.
    """

    def __init__(
        self,
        radio: VirtualRadio,
        name: str = "Polar H10 VIRTUAL1",
        *,
        frame_interval_s: float = ECG_SAMPLES_PER_FRAME / ECG_RATE_HZ,
        ecg_uv: npt.ArrayLike | None = None,
        first_timestamp_ns: int = 800_000_000_000_000_000,
        clock_ns: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(radio, name, model="H10", features=b"\x0f\x05\x00")
        self._clock_ns = clock_ns
        self._clock_offset_ns = 0 if clock_ns is None else _H10_DEFAULT_UNIX_NS - clock_ns()
        self.frame_interval_s = frame_interval_s
        self.ecg_uv = np.asarray(synthetic_ecg_uv(ECG_RATE_HZ * 10) if ecg_uv is None else ecg_uv)
        self._next_timestamp_ns = first_timestamp_ns
        self._cursor = 0

    def _handle(
        self, connection: Connection, op: int, kind: int, params: bytes
    ) -> tuple[int, bytes]:
        if op not in (OP_SETTINGS, OP_START, OP_STOP):
            return _INVALID_OP, b""
        if kind != MeasurementType.ECG:
            return _NOT_SUPPORTED, b""
        if op == OP_SETTINGS:
            return _SUCCESS, _ECG_SETTINGS
        if op == OP_STOP:
            status = _SUCCESS if self.streaming else _ALREADY_IN_STATE
            self._stop_stream()
            return status, b""
        status = _ALREADY_IN_STATE if self.streaming else self._check_start(connection, params)
        return status, b""

    def _check_start(self, connection: Connection, params: bytes) -> int:
        if not params:
            return _INVALID_PARAMETER
        if len(params) % 4:
            return _INVALID_LENGTH
        settings = {
            params[i]: int.from_bytes(params[i + 2 : i + 4], "little")
            for i in range(0, len(params), 4)
        }
        if settings.get(SettingType.SAMPLE_RATE) != ECG_RATE_HZ:
            return _INVALID_RATE
        if settings.get(SettingType.RESOLUTION) != ECG_RESOLUTION_BITS:
            return _INVALID_RESOLUTION
        if int(connection.att_mtu) - 3 < _ECG_FRAME_BYTES:
            return _INVALID_MTU
        return _SUCCESS

    def device_time_ns(self) -> int | None:
        """The sensor clock now (ns since 2000-01-01), when it runs on ``clock_ns``."""
        if self._clock_ns is None:
            return None
        return self._clock_ns() + self._clock_offset_ns - POLAR_EPOCH_UNIX_NS

    def _clock_set(self, moment: datetime) -> None:
        if self._clock_ns is not None:
            self._clock_offset_ns = int(moment.timestamp() * 1e9) - self._clock_ns()

    async def _stream_frames(self) -> None:
        """One frame per ``frame_interval_s``; on ``clock_ns``, each frame as soon as the sensor
        clock reaches its last sample (checked every millisecond), so device time keeps pace
        with the clock and a slow event loop makes the sensor send a backlog, not stretch time."""
        if (now := self.device_time_ns()) is None:
            while True:
                await self._send_frame()
                await asyncio.sleep(self.frame_interval_s)
        self._next_timestamp_ns = now  # the clock ran on while nothing was streamed
        while True:
            while (now := self.device_time_ns()) is not None and self._next_timestamp_ns <= now:
                await self._send_frame()
            await asyncio.sleep(0.001)

    async def _send_frame(self) -> None:
        idx = (self._cursor + np.arange(ECG_SAMPLES_PER_FRAME)) % len(self.ecg_uv)
        self._cursor += ECG_SAMPLES_PER_FRAME
        frame = encode_pmd_ecg_frame(self._next_timestamp_ns, self.ecg_uv[idx])
        self._next_timestamp_ns += ECG_SAMPLES_PER_FRAME * 1_000_000_000 // ECG_RATE_HZ
        await self._notify_frame(frame)
