"""A virtual Polar Verity Sense: pulse-to-pulse intervals over PMD once a central starts PPI.

It serves Heart Rate, the PMD service and the PS-FTP clock characteristic, advertises as "Polar
Sense ..." with the Heart Rate Service (as the real sensor does; the 128-bit PMD UUID would
crowd the name out of the advertisement), and answers the control point for PPI only: PPI takes
no settings, so a start that carries any is refused (INVALID_PARAMETER), and every other
measurement type is NOT_SUPPORTED. Frames carry a timestamp of 0, as the real sensor's do.
"""

from __future__ import annotations

import asyncio

import numpy as np
import numpy.typing as npt
from bumble.device import Connection

from ingest.profiles.polar_pmd import MeasurementType, encode_pmd_ppi_frame
from ingest.virtual.link import VirtualRadio
from ingest.virtual.pmd_sensor import OP_SETTINGS, OP_START, OP_STOP, STATUS, PmdSensor

__all__ = ["PPI_SAMPLES_PER_FRAME", "PolarSensePeripheral", "synthetic_ppi_ms"]

_FEATURES = bytes([0x0F, 1 << MeasurementType.PPI, 0x00])
"""Control-point read: the measurement types offered, as a bit mask (here PPI only)."""
PPI_SAMPLES_PER_FRAME = 2


def synthetic_ppi_ms(n: int, mean_ms: float = 850.0, seed: int = 11) -> npt.NDArray[np.int64]:
    """Plausible resting intervals (ms): a slow breathing swing plus a little noise."""
    rng = np.random.default_rng(seed)
    swing = 40.0 * np.sin(2 * np.pi * np.arange(n) / 5.0)
    return np.asarray(np.rint(mean_ms + swing + rng.normal(0.0, 15.0, n)), dtype=np.int64)


class PolarSensePeripheral(PmdSensor):
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
        super().__init__(radio, name, model="Polar Verity Sense", features=_FEATURES)
        intervals = np.asarray(synthetic_ppi_ms(60) if intervals_ms is None else intervals_ms)
        self.intervals_ms = intervals.astype(np.int64)
        self.blocker = np.broadcast_to(np.asarray(blocker, dtype=bool), intervals.shape)
        self.skin_contact = np.broadcast_to(np.asarray(skin_contact, dtype=bool), intervals.shape)
        self.samples_per_frame = samples_per_frame
        self.frame_interval_s = frame_interval_s
        self.ppi_start_status = ppi_start_status
        self.start_requests: list[bytes] = []
        """Every start request written to the control point, as written."""
        self._cursor = 0

    def _handle(
        self, connection: Connection, op: int, kind: int, params: bytes
    ) -> tuple[int, bytes]:
        if op not in (OP_SETTINGS, OP_START, OP_STOP):
            return STATUS["INVALID_OP_CODE"], b""
        if kind != MeasurementType.PPI:
            return STATUS["NOT_SUPPORTED"], b""
        if op == OP_SETTINGS:
            return STATUS["SUCCESS"], b""  # PPI has no settings to offer
        if op == OP_STOP:
            status = "SUCCESS" if self.streaming else "ALREADY_IN_STATE"
            self._stop_stream()
            return STATUS[status], b""
        self.start_requests.append(bytes([op, kind]) + params)
        return self._check_start(params), b""

    def _check_start(self, params: bytes) -> int:
        if self.streaming:
            return STATUS["ALREADY_IN_STATE"]
        if params:
            return STATUS["INVALID_PARAMETER"]  # PPI takes no settings
        return self.ppi_start_status

    async def _stream_frames(self) -> None:
        while True:
            await asyncio.sleep(self.frame_interval_s)
            await self._notify_frame(self.next_frame())

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
