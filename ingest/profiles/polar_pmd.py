"""Polar Measurement Data (PMD) codec: data frames and control-point messages.

Specification: Polar BLE SDK, ``technical_documentation/Polar_Measurement_Data_Specification.pdf``
(polarofficial/polar-ble-sdk), cross-checked against the SDK's own parsers (``PmdDataFrame``,
``EcgData``, ``AccData``, ``BlePMDClient.parseDeltaFramesAll``, ``PmdControlPointResponse``).

Data frame (characteristic ...5c82): byte 0 measurement type (low 6 bits), bytes 1-8 u64 LE
timestamp in ns since 2000-01-01T00:00:00 of the frame's LAST sample, byte 9 frame type (bit 7
set = delta compressed), then samples. Supported here: ECG raw type 0 (int24 µV) and ACC raw
types 0/1/2 (int8/int16/int24 x,y,z in mG), and delta-compressed ACC types 0x80 and 0x81 (a
16-bit reference sample, then blocks of [bit width u8, count u8, LSB-first packed signed deltas]).
The SDK has no compressed ECG parser, so compressed ECG is rejected rather than guessed.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from ingest.errors import DecodeError

__all__ = [
    "PMD_CONTROL_POINT_UUID",
    "PMD_DATA_UUID",
    "PMD_SERVICE_UUID",
    "POLAR_EPOCH_UNIX_NS",
    "ControlPointResponse",
    "MeasurementType",
    "PmdAccFrame",
    "PmdEcgFrame",
    "SettingType",
    "decode_control_point_response",
    "decode_delta_samples",
    "decode_pmd_data",
    "decode_settings",
    "encode_delta_samples",
    "encode_get_settings",
    "encode_pmd_acc_frame",
    "encode_pmd_ecg_frame",
    "encode_start_measurement",
    "encode_stop_measurement",
    "polar_to_unix_ns",
]

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

POLAR_EPOCH_UNIX_NS = 946_684_800 * 1_000_000_000
"""2000-01-01T00:00:00Z as Unix nanoseconds: the origin of every PMD timestamp."""

_HEADER_SIZE = 10
_COMPRESSED = 0x80
_MEASUREMENT_TYPE_MASK = 0x3F
_RESPONSE_CODE = 0xF0
_OP_GET_SETTINGS = 0x01
_OP_START = 0x02
_OP_STOP = 0x03
_ACC_AXES = 3
_ACC_RAW_WIDTHS = {0: 1, 1: 2, 2: 3}
_INT32 = np.iinfo(np.int32)


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


@dataclass(frozen=True, slots=True, eq=False)
class PmdEcgFrame:
    """ECG samples in µV; ``timestamp_ns`` is Polar time of the LAST sample (see module doc).

    Compared by identity (``eq=False``): element-wise array equality has no single truth value.
    """

    timestamp_ns: int
    samples_uv: npt.NDArray[np.int32]
    frame_type: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class PmdAccFrame:
    """Accelerometer samples, shape (n, 3) x/y/z in mG; timestamp as for :class:`PmdEcgFrame`."""

    timestamp_ns: int
    samples_mg: npt.NDArray[np.int32]
    frame_type: int = 1


@dataclass(frozen=True, slots=True)
class ControlPointResponse:
    """A control-point response (first byte 0xF0); ``parameters`` follow the "more" byte."""

    op_code: int
    measurement_type: int
    status: int
    status_name: str
    parameters: bytes = b""
    more: bool = False


def polar_to_unix_ns(timestamp_ns: int) -> int:
    """Convert a PMD timestamp (ns since 2000-01-01) to Unix nanoseconds."""
    return timestamp_ns + POLAR_EPOCH_UNIX_NS


def _frozen(array: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    array.flags.writeable = False
    return array


def _signed_le(content: bytes, width: int, field: str) -> npt.NDArray[np.int32]:
    """Little-endian signed integers of ``width`` bytes, whole buffer, at least one."""
    if not content or len(content) % width:
        raise DecodeError(
            f"PMD {field}: sample data is {len(content)} bytes, "
            f"expected a positive multiple of {width}"
        )
    raw = np.frombuffer(content, dtype=np.uint8).reshape(-1, width).astype(np.int64)
    value = np.zeros(raw.shape[0], dtype=np.int64)
    for i in range(width):
        value |= raw[:, i] << (8 * i)
    sign = np.int64(1) << (8 * width - 1)
    return ((value ^ sign) - sign).astype(np.int32)


def decode_delta_samples(
    content: bytes, channels: int, resolution_bits: int
) -> npt.NDArray[np.int32]:
    """Undo PMD delta compression: reference sample, then [width, count, packed deltas] blocks.

    Returns raw values, shape (n, channels). Deltas are packed LSB-first across the block,
    sample by sample and channel by channel, each sign-extended from its bit width.
    """
    ref_width = (resolution_bits + 7) // 8
    ref_size = channels * ref_width
    if len(content) < ref_size:
        raise DecodeError(
            f"PMD delta frame: reference sample needs {ref_size} bytes, got {len(content)}"
        )
    reference = _signed_le(content[:ref_size], ref_width, "reference sample").astype(np.int64)
    blocks: list[npt.NDArray[np.int64]] = [reference.reshape(1, channels)]
    offset = ref_size
    while offset < len(content):
        if offset + 2 > len(content):
            raise DecodeError(
                f"PMD delta frame: block header at offset {offset} needs 2 bytes, got 1"
            )
        width, count = content[offset], content[offset + 1]
        offset += 2
        if not 1 <= width <= 32:
            raise DecodeError(f"PMD delta frame: delta bit width {width}, expected 1..32")
        n_bits = width * count * channels
        n_bytes = (n_bits + 7) // 8
        if offset + n_bytes > len(content):
            raise DecodeError(
                f"PMD delta frame: block of {count} samples x {width} bits needs {n_bytes} "
                f"bytes at offset {offset}, got {len(content) - offset}"
            )
        block = np.frombuffer(content[offset : offset + n_bytes], dtype=np.uint8)
        offset += n_bytes
        bits = np.unpackbits(block, bitorder="little")[:n_bits].astype(np.int64)
        weights = np.int64(1) << np.arange(width, dtype=np.int64)
        deltas = bits.reshape(-1, width) @ weights
        sign = np.int64(1) << (width - 1)
        blocks.append(((deltas ^ sign) - sign).reshape(count, channels))
    values = np.cumsum(np.concatenate(blocks), axis=0)
    if values.min() < _INT32.min or values.max() > _INT32.max:
        raise DecodeError("PMD delta frame: accumulated samples overflow 32 bits")
    return values.astype(np.int32)


def encode_delta_samples(samples: npt.ArrayLike, resolution_bits: int) -> bytes:
    """Delta-compress (n, channels) samples as a PMD device would (one block per 255 samples).

    Raises ValueError if the reference sample does not fit ``resolution_bits``.
    """
    values = np.asarray(samples, dtype=np.int64)
    if values.ndim != 2 or values.shape[0] < 1:
        raise ValueError(f"samples must have shape (n >= 1, channels), got {values.shape}")
    ref_width = (resolution_bits + 7) // 8
    limit = 1 << (8 * ref_width - 1)
    if values[0].min() < -limit or values[0].max() >= limit:
        raise ValueError(f"reference sample does not fit {ref_width} bytes: {values[0]}")
    out = bytearray()
    for v in values[0]:
        out += int(v).to_bytes(ref_width, "little", signed=True)
    deltas = np.diff(values, axis=0)
    for start in range(0, deltas.shape[0], 255):
        chunk = deltas[start : start + 255]
        peak = int(max(chunk.max(), -chunk.min() - 1))
        width = max(peak.bit_length() + 1, 1)
        if width > 32:
            raise ValueError("a delta does not fit 32 bits")
        mask = (np.int64(1) << width) - 1
        bits = ((chunk.reshape(-1, 1) & mask) >> np.arange(width, dtype=np.int64)) & 1
        out += bytes([width, chunk.shape[0]])
        out += np.packbits(bits.astype(np.uint8).reshape(-1), bitorder="little").tobytes()
    return bytes(out)


def _scaled(raw: npt.NDArray[np.int32], multiplier: float) -> npt.NDArray[np.int32]:
    """Truncate raw * multiplier to int32 as the SDK does; a factor that cannot is a bad frame."""
    scaled = np.trunc(raw * np.float64(multiplier)) if np.isfinite(multiplier) else None
    if scaled is None or scaled.min() < _INT32.min or scaled.max() > _INT32.max:
        raise DecodeError(f"PMD ACC: factor {multiplier!r} does not map the samples into int32")
    return scaled.astype(np.int32)


def _decode_acc(frame_type: int, content: bytes, factor: float | None) -> npt.NDArray[np.int32]:
    if frame_type in _ACC_RAW_WIDTHS:
        width = _ACC_RAW_WIDTHS[frame_type]
        if len(content) % (width * _ACC_AXES):
            raise DecodeError(
                f"PMD ACC frame type {frame_type}: sample data is {len(content)} bytes, "
                f"expected a multiple of {width * _ACC_AXES}"
            )
        return _signed_le(content, width, f"ACC frame type {frame_type}").reshape(-1, _ACC_AXES)
    if frame_type == _COMPRESSED:
        # The SDK's type 0x80: raw counts in G times the device's factor setting.
        if factor is None:
            raise DecodeError(
                "PMD ACC frame type 0x80 carries counts of G x factor; pass acc_factor= "
                "(setting FACTOR from the get-settings response)"
            )
        return _scaled(decode_delta_samples(content, _ACC_AXES, 16), factor * 1000.0)
    if frame_type == _COMPRESSED | 1:
        raw = decode_delta_samples(content, _ACC_AXES, 16)
        if factor is None or factor == 1.0:
            return raw
        return _scaled(raw, factor)
    raise DecodeError(f"PMD ACC frame type 0x{frame_type:02x} ({frame_type}) is not supported")


def decode_pmd_data(
    payload: bytes, *, acc_factor: float | None = None
) -> PmdEcgFrame | PmdAccFrame:
    """Decode one PMD data notification; raise DecodeError for anything else.

    ``acc_factor`` is the FACTOR setting reported by the sensor; only compressed ACC frames
    need it (see :func:`decode_settings`).
    """
    if len(payload) < _HEADER_SIZE:
        raise DecodeError(f"PMD data frame: header needs {_HEADER_SIZE} bytes, got {len(payload)}")
    measurement_type = payload[0] & _MEASUREMENT_TYPE_MASK
    timestamp_ns = int.from_bytes(payload[1:9], "little")
    frame_type = payload[9]
    content = payload[_HEADER_SIZE:]
    if measurement_type == MeasurementType.ECG:
        if frame_type != 0:
            raise DecodeError(
                f"PMD ECG frame type 0x{frame_type:02x} ({frame_type}) is not supported"
            )
        samples = _signed_le(content, 3, "ECG frame type 0")
        return PmdEcgFrame(timestamp_ns, _frozen(samples), frame_type)
    if measurement_type == MeasurementType.ACC:
        samples = _decode_acc(frame_type, content, acc_factor)
        return PmdAccFrame(timestamp_ns, _frozen(samples), frame_type)
    raise DecodeError(f"PMD measurement type {measurement_type} is not supported")


def _header(measurement_type: int, timestamp_ns: int, frame_type: int) -> bytes:
    if not 0 <= timestamp_ns < 1 << 64:
        raise ValueError(f"timestamp_ns must fit u64, got {timestamp_ns}")
    return bytes([measurement_type]) + timestamp_ns.to_bytes(8, "little") + bytes([frame_type])


def _pack_signed(values: npt.NDArray[np.int64], width: int, name: str) -> bytes:
    limit = 1 << (8 * width - 1)
    if values.size == 0:
        raise ValueError(f"{name}: at least one sample is required")
    if values.min() < -limit or values.max() >= limit:
        raise ValueError(f"{name}: values must be in [{-limit}, {limit - 1}]")
    le = values.reshape(-1).astype("<i4").view(np.uint8).reshape(-1, 4)
    return le[:, :width].tobytes()


def encode_pmd_ecg_frame(timestamp_ns: int, samples_uv: npt.ArrayLike) -> bytes:
    """Build an uncompressed ECG frame (type 0, int24 LE µV). Raises ValueError if out of range."""
    values = np.asarray(samples_uv, dtype=np.int64)
    if values.ndim != 1:
        raise ValueError(f"samples_uv must be 1-D, got shape {values.shape}")
    return _header(MeasurementType.ECG, timestamp_ns, 0) + _pack_signed(values, 3, "samples_uv")


def encode_pmd_acc_frame(
    timestamp_ns: int, samples_mg: npt.ArrayLike, frame_type: int = 1
) -> bytes:
    """Build an uncompressed ACC frame of type 0 (int8), 1 (int16) or 2 (int24) x/y/z in mG."""
    if frame_type not in _ACC_RAW_WIDTHS:
        raise ValueError(f"frame_type must be 0, 1 or 2, got {frame_type}")
    values = np.asarray(samples_mg, dtype=np.int64)
    if values.ndim != 2 or values.shape[1] != _ACC_AXES:
        raise ValueError(f"samples_mg must have shape (n, 3), got {values.shape}")
    body = _pack_signed(values, _ACC_RAW_WIDTHS[frame_type], "samples_mg")
    return _header(MeasurementType.ACC, timestamp_ns, frame_type) + body


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
