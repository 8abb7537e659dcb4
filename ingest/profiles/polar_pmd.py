"""Polar Measurement Data (PMD) codec: data frames (control point and delta coding in siblings).

Specification: Polar BLE SDK, ``technical_documentation/Polar_Measurement_Data_Specification.pdf``
(polarofficial/polar-ble-sdk), cross-checked against the SDK's own parsers (``PmdDataFrame``,
``EcgData``, ``AccData``, ``BlePMDClient.parseDeltaFramesAll``, ``PmdControlPointResponse``).

Data frame (characteristic ...5c82): byte 0 measurement type (low 6 bits), bytes 1-8 u64 LE
timestamp in ns since 2000-01-01T00:00:00 of the frame's LAST sample, byte 9 frame type (bit 7
set = delta compressed), then samples. Supported here: ECG raw type 0 (int24 µV) and ACC raw
types 0/1/2 (int8/int16/int24 x,y,z in mG), and delta-compressed ACC types 0x80 and 0x81 (a
16-bit reference sample, then blocks of [bit width u8, count u8, LSB-first packed signed deltas]).
The SDK has no compressed ECG parser, so compressed ECG is rejected rather than guessed.

PPI (pulse-to-pulse intervals of an optical sensor, Verity Sense and OH1) is frame type 0 only,
6 bytes per interval: u8 heart rate (bpm), u16 LE interval (ms), u16 LE error estimate (ms), u8
flags (bit 0 blocker: interval invalid, movement or occlusion; bit 1 skin contact; bit 2 skin
contact supported), as the SDK's ``PpiData`` reads it. Its timestamp is not a sample time: the
SDK's ``TimeSystemExplained.md`` says a stream whose samples have no defined time (PPI) carries
zero there, so it is kept as sent and never used to place beats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ingest.errors import DecodeError
from ingest.profiles.pmd_control import (
    STATUS_NAMES,
    ControlPointResponse,
    MeasurementType,
    SettingType,
    decode_control_point_response,
    decode_settings,
    encode_get_settings,
    encode_start_measurement,
    encode_stop_measurement,
)
from ingest.profiles.pmd_delta import (
    INT32,
    decode_delta_samples,
    encode_delta_samples,
    signed_le,
)

__all__ = [
    "PMD_CONTROL_POINT_UUID",
    "PMD_DATA_UUID",
    "PMD_SERVICE_UUID",
    "POLAR_EPOCH_UNIX_NS",
    "STATUS_NAMES",
    "ControlPointResponse",
    "MeasurementType",
    "PmdAccFrame",
    "PmdEcgFrame",
    "PmdPpiFrame",
    "SettingType",
    "decode_control_point_response",
    "decode_delta_samples",
    "decode_pmd_data",
    "decode_settings",
    "encode_delta_samples",
    "encode_get_settings",
    "encode_pmd_acc_frame",
    "encode_pmd_ecg_frame",
    "encode_pmd_ppi_frame",
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
_ACC_AXES = 3
_ACC_RAW_WIDTHS = {0: 1, 1: 2, 2: 3}
_PPI_SAMPLE = np.dtype([("hr", "u1"), ("interval", "<u2"), ("error", "<u2"), ("flags", "u1")])
"""One PPI sample on the wire: 6 bytes, packed (numpy adds no padding to this dtype)."""
_PPI_BLOCKER, _PPI_SKIN_CONTACT, _PPI_SKIN_CONTACT_SUPPORTED = 0x01, 0x02, 0x04

_Array = TypeVar("_Array", bound=np.ndarray[Any, Any])


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


@dataclass(frozen=True, slots=True, eq=False)
class PmdPpiFrame:
    """Pulse-to-pulse intervals, one entry per detected pulse, oldest first.

    ``timestamp_ns`` is as the sensor sent it and means nothing (0 from a Verity Sense or OH1;
    see module doc): beat times come from the intervals and the arrival time. ``blocker`` marks
    an interval the sensor itself calls invalid; ``skin_contact`` means something only where
    ``skin_contact_supported`` is set.
    """

    timestamp_ns: int
    hr_bpm: npt.NDArray[np.int32]
    interval_ms: npt.NDArray[np.int32]
    error_ms: npt.NDArray[np.int32]
    blocker: npt.NDArray[np.bool_]
    skin_contact: npt.NDArray[np.bool_]
    skin_contact_supported: npt.NDArray[np.bool_]
    frame_type: int = 0


def polar_to_unix_ns(timestamp_ns: int) -> int:
    """Convert a PMD timestamp (ns since 2000-01-01) to Unix nanoseconds."""
    return timestamp_ns + POLAR_EPOCH_UNIX_NS


def _frozen(array: _Array) -> _Array:
    array.flags.writeable = False
    return array


def _scaled(raw: npt.NDArray[np.int32], multiplier: float) -> npt.NDArray[np.int32]:
    """Truncate raw * multiplier to int32 as the SDK does; a factor that cannot is a bad frame."""
    scaled = np.trunc(raw * np.float64(multiplier)) if np.isfinite(multiplier) else None
    if scaled is None or scaled.min() < INT32.min or scaled.max() > INT32.max:
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
        return signed_le(content, width, f"ACC frame type {frame_type}").reshape(-1, _ACC_AXES)
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


def _decode_ppi(timestamp_ns: int, frame_type: int, content: bytes) -> PmdPpiFrame:
    if frame_type != 0:
        raise DecodeError(f"PMD PPI frame type 0x{frame_type:02x} ({frame_type}) is not supported")
    if len(content) % _PPI_SAMPLE.itemsize:
        raise DecodeError(
            f"PMD PPI frame type 0: sample data is {len(content)} bytes, "
            f"expected a multiple of {_PPI_SAMPLE.itemsize}"
        )
    samples = np.frombuffer(content, dtype=_PPI_SAMPLE)
    flags = samples["flags"]
    return PmdPpiFrame(
        timestamp_ns=timestamp_ns,
        hr_bpm=_frozen(samples["hr"].astype(np.int32)),
        interval_ms=_frozen(samples["interval"].astype(np.int32)),
        error_ms=_frozen(samples["error"].astype(np.int32)),
        blocker=_frozen((flags & _PPI_BLOCKER) != 0),
        skin_contact=_frozen((flags & _PPI_SKIN_CONTACT) != 0),
        skin_contact_supported=_frozen((flags & _PPI_SKIN_CONTACT_SUPPORTED) != 0),
        frame_type=frame_type,
    )


def decode_pmd_data(
    payload: bytes, *, acc_factor: float | None = None
) -> PmdEcgFrame | PmdAccFrame | PmdPpiFrame:
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
        samples = signed_le(content, 3, "ECG frame type 0")
        return PmdEcgFrame(timestamp_ns, _frozen(samples), frame_type)
    if measurement_type == MeasurementType.ACC:
        samples = _decode_acc(frame_type, content, acc_factor)
        return PmdAccFrame(timestamp_ns, _frozen(samples), frame_type)
    if measurement_type == MeasurementType.PPI:
        return _decode_ppi(timestamp_ns, frame_type, content)
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


def encode_pmd_ppi_frame(
    intervals_ms: npt.ArrayLike,
    *,
    hr_bpm: npt.ArrayLike = 0,
    error_ms: npt.ArrayLike = 0,
    blocker: npt.ArrayLike = False,
    skin_contact: npt.ArrayLike = True,
    skin_contact_supported: npt.ArrayLike = True,
    timestamp_ns: int = 0,
) -> bytes:
    """Build a PPI frame (type 0); per-sample fields broadcast against ``intervals_ms``.

    ``timestamp_ns`` defaults to 0, what a Verity Sense or OH1 sends. Raises ValueError for a
    value that does not fit its field (u8 heart rate, u16 interval and error).
    """
    intervals = np.asarray(intervals_ms, dtype=np.int64)
    if intervals.ndim != 1:
        raise ValueError(f"intervals_ms must be 1-D, got shape {intervals.shape}")
    mismatch = "per-sample fields must be scalars or match intervals_ms in length"
    try:
        fields = np.broadcast_arrays(
            intervals,
            np.asarray(hr_bpm, dtype=np.int64),
            np.asarray(error_ms, dtype=np.int64),
            np.asarray(blocker, dtype=bool),
            np.asarray(skin_contact, dtype=bool),
            np.asarray(skin_contact_supported, dtype=bool),
        )
    except ValueError as exc:
        raise ValueError(mismatch) from exc
    if fields[0].shape != intervals.shape:
        raise ValueError(mismatch)
    interval, hr, error, blocked, contact, supported = fields
    for name, values, limit in (
        ("intervals_ms", interval, 0xFFFF),
        ("hr_bpm", hr, 0xFF),
        ("error_ms", error, 0xFFFF),
    ):
        if values.size and (values.min() < 0 or values.max() > limit):
            raise ValueError(f"{name}: values must be in [0, {limit}]")
    samples = np.empty(intervals.size, dtype=_PPI_SAMPLE)
    samples["hr"], samples["interval"], samples["error"] = hr, interval, error
    samples["flags"] = (
        blocked * _PPI_BLOCKER
        + contact * _PPI_SKIN_CONTACT
        + supported * _PPI_SKIN_CONTACT_SUPPORTED
    )
    return _header(MeasurementType.PPI, timestamp_ns, 0) + samples.tobytes()
