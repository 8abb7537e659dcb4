"""Body Sensor Location (0x2A38) of the Heart Rate Service: where the sensor sits.

Specification: Bluetooth SIG, GATT Specification Supplement, "Body Sensor Location": one uint8,
0 Other, 1 Chest, 2 Wrist, 3 Finger, 4 Hand, 5 Ear Lobe, 6 Foot; 7-255 reserved. The Heart Rate
Service makes it optional and readable.

It matters because the service's "RR-Interval" field is only an R-R interval when the sensor
sees the heart's electrical activity, which in practice means a chest strap. A sensor on the
wrist, a finger, the hand or an ear lobe is optical: its intervals are pulse-to-pulse intervals
of a PPG trace, with the pulse transit time's beat-to-beat jitter and the motion artefacts of a
wrist, and a stress model validated on one kind of beat must not be fed the other.
"""

from __future__ import annotations

from typing import Final

from ingest.errors import DecodeError

__all__ = [
    "BODY_SENSOR_LOCATION_UUID",
    "BODY_SITES",
    "LOCATION_NAMES",
    "PULSE_SITES",
    "decode_body_sensor_location",
    "encode_body_sensor_location",
]

BODY_SENSOR_LOCATION_UUID: Final = "00002a38-0000-1000-8000-00805f9b34fb"
LOCATION_NAMES: Final = {
    0: "other",
    1: "chest",
    2: "wrist",
    3: "finger",
    4: "hand",
    5: "ear lobe",
    6: "foot",
}
#: The names a device's site goes by anywhere in vagus (a sample-stream profile's ``site``,
#: a decoded block's): this characteristic's, so one vocabulary serves every kind.
BODY_SITES: Final = frozenset(LOCATION_NAMES.values())
#: Sites where a heart-rate sensor can only be optical: its intervals are pulse-to-pulse.
PULSE_SITES: Final = frozenset({2, 3, 4, 5})


def decode_body_sensor_location(payload: bytes) -> int:
    """The location code (0-255; 7 and above are reserved and mean nothing yet)."""
    if len(payload) != 1:
        raise DecodeError(f"body sensor location: expected 1 byte, got {len(payload)}")
    return payload[0]


def encode_body_sensor_location(code: int) -> bytes:
    if not 0 <= code <= 0xFF:
        raise ValueError(f"a body sensor location is one byte, got {code}")
    return bytes([code])
