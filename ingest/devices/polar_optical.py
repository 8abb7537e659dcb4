"""Polar optical heart-rate sensors (Verity Sense, OH1): pulse-to-pulse intervals over PMD.

Codec: :mod:`ingest.profiles.polar_pmd` (PPI frames, measurement type 3). Start-up after each
connection: set the clock when the sensor has PS-FTP, then start PPI (it takes no settings) on
the PMD control point, failing loudly on any refusal, with the H10's own control-point helpers.

Time: a PPI frame carries no usable timestamp (Polar stamps it 0), so beat times are rebuilt
from the intervals and the notification's arrival, exactly as a Heart Rate Service strap's RR
intervals are (:class:`~ingest.device_clock.BeatTimeReconstructor`). Every interval, refused or
not, goes into that chain, because the time it spans passed either way; an interval the sensor
marks invalid (blocker bit) or measured without skin contact is then not emitted, only counted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

import numpy as np

from ingest.device_clock import BeatTimeReconstructor
from ingest.devices.kind import (
    Advertisement,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    sample_block,
)
from ingest.devices.polar_h10 import PmdControl, set_clock
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    MeasurementType,
    PmdPpiFrame,
    decode_pmd_data,
    encode_start_measurement,
)
from ingest.profiles.polar_time import PSFTP_MTU_UUID

log = logging.getLogger(__name__)

_NS_PER_MS = 1_000_000


class PolarOpticalDecoder:
    """One optical sensor's PPI frames: ``ppi`` (ms, at the beat that ends each interval) and
    ``hr`` (the sensor's bpm at each beat).

    ``refused_samples`` counts the intervals not emitted: blocker bit set, or skin contact
    supported but absent. ``hr`` leaves out beats without skin contact and 0 bpm (no lock yet).
    """

    def __init__(self, device_id: str, kind_name: str = "polar-optical") -> None:
        self.device_id = device_id
        self._kind_name = kind_name
        self._beats = BeatTimeReconstructor()
        self.refused_samples = 0

    def decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if characteristic != PMD_DATA_UUID:
            raise DecodeError(f"{self._kind_name} has no characteristic {characteristic}")
        frame = decode_pmd_data(notification.payload)
        if not isinstance(frame, PmdPpiFrame):
            raise DecodeError(
                f"{self._kind_name} streams PPI only, got a {type(frame).__name__} frame"
            )
        intervals_ns = [int(ms) * _NS_PER_MS for ms in frame.interval_ms]
        beats = np.asarray(
            self._beats.beat_times(intervals_ns, notification.gateway_time_ns), dtype=np.int64
        )
        if beats.size == 0:
            return []
        no_contact = frame.skin_contact_supported & ~frame.skin_contact
        refused = frame.blocker | no_contact
        if refused.any():
            self.refused_samples += int(refused.sum())
            log.debug(
                "PPI: %d of %d intervals refused (blocker %d, no skin contact %d)",
                int(refused.sum()),
                beats.size,
                int(frame.blocker.sum()),
                int(no_contact.sum()),
            )
        blocks = []
        kept = ~refused
        if kept.any():
            blocks.append(
                sample_block(
                    self.device_id,
                    "ppi",
                    beats[kept],
                    frame.interval_ms[kept],
                    unit="ms",
                    rate_hz=None,
                )
            )
        with_hr = ~no_contact & (frame.hr_bpm > 0)
        if with_hr.any():
            blocks.append(
                sample_block(
                    self.device_id,
                    "hr",
                    beats[with_hr],
                    frame.hr_bpm[with_hr],
                    unit="bpm",
                    rate_hz=None,
                )
            )
        return blocks


class PolarOpticalDevice:
    """Polar Verity Sense or OH1: PPI over PMD, started on the control point."""

    name: Final = "polar-optical"
    gatt: Final = GattTargets(
        services=(PMD_SERVICE_UUID,),
        data=(PMD_DATA_UUID,),
        control=(PMD_CONTROL_POINT_UUID, PSFTP_MTU_UUID),
    )
    # A Verity Sense advertises as "Polar Sense <serial>", an OH1 as "Polar OH1 <serial>".
    name_prefixes: Final = ("Polar Sense", "Polar OH1")

    def recognises(self, advertisement: Advertisement) -> Recognition:
        if advertisement.local_name.startswith(self.name_prefixes):
            return Recognition.SPECIFIC
        if PMD_SERVICE_UUID in advertisement.service_uuids:
            # The H10 serves PMD too and claims it as SPECIFIC: only the name makes it ours.
            return Recognition.GENERIC
        return Recognition.NO

    async def start(self, link: GattLink, now_ns: int) -> None:
        control = PmdControl()
        await link.subscribe(PMD_CONTROL_POINT_UUID, control.on_value)
        await set_clock(link, datetime.fromtimestamp(now_ns / 1e9, UTC))
        start = encode_start_measurement(MeasurementType.PPI, {})
        await control.request(link, start, "start PPI")

    def decoder(self, device_id: str) -> PolarOpticalDecoder:
        return PolarOpticalDecoder(device_id, self.name)


DEVICE_KINDS = (PolarOpticalDevice(),)
