"""Any Heart Rate Service (0x180D) sensor: heart rate per notification and its intervals.

The codec is :mod:`ingest.profiles.heart_rate` (Heart Rate Measurement, 0x2A37). Intervals
carry no timestamps, so beat times are rebuilt by chaining them and aligning that chain to
arrival times (:class:`~ingest.device_clock.BeatTimeReconstructor`); the heart rate itself is
stamped with its arrival. Such a sensor needs no start-up beyond its subscription.

What the intervals are depends on where the sensor sits: the session reads the optional Body
Sensor Location (0x2A38) once per connection and hands it over as the device's first
notification, so a recording replays it. A sensor that says it sits on the wrist, a finger,
the hand or an ear lobe is optical, and its intervals become stream ``ppi`` (pulse); any other
answer, or none, keeps them as ``rr``: the usual Heart Rate Service sensor is a chest strap.
"""

from __future__ import annotations

import logging
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
from ingest.profiles.body_sensor_location import (
    BODY_SENSOR_LOCATION_UUID,
    LOCATION_NAMES,
    PULSE_SITES,
    decode_body_sensor_location,
)
from ingest.profiles.heart_rate import (
    HEART_RATE_MEASUREMENT_UUID,
    HEART_RATE_SERVICE_UUID,
    decode_heart_rate_measurement,
)

log = logging.getLogger(__name__)


class HeartRateDecoder:
    """Heart Rate Measurements of one device: ``hr`` (bpm, at arrival) and its intervals (ms,
    at the beat that ends each interval): ``rr``, or ``ppi`` from a sensor whose Body Sensor
    Location is a pulse site."""

    def __init__(self, device_id: str, kind_name: str = "heart-rate") -> None:
        self.device_id = device_id
        self._kind_name = kind_name
        self._beats = BeatTimeReconstructor()
        self.interval_stream = "rr"

    def decode(self, notification: Notification) -> list[SampleBlock]:
        characteristic = notification.characteristic.lower()
        if characteristic == BODY_SENSOR_LOCATION_UUID:
            self.locate(decode_body_sensor_location(notification.payload))
            return []
        if characteristic != HEART_RATE_MEASUREMENT_UUID:
            raise DecodeError(f"{self._kind_name} has no characteristic {characteristic}")
        return self.decode_measurement(notification)

    def locate(self, code: int) -> None:
        """Take the sensor's Body Sensor Location: a pulse site makes its intervals ``ppi``."""
        stream = "ppi" if code in PULSE_SITES else "rr"
        if stream != self.interval_stream:
            log.info(
                "%s: the sensor sits on the %s, so its intervals are pulse-to-pulse (stream %s)"
                if stream == "ppi"
                else "%s: the sensor sits on the %s; its intervals are R-R intervals (stream %s)",
                self.device_id,
                LOCATION_NAMES.get(code, f"reserved location {code}"),
                stream,
            )
        self.interval_stream = stream

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
            intervals_ms = [v / 1e6 for v in rr_ns]
            stream = self.interval_stream
            blocks.append(
                sample_block(self.device_id, stream, beats, intervals_ms, unit="ms", rate_hz=None)
            )
        return blocks


class HeartRateDevice:
    """A generic Heart Rate Service sensor (a Polar H9, a Garmin HRM, an H10 used as one; an
    optical armband or a watch that says where it sits)."""

    name: Final = "heart-rate"
    gatt: Final = GattTargets(
        services=(HEART_RATE_SERVICE_UUID,),
        data=(HEART_RATE_MEASUREMENT_UUID,),
        read=(BODY_SENSOR_LOCATION_UUID,),
    )

    def recognises(self, advertisement: Advertisement) -> Recognition:
        # Generic: more specific kinds (the Polar H10) advertise the Heart Rate Service too.
        if HEART_RATE_SERVICE_UUID in advertisement.service_uuids:
            return Recognition.GENERIC
        return Recognition.NO

    async def start(self, link: GattLink, now_ns: int) -> None:
        """Nothing: a Heart Rate Service sensor notifies once subscribed."""

    def decoder(self, device_id: str) -> HeartRateDecoder:
        return HeartRateDecoder(device_id, self.name)


DEVICE_KINDS = (HeartRateDevice(),)
