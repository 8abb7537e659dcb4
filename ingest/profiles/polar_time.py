"""Setting a Polar sensor's clock over PS-FTP, so its PMD frame timestamps mean today.

An H10 falls back to 2019-01-01 whenever it powers down (Polar BLE SDK,
``technical_documentation/TimeSystemExplained.md``); the SDK's ``setLocalTime`` sends the PS-FTP
query ``SET_LOCAL_TIME`` (3) with a ``PbPFtpSetLocalTimeParams`` protobuf (date, time, tz offset in
minutes) to the PS-FTP MTU characteristic. The request is one RFC76 frame: a header byte
``seq << 4 | status << 1 | next`` (status 1 = last frame), then the query id as u16 LE with bit 15
set, then the protobuf. The gateway sets UTC with offset 0, matching how the decoders read frame
timestamps. The framing follows the SDK's ``BlePsFtpUtils``; it has been exercised against the
virtual sensor only, not yet against a real H10 (docs/devices.md says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.errors import DecodeError

PSFTP_SERVICE_UUID = "0000feee-0000-1000-8000-00805f9b34fb"
PSFTP_MTU_UUID = "fb005c51-02e7-f387-1cad-8acd2d8df0c8"
SET_LOCAL_TIME = 3
_QUERY_BIT = 0x8000
_RFC76_LAST = 0x01


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32 as protobuf encodes it: 10-byte two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field_varint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _field_message(number: int, body: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def encode_set_local_time(moment: datetime) -> bytes:
    """One RFC76 frame carrying ``SET_LOCAL_TIME`` for ``moment`` (converted to UTC)."""
    utc = moment.astimezone(UTC)
    date = _field_varint(1, utc.year) + _field_varint(2, utc.month) + _field_varint(3, utc.day)
    clock = (
        _field_varint(1, utc.hour)
        + _field_varint(2, utc.minute)
        + _field_varint(3, utc.second)
        + _field_varint(4, utc.microsecond // 1000)
    )
    params = _field_message(1, date) + _field_message(2, clock) + _field_varint(3, 0)
    query = (SET_LOCAL_TIME | _QUERY_BIT).to_bytes(2, "little")
    return bytes([_RFC76_LAST << 1]) + query + params


@dataclass(frozen=True, slots=True)
class LocalTimeQuery:
    moment: datetime


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise DecodeError("truncated varint in PS-FTP query")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> dict[int, int | bytes]:
    fields: dict[int, int | bytes] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        if key & 7 == 0:
            fields[key >> 3], pos = _read_varint(data, pos)
        elif key & 7 == 2:
            length, pos = _read_varint(data, pos)
            fields[key >> 3], pos = data[pos : pos + length], pos + length
        else:
            raise DecodeError(f"unsupported protobuf wire type {key & 7}")
    return fields


def _int(fields: dict[int, int | bytes], number: int, default: int | None = None) -> int:
    value = fields.get(number, default)
    if not isinstance(value, int):
        raise DecodeError(f"SET_LOCAL_TIME field {number} missing or not an integer")
    return value


def decode_set_local_time(frame: bytes) -> LocalTimeQuery:
    """The inverse, for the virtual sensor: raises :class:`DecodeError` for anything else."""
    if len(frame) < 3 or frame[0] & 0x07 != _RFC76_LAST << 1:
        raise DecodeError("not a single-frame PS-FTP message")
    if int.from_bytes(frame[1:3], "little") != SET_LOCAL_TIME | _QUERY_BIT:
        raise DecodeError("not a SET_LOCAL_TIME query")
    params = _fields(frame[3:])
    date, clock = params.get(1), params.get(2)
    if not isinstance(date, bytes) or not isinstance(clock, bytes):
        raise DecodeError("SET_LOCAL_TIME without date and time")
    d, t = _fields(date), _fields(clock)
    try:
        moment = datetime(
            _int(d, 1),
            _int(d, 2),
            _int(d, 3),
            _int(t, 1),
            _int(t, 2),
            _int(t, 3),
            _int(t, 4, 0) * 1000,
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise DecodeError(f"SET_LOCAL_TIME with an impossible date or time: {exc}") from exc
    return LocalTimeQuery(moment)
