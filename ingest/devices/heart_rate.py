"""Any Heart Rate Service (0x180D) strap: heart rate per notification and RR intervals.

The codec is :mod:`ingest.profiles.heart_rate` (Heart Rate Measurement, 0x2A37). RR intervals
carry no timestamps, so beat times are rebuilt by chaining them and aligning that chain to
arrival times (:class:`~ingest.device_clock.BeatTimeReconstructor`); the heart rate itself is
stamped with its arrival. Such a strap needs no start-up beyond its subscription.
"""

from __future__ import annotations

from typing import Final

from ingest.device_clock import BeatTimeReconstructor
from ingest.devices.kind import (
    Advertisement,
    GattLink,
    GattTargets,
    Recognition,
    SampleBlock,
    sample_block,
)
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.heart_rate import (
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    decode_heart_rate_measurement,
)


class HeartRateDecoder:
    """Heart Rate Measurements of one device: ``hr`` (bpm, at arrival) and ``rr`` (ms, at the
    beat that ends each interval)."""

    def __init__(self, device_id: str, kind_name: str = "heart-rate") -> None:
        self.device_id = device_id
        self._kind_name = kind_name
        self._beats = BeatTimeReconstructor()

    def decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if characteristic != HEART_RATE_MEASUREMENT_UUID:
            raise DecodeError(f"{self._kind_name} has no characteristic {characteristic}")
        return self.decode_measurement(notification)

    def decode_measurement(self, notification: Notification) -> list[SampleBlock]:
        """A Heart Rate Measurement's samples (for kinds that have more characteristics)."""
        measurement = decode_heart_rate_measurement(notification.payload)
        arrival = notification.gateway_time_ns
        blocks = [
            sample_block(
                self.device_id,
                "hr",
                [arrival],
                [measurement.heart_rate_bpm],
                unit="bpm",
                rate_hz=None,
            )
        ]
        rr_ns = [round(v * 1e9 / 1024) for v in measurement.rr_intervals_1024]
        beats = self._beats.beat_times(rr_ns, arrival)
        if beats:
            rr_ms = [v / 1e6 for v in rr_ns]
            blocks.append(sample_block(self.device_id, "rr", beats, rr_ms, unit="ms", rate_hz=None))
        return blocks


class HeartRateDevice:
    """A generic Heart Rate Service strap (a Polar H9, a Garmin HRM, an H10 used as one)."""

    name: Final = "heart-rate"
    gatt: Final = GattTargets(
        services=(HEART_RATE_SERVICE_UUID,), data=(HEART_RATE_MEASUREMENT_UUID,)
    )

    def recognises(self, advertisement: Advertisement) -> Recognition:
        # Generic: more specific kinds (the Polar H10) advertise the Heart Rate Service too.
        if HEART_RATE_SERVICE_UUID in advertisement.service_uuids:
            return Recognition.GENERIC
        return Recognition.NO

    async def start(self, link: GattLink, now_ns: int) -> None:
        """Nothing: a Heart Rate Service strap notifies once subscribed."""

    def decoder(self, device_id: str) -> HeartRateDecoder:
        return HeartRateDecoder(device_id, self.name)


DEVICE_KINDS = (HeartRateDevice(),)
