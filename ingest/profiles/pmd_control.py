"""PMD control point (characteristic ...5c81): requests, responses and measurement settings.

Specification: Polar BLE SDK ``Polar_Measurement_Data_Specification.pdf`` and the SDK's
``PmdControlPointResponse`` and ``PmdSetting``. A request is [op code, measurement type,
settings...]; a response is [0xF0, op code, measurement type, status, more, parameters...].
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from ingest.errors import DecodeError

_RESPONSE_CODE = 0xF0
_OP_GET_SETTINGS = 0x01
_OP_START = 0x02
_OP_STOP = 0x03


class MeasurementType(IntEnum):
    """PMD measurement types (``PmdMeasurementType`` in the SDK)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAGNETOMETER = 6


class SettingType(IntEnum):
    """Setting types of the control point; the value size is in ``_SETTING_SIZES``."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5


_SETTING_SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}

STATUS_NAMES: Mapping[int, str] = {
    0: "SUCCESS",
    1: "INVALID_OP_CODE",
    2: "INVALID_MEASUREMENT_TYPE",
    3: "NOT_SUPPORTED",
    4: "INVALID_LENGTH",
    5: "INVALID_PARAMETER",
    6: "ALREADY_IN_STATE",
    7: "INVALID_RESOLUTION",
    8: "INVALID_SAMPLE_RATE",
    9: "INVALID_RANGE",
    10: "INVALID_MTU",
    11: "INVALID_NUMBER_OF_CHANNELS",
    12: "INVALID_STATE",
    13: "DEVICE_IN_CHARGER",
    14: "DISK_FULL",
    15: "INVALID_SOURCE_MEASUREMENT_TYPE",
    16: "INVALID_SOURCE_MEASUREMENT_RATE",
    17: "INVALID_DERIVED_MEASUREMENT_SETTINGS_GROUP",
    18: "INVALID_DERIVED_MEASUREMENT_METHOD",
}
"""Control-point status codes; the SDK spells them with an ``ERROR_`` prefix."""


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    """A control-point response (first byte 0xF0); ``parameters`` follow the "more" byte."""

    op_code: int
    measurement_type: int
    status: int
    status_name: str
    parameters: bytes = b""
    more: bool = False


def _u8(value: int, name: str) -> int:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must be in 0..255, got {value}")
    return value


def encode_get_settings(measurement_type: int) -> bytes:
    """Control-point request for the settings a measurement type supports (op code 0x01)."""
    return bytes([_OP_GET_SETTINGS, _u8(measurement_type, "measurement_type")])


def encode_start_measurement(measurement_type: int, settings: Mapping[int, int]) -> bytes:
    """Control-point start request (0x02): [setting type, count 1, u16 LE value] per setting.

    Only the u16 settings (sample rate, resolution, range) are accepted; sorted by type.
    """
    out = bytearray([_OP_START, _u8(measurement_type, "measurement_type")])
    for setting_type, value in sorted(settings.items()):
        if setting_type not in (SettingType.SAMPLE_RATE, SettingType.RESOLUTION, SettingType.RANGE):
            raise ValueError(f"setting type {setting_type} is not a u16 setting (0, 1 or 2)")
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"setting {setting_type} value must fit u16, got {value}")
        out += bytes([setting_type, 1]) + value.to_bytes(2, "little")
    return bytes(out)


def encode_stop_measurement(measurement_type: int) -> bytes:
    """Control-point stop request (op code 0x03)."""
    return bytes([_OP_STOP, _u8(measurement_type, "measurement_type")])


def decode_control_point_response(payload: bytes) -> ControlPointResponse:
    """Decode [0xF0, op code, measurement type, status, more?, parameters...]."""
    if len(payload) < 4:
        raise DecodeError(f"PMD control-point response: needs at least 4 bytes, got {len(payload)}")
    if payload[0] != _RESPONSE_CODE:
        raise DecodeError(
            f"PMD control-point response: first byte 0x{payload[0]:02x}, expected 0xf0"
        )
    status = payload[3]
    return ControlPointResponse(
        op_code=payload[1],
        measurement_type=payload[2],
        status=status,
        status_name=STATUS_NAMES.get(status, f"UNKNOWN_{status}"),
        parameters=bytes(payload[5:]),
        more=len(payload) > 4 and payload[4] != 0,
    )


def decode_settings(parameters: bytes) -> dict[int, tuple[int | float, ...]]:
    """Parse get-settings parameters: [type, count, count values] repeated.

    Values are ints, except FACTOR (type 5), a float32 multiplier for compressed samples.
    """
    settings: dict[int, tuple[int | float, ...]] = {}
    offset = 0
    while offset < len(parameters):
        if offset + 2 > len(parameters):
            raise DecodeError(f"PMD settings: setting header at offset {offset} is truncated")
        setting_type, count = parameters[offset], parameters[offset + 1]
        offset += 2
        size = _SETTING_SIZES.get(setting_type)
        if size is None:
            raise DecodeError(f"PMD settings: unknown setting type {setting_type}")
        end = offset + size * count
        if end > len(parameters):
            raise DecodeError(
                f"PMD settings: setting {setting_type} needs {size * count} bytes at offset "
                f"{offset}, got {len(parameters) - offset}"
            )
        chunks = [parameters[i : i + size] for i in range(offset, end, size)]
        if setting_type == SettingType.FACTOR:
            settings[setting_type] = tuple(struct.unpack("<f", c)[0] for c in chunks)
        else:
            settings[setting_type] = tuple(int.from_bytes(c, "little") for c in chunks)
        offset = end
    return settings
