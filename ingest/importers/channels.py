"""Digital channels of a file format (EDF, ISHNE, actigraphy exports) as an imported recording.

A reader hands over each channel's stored integers with the linear map to its physical unit
(``physical = raw * scale + offset``) and the times of its contiguous runs; this module chooses
the stream (``ecg``, ``eda``, ``counts`` or ``other``), converts a voltage to the pipeline's µV by
the scale alone (so the integers are stored untouched), and writes the recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.importers.inline import (
    ImportedRecord,
    device_entry,
    frame_records,
    import_device_id,
    import_patient_id,
    in_time_order,
    inline_profile_toml,
)
from ingest.importers.output import write_imported
from ingest.recording import INLINE_PROFILE_VERSION, DeviceEntry, Marker, RecordingHeader

_VOLTS = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}  # factor to µV
_ECG_WORDS = ("ecg", "ekg")


@dataclass(frozen=True, slots=True)
class Run:
    """Samples ``first:first+count`` of a channel start at ``start_ns`` (contiguous after it)."""

    start_ns: int
    first: int
    count: int


@dataclass(frozen=True, slots=True)
class Channel:
    label: str
    units: str
    rate_hz: float
    raw: npt.NDArray[np.int64]
    scale: float = 1.0
    offset: float = 0.0
    runs: tuple[Run, ...] = ()
    stream: str | None = None  # None: chosen from the label and unit
    profile_name: str | None = None  # None: FORMAT-COLUMN; actigraphy names its count scale


def stream_of(label: str, units: str) -> tuple[str, str, float]:
    """(stream, unit stored, factor to it) for a channel's label and physical unit."""
    to_uv = _VOLTS.get(units.strip().lower())
    if to_uv is not None and any(word in label.lower() for word in _ECG_WORDS):
        return "ecg", "uV", to_uv
    if units.strip().lower() in {"us", "µs"} and "eda" in label.lower():
        return "eda", "uS", 1.0
    return "other", units.strip() or "au", 1.0


def _sample_type(raw: npt.NDArray[np.int64]) -> str:
    low, high = (int(raw.min()), int(raw.max())) if raw.size else (0, 0)
    if low >= -(2**15) and high < 2**15:
        return "i16"
    return "i32" if low >= -(2**31) and high < 2**31 else "f64"


def write_channels(
    out: Path,
    *,
    fmt: str,
    source: str,
    channels: list[Channel],
    markers: list[Marker],
    start_ns: int,
    patient_id: str | None,
    notes: str,
) -> dict[str, object]:
    """Write the recording; returns the summary the command prints."""
    devices: list[DeviceEntry] = []
    records: list[ImportedRecord] = []
    for column, channel in enumerate(channels):
        stream, units, factor = (
            (channel.stream, channel.units, 1.0)
            if channel.stream
            else stream_of(channel.label, channel.units)
        )
        sample_type = _sample_type(channel.raw)
        entry = device_entry(
            device_id=import_device_id(source, f"{column}:{channel.label}"),
            label=channel.label,
            profile_toml=inline_profile_toml(
                name=channel.profile_name or f"{fmt}-{column}",
                signal=stream,
                description=f"{fmt} channel {column} ({channel.label}), raw * "
                f"{channel.scale * factor!r} + {channel.offset * factor!r} {units}",
                sample_type=sample_type,
                scale=channel.scale * factor,
                offset=channel.offset * factor,
                units=units,
                rate_hz=channel.rate_hz,
            ),
        )
        devices.append(entry)
        raw = channel.raw.astype(np.float64) if sample_type == "f64" else channel.raw
        runs = channel.runs or (Run(start_ns, 0, raw.size),)
        for run in runs:
            chunk = raw[run.first : run.first + run.count]
            records.extend(frame_records(entry, chunk, start_ns=run.start_ns))
    records.extend(markers)
    header = RecordingHeader(
        format_version=INLINE_PROFILE_VERSION,
        patient_id=patient_id or import_patient_id(source),
        start_time_ns=start_ns,
        devices=devices,
        producer=f"vagus import {fmt}",
        simulated=False,
        notes=notes,
    )
    write_imported(out, header, in_time_order(records))
    return {
        "recording": str(out),
        "signals": [d.label for d in devices],
        "samples_per_signal": [int(c.raw.size) for c in channels],
        "markers": len(markers),
    }
