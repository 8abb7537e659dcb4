"""Heart Rate Measurement (0x2A37) codec for the Heart Rate Service (0x180D).

Specification: Bluetooth SIG, GATT Specification Supplement, section "Heart Rate Measurement"
(characteristic 0x2A37), and Heart Rate Service 1.0. Layout: one flags byte, the heart rate
(uint8, or uint16 when flag bit 0 is set), Energy Expended (uint16 kJ, bit 3), then zero or
more RR-Intervals (uint16, 1/1024 s, bit 4), all little-endian. Bits 1-2 carry sensor contact:
bit 2 says the feature is supported, bit 1 says contact is detected. Bits 5-7 are reserved
for future use and ignored, as the supplement asks of receivers.

Both directions are pure functions: the decoder reads live notifications, the encoder builds
simulated recordings and the payloads of virtual peripherals.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.errors import DecodeError

__all__ = [
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "HeartRateMeasurement",
    "decode_heart_rate_measurement",
    "encode_heart_rate_measurement",
]

HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"

_FLAG_HR_UINT16 = 0x01
_FLAG_CONTACT_DETECTED = 0x02
_FLAG_CONTACT_SUPPORTED = 0x04
_FLAG_ENERGY_EXPENDED = 0x08
_FLAG_RR_INTERVALS = 0x10
_UINT16_MAX = 0xFFFF


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded 0x2A37 notification.

    ``sensor_contact`` is None when the sensor does not support contact detection, which is
    not the same as "no contact". RR intervals stay in the wire unit (1/1024 s) so that a
    re-encoded notification is byte-identical; ``rr_intervals_ms`` converts on demand.
    """

    heart_rate_bpm: int
    sensor_contact: bool | None = None
    energy_expended_kj: int | None = None
    rr_intervals_1024: tuple[int, ...] = ()

    @property
    def rr_intervals_ms(self) -> tuple[float, ...]:
        """RR intervals in milliseconds (exact: 1/1024 s is a power-of-two fraction)."""
        return tuple(rr * 1000.0 / 1024.0 for rr in self.rr_intervals_1024)


def _read_u16(payload: bytes, offset: int, field: str) -> int:
    if len(payload) < offset + 2:
        raise DecodeError(
            f"heart rate measurement: {field} needs 2 bytes at offset {offset}, "
            f"got {max(len(payload) - offset, 0)} (payload is {len(payload)} bytes)"
        )
    return int.from_bytes(payload[offset : offset + 2], "little")


def decode_heart_rate_measurement(payload: bytes) -> HeartRateMeasurement:
    """Decode one Heart Rate Measurement notification; raise DecodeError if malformed.

    A notification with the RR flag set but no interval bytes decodes to an empty tuple:
    some sensors send that between beats and nothing is lost by accepting it.
    """
    if not payload:
        raise DecodeError("heart rate measurement: empty payload, expected at least 2 bytes")
    flags = payload[0]
    offset = 1
    if flags & _FLAG_HR_UINT16:
        heart_rate = _read_u16(payload, offset, "heart rate (uint16)")
        offset += 2
    else:
        if len(payload) < 2:
            raise DecodeError(
                "heart rate measurement: heart rate (uint8) needs 1 byte at offset 1, got 0"
            )
        heart_rate = payload[1]
        offset += 1

    contact: bool | None = None
    if flags & _FLAG_CONTACT_SUPPORTED:
        contact = bool(flags & _FLAG_CONTACT_DETECTED)

    energy: int | None = None
    if flags & _FLAG_ENERGY_EXPENDED:
        energy = _read_u16(payload, offset, "energy expended")
        offset += 2

    remaining = len(payload) - offset
    rr: tuple[int, ...] = ()
    if flags & _FLAG_RR_INTERVALS:
        if remaining % 2:
            raise DecodeError(
                f"heart rate measurement: RR-interval field is {remaining} bytes, "
                "expected a multiple of 2 (odd trailing byte)"
            )
        rr = tuple(
            int.from_bytes(payload[i : i + 2], "little") for i in range(offset, len(payload), 2)
        )
    elif remaining:
        raise DecodeError(
            f"heart rate measurement: {remaining} unexpected trailing byte(s) after "
            f"{offset} bytes of fields announced by flags 0x{flags:02x}"
        )
    return HeartRateMeasurement(
        heart_rate_bpm=heart_rate,
        sensor_contact=contact,
        energy_expended_kj=energy,
        rr_intervals_1024=rr,
    )


def _check_u16(value: int, name: str) -> None:
    if not 0 <= value <= _UINT16_MAX:
        raise ValueError(f"{name} must be in 0..65535, got {value}")


def encode_heart_rate_measurement(
    heart_rate_bpm: int,
    *,
    rr_intervals_1024: tuple[int, ...] | list[int] = (),
    sensor_contact: bool | None = None,
    energy_expended_kj: int | None = None,
    force_uint16: bool = False,
) -> bytes:
    """Build a 0x2A37 payload; the uint16 heart-rate format is chosen when bpm exceeds 255.

    Raises ValueError for values the format cannot carry (encoding is never a decode error).
    """
    _check_u16(heart_rate_bpm, "heart_rate_bpm")
    flags = 0
    use_uint16 = force_uint16 or heart_rate_bpm > 0xFF
    body = bytearray()
    if use_uint16:
        flags |= _FLAG_HR_UINT16
        body += heart_rate_bpm.to_bytes(2, "little")
    else:
        body.append(heart_rate_bpm)
    if sensor_contact is not None:
        flags |= _FLAG_CONTACT_SUPPORTED
        if sensor_contact:
            flags |= _FLAG_CONTACT_DETECTED
    if energy_expended_kj is not None:
        _check_u16(energy_expended_kj, "energy_expended_kj")
        flags |= _FLAG_ENERGY_EXPENDED
        body += energy_expended_kj.to_bytes(2, "little")
    if rr_intervals_1024:
        flags |= _FLAG_RR_INTERVALS
        for rr in rr_intervals_1024:
            _check_u16(rr, "each RR interval (1/1024 s)")
            body += rr.to_bytes(2, "little")
    return bytes([flags]) + bytes(body)
