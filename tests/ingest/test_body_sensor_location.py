"""Where a Heart Rate Service sensor sits decides what its intervals are: a strap's R-R
intervals (ECG beats) or an optical sensor's pulse-to-pulse intervals, and so which stress
model may read them."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dsp.streaming import Engine
from ingest.decoding import DeviceDecoder
from ingest.devices.heart_rate import HeartRateDevice
from ingest.errors import DecodeError
from ingest.notification import Notification
from ingest.profiles.body_sensor_location import (
    BODY_SENSOR_LOCATION_UUID,
    LOCATION_NAMES,
    PULSE_SITES,
    decode_body_sensor_location,
    encode_body_sensor_location,
)
from ingest.profiles.heart_rate import HEART_RATE_MEASUREMENT_UUID, encode_heart_rate_measurement

NS = 1_000_000_000
T0 = 10**18
DEVICE = "dev-7f3a"


def _location(code: int, at_ns: int = T0) -> Notification:
    return Notification(DEVICE, BODY_SENSOR_LOCATION_UUID, at_ns, encode_body_sensor_location(code))


def _measurements(seconds: int, interval_ms: float = 800.0) -> list[Notification]:
    """One interval per notification, sent 20 ms after the beat that ends it."""
    ticks = round(interval_ms * 1024 / 1000)
    beats = T0 + NS + np.cumsum(np.full(round(seconds * 1000 / interval_ms), ticks * NS // 1024))
    payload = encode_heart_rate_measurement(75, rr_intervals_1024=[ticks])
    return [
        Notification(DEVICE, HEART_RATE_MEASUREMENT_UUID, int(t) + 20_000_000, payload)
        for t in beats
    ]


def _streams(notifications: list[Notification]) -> dict[str, int]:
    decoder = DeviceDecoder(DEVICE, HeartRateDevice.name)
    counts: dict[str, int] = {}
    for notification in notifications:
        for block in decoder.decode(notification):
            counts[block.stream] = counts.get(block.stream, 0) + block.values.size
    return counts


@pytest.mark.parametrize("code", [*sorted(LOCATION_NAMES), 7, 255])
def test_a_pulse_site_makes_the_intervals_ppi_and_anything_else_keeps_them_rr(code: int) -> None:
    notifications = _measurements(30)
    streams = _streams([_location(code), *notifications])
    stream = "ppi" if code in PULSE_SITES else "rr"
    assert streams == {"hr": len(notifications), stream: len(notifications)}


def test_a_sensor_that_does_not_say_where_it_sits_is_taken_for_a_strap() -> None:
    notifications = _measurements(30)
    assert _streams(notifications) == {"hr": len(notifications), "rr": len(notifications)}


def test_the_location_is_said_once_in_the_log_by_pseudonym(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ingest.devices.heart_rate")
    _streams([_location(2), *_measurements(5), _location(2, T0 + 10 * NS)])
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"{DEVICE}: the sensor sits on the wrist, so its intervals are pulse-to-pulse (stream ppi)"
    ]


@pytest.mark.parametrize("payload", [b"", b"\x01\x00"])
def test_a_malformed_location_is_a_decode_error_that_names_it(payload: bytes) -> None:
    decoder = DeviceDecoder(DEVICE, HeartRateDevice.name)
    with pytest.raises(DecodeError, match="body sensor location: expected 1 byte"):
        decoder.decode(Notification(DEVICE, BODY_SENSOR_LOCATION_UUID, T0, payload))
    # and the device goes on as a strap
    blocks = decoder.decode(_measurements(2)[0])
    assert [b.stream for b in blocks] == ["hr", "rr"]


def test_the_location_code_round_trips_and_refuses_what_is_not_a_byte() -> None:
    assert [decode_body_sensor_location(encode_body_sensor_location(c)) for c in (0, 2, 255)] == [
        0,
        2,
        255,
    ]
    with pytest.raises(ValueError, match="one byte"):
        encode_body_sensor_location(256)


@pytest.mark.parametrize(("code", "kind"), [(1, "ecg"), (2, "pulse"), (None, "ecg")])
def test_the_engine_labels_the_windows_beats_by_where_the_sensor_sits(
    code: int | None, kind: str
) -> None:
    """Decoded as the gateway decodes them, into the engine: an armband's beats are pulse."""
    decoder = DeviceDecoder(DEVICE, HeartRateDevice.name)
    engine = Engine(window_s=60.0, hop_s=10.0, lateness_s=2.0)
    notifications = ([] if code is None else [_location(code)]) + _measurements(130)
    for notification in notifications:
        for block in decoder.decode(notification):
            engine.add(block.stream, block.times_ns, block.values, block.rate_hz)
    last = engine.advance(T0 + 130 * NS)[-1]
    assert last.beat_kind == kind
    assert last.readable["heart_rate_bpm"] == pytest.approx(75.0, abs=1.0)
