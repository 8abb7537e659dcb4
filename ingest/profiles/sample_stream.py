"""Declarative GATT sample-stream profiles, loaded from TOML.

There is no Bluetooth SIG characteristic for electrodermal activity (or for most research
signals), so a sensor that streams fixed-layout frames is described by data instead of code:

    [profile]  name, signal (what the samples are), description, optional site (where on the
               body it measures, as the Body Sensor Location names them: a stress model
               validated on wrist motion takes an ``acc`` stream only from a "wrist")
    [gatt]     service and characteristic UUIDs
    [frame]    byte_order; optional timestamp {type, unit} of the frame's FIRST sample;
               sample {type, channels}
    [signal]   physical = raw * scale + offset, in units, at rate_hz

A frame is ``[timestamp] sample*`` with channels interleaved per sample. Decoding checks the
length against the layout, so a short or ragged frame is a clear :class:`DecodeError`.
"""

from __future__ import annotations

import importlib.resources
import tomllib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.errors import DecodeError, IngestError
from ingest.profiles.body_sensor_location import BODY_SITES

#: Sample types: (numpy kind and width, signed) - 24-bit types are unpacked by hand.
_SAMPLE_TYPES: dict[str, tuple[int, bool, bool]] = {  # width, signed, float
    "i8": (1, True, False),
    "u8": (1, False, False),
    "i16": (2, True, False),
    "u16": (2, False, False),
    "i24": (3, True, False),
    "u24": (3, False, False),
    "i32": (4, True, False),
    "u32": (4, False, False),
    "f32": (4, True, True),
    "f64": (8, True, True),
}
_TIMESTAMP_TYPES = {"u16": 2, "u32": 4, "u64": 8}
_TIME_UNITS_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


class ProfileError(IngestError, ValueError):
    """A profile definition that cannot work; the message names the key."""


@dataclass(frozen=True, slots=True)
class StreamFrame:
    """One decoded frame: the device time of its first sample (if sent) and physical values."""

    device_time_ns: int | None
    values: npt.NDArray[np.float64]


def _get(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ProfileError(f"missing key {where}.{key}")
    return table[key]


def _uuid(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError as exc:
        raise ProfileError(f"{where} is not a UUID: {value!r}") from exc


@dataclass(frozen=True, slots=True)
class SampleStreamProfile:
    """A validated sample-stream layout; build it with :meth:`from_toml_text`."""

    name: str
    signal: str
    description: str
    service: str
    characteristic: str
    byte_order: str
    timestamp_type: str | None
    timestamp_unit_ns: int
    sample_type: str
    channels: int
    scale: float
    offset: float
    units: str
    rate_hz: float
    site: str | None = None

    @classmethod
    def from_toml_text(cls, text: str) -> SampleStreamProfile:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ProfileError(f"not valid TOML: {exc}") from exc
        profile = _get(data, "profile", "")
        gatt = _get(data, "gatt", "")
        frame = _get(data, "frame", "")
        signal = _get(data, "signal", "")
        sample = _get(frame, "sample", "frame")
        sample_type = str(_get(sample, "type", "frame.sample"))
        if sample_type not in _SAMPLE_TYPES:
            raise ProfileError(
                f"frame.sample.type {sample_type!r} is not one of {sorted(_SAMPLE_TYPES)}"
            )
        channels = int(sample.get("channels", 1))
        if channels < 1:
            raise ProfileError("frame.sample.channels must be at least 1")
        byte_order = str(frame.get("byte_order", "little"))
        if byte_order not in {"little", "big"}:
            raise ProfileError("frame.byte_order must be 'little' or 'big'")
        timestamp = frame.get("timestamp")
        timestamp_type, unit_ns = None, 1
        if timestamp is not None:
            timestamp_type = str(_get(timestamp, "type", "frame.timestamp"))
            unit = str(_get(timestamp, "unit", "frame.timestamp"))
            if timestamp_type not in _TIMESTAMP_TYPES:
                raise ProfileError(
                    f"frame.timestamp.type must be one of {sorted(_TIMESTAMP_TYPES)}"
                )
            if unit not in _TIME_UNITS_NS:
                raise ProfileError(f"frame.timestamp.unit must be one of {sorted(_TIME_UNITS_NS)}")
            unit_ns = _TIME_UNITS_NS[unit]
        rate_hz = float(_get(signal, "rate_hz", "signal"))
        if not 0 < rate_hz <= 100_000:
            raise ProfileError("signal.rate_hz must be positive (and at most 100 kHz)")
        scale = float(signal.get("scale", 1.0))
        if scale == 0 or not np.isfinite(scale):
            raise ProfileError("signal.scale must be a non-zero finite number")
        site = profile.get("site")
        if site is not None and site not in BODY_SITES:
            raise ProfileError(f"profile.site {site!r} is not one of {sorted(BODY_SITES)}")
        return cls(
            name=str(_get(profile, "name", "profile")),
            signal=str(_get(profile, "signal", "profile")),
            description=str(profile.get("description", "")),
            service=_uuid(_get(gatt, "service", "gatt"), "gatt.service"),
            characteristic=_uuid(_get(gatt, "characteristic", "gatt"), "gatt.characteristic"),
            byte_order=byte_order,
            timestamp_type=timestamp_type,
            timestamp_unit_ns=unit_ns,
            sample_type=sample_type,
            channels=channels,
            scale=scale,
            offset=float(signal.get("offset", 0.0)),
            units=str(_get(signal, "units", "signal")),
            rate_hz=rate_hz,
            site=site,
        )

    @classmethod
    def from_path(cls, path: Path) -> SampleStreamProfile:
        return cls.from_toml_text(path.read_text(encoding="utf-8"))

    @property
    def _timestamp_size(self) -> int:
        return 0 if self.timestamp_type is None else _TIMESTAMP_TYPES[self.timestamp_type]

    @property
    def _sample_size(self) -> int:
        return _SAMPLE_TYPES[self.sample_type][0] * self.channels

    def timestamp_period_ns(self) -> int:
        """After how long the device timestamp counter wraps (0 when frames carry none)."""
        if self.timestamp_type is None:
            return 0
        return (1 << (8 * self._timestamp_size)) * self.timestamp_unit_ns

    def decode(self, payload: bytes) -> StreamFrame:
        """Physical values of one frame; :class:`DecodeError` when the length does not fit."""
        head = self._timestamp_size
        body = len(payload) - head
        if body <= 0 or body % self._sample_size:
            raise DecodeError(
                f"{self.name}: frame of {len(payload)} bytes is not a {head}-byte timestamp"
                f" plus whole samples of {self._sample_size} bytes"
            )
        device_time_ns = None
        if head:
            stamp = int.from_bytes(payload[:head], self.byte_order)  # type: ignore[arg-type]
            device_time_ns = stamp * self.timestamp_unit_ns
        raw = self._unpack(payload[head:])
        values = raw.reshape(-1, self.channels) * self.scale + self.offset
        return StreamFrame(device_time_ns=device_time_ns, values=values)

    def _unpack(self, body: bytes) -> npt.NDArray[np.float64]:
        width, signed, is_float = _SAMPLE_TYPES[self.sample_type]
        order = "<" if self.byte_order == "little" else ">"
        if is_float:
            return np.frombuffer(body, dtype=f"{order}f{width}").astype(np.float64)
        if width != 3:
            kind = "i" if signed else "u"
            return np.frombuffer(body, dtype=f"{order}{kind}{width}").astype(np.float64)
        triples = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3).astype(np.int64)
        if self.byte_order == "big":
            triples = triples[:, ::-1]
        value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        if signed:
            value = np.where(value >= 1 << 23, value - (1 << 24), value)
        return value.astype(np.float64)

    def encode(self, raw_values: npt.ArrayLike, device_time_ns: int | None) -> bytes:
        """A frame from raw (unscaled) sample values: for simulators and virtual peripherals."""
        values = np.asarray(raw_values).reshape(-1, self.channels)
        header = b""
        if self.timestamp_type is not None:
            if device_time_ns is None:
                raise ProfileError(f"{self.name} frames carry a timestamp; give device_time_ns")
            stamp = (device_time_ns // self.timestamp_unit_ns) % (1 << (8 * self._timestamp_size))
            header = stamp.to_bytes(self._timestamp_size, self.byte_order)  # type: ignore[arg-type]
        width, signed, is_float = _SAMPLE_TYPES[self.sample_type]
        order = "<" if self.byte_order == "little" else ">"
        if is_float:
            return header + values.astype(f"{order}f{width}").tobytes()
        integers = np.asarray(np.rint(values), dtype=np.int64).ravel()
        low, high = (
            (-(1 << (8 * width - 1)), (1 << (8 * width - 1)) - 1)
            if signed
            else (0, (1 << (8 * width)) - 1)
        )
        if integers.size and (integers.min() < low or integers.max() > high):
            raise ProfileError(f"{self.name}: raw values outside the {self.sample_type} range")
        if width != 3:
            kind = "i" if signed else "u"
            return header + integers.astype(f"{order}{kind}{width}").tobytes()
        unsigned = integers & 0xFFFFFF
        triples = np.stack([unsigned & 0xFF, (unsigned >> 8) & 0xFF, unsigned >> 16], axis=1)
        if self.byte_order == "big":
            triples = triples[:, ::-1]
        return header + triples.astype(np.uint8).tobytes()


def load_builtin(name: str) -> SampleStreamProfile:
    """A profile shipped with vagus, from ``ingest/profiles/<name>.toml``."""
    resource = importlib.resources.files("ingest.profiles").joinpath(f"{name}.toml")
    if not resource.is_file():
        raise ProfileError(f"no built-in sample-stream profile named {name!r}")
    return SampleStreamProfile.from_toml_text(resource.read_text(encoding="utf-8"))
