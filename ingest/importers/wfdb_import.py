"""`vagus import wfdb`: a PhysioNet WFDB record as a vagus recording.

Records are read through the wfdb package (ingest.importers.wfdb_package: every storage format,
several samples per frame, annotation-only records). Each signal becomes one device with an
inline sample-stream profile at its own rate. Samples are stored as the ADC integers minus the
signal's baseline (i16 frames, i32 or f64 when wider) with ``scale = 1000 / gain`` for a voltage,
giving µV, so the values replay bit for bit as ``(adc - baseline) * (1000 / gain)``; for MIT-BIH
(gain 200 per mV) that is exactly 5 µV per ADC unit. A signal in another unit (mmHg, %, degC)
keeps it, as stream ``other`` with ``scale = 1 / gain``. Annotations become markers
``annotation:SYMBOL`` at their sample's time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.errors import RecordingError
from ingest.importers.inline import (
    ImportedRecord,
    device_entry,
    frame_records,
    import_device_id,
    import_patient_id,
    in_time_order,
    inline_profile_toml,
    sample_offset_ns,
)
from ingest.importers.output import write_imported
from ingest.importers.wfdb import BEAT_SYMBOLS
from ingest.importers.wfdb_package import DigitalChannel, read_annotations_any, read_digital
from ingest.recording import INLINE_PROFILE_VERSION, DeviceEntry, Marker, RecordingHeader

ANNOTATION_PREFIX = "annotation:"
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stored(relative: npt.NDArray[np.int64]) -> tuple[str, npt.NDArray[np.generic]]:
    """The narrowest frame type that holds ``adc - baseline`` exactly."""
    low, high = (int(relative.min()), int(relative.max())) if relative.size else (0, 0)
    if low >= -(2**15) and high < 2**15:
        return "i16", relative
    if low >= -(2**31) and high < 2**31:
        return "i32", relative
    return "f64", relative.astype(np.float64)  # exact: WFDB samples are at most 32 bits


def _channel_device(
    source: str, record_name: str, column: int, channel: DigitalChannel, label: str
) -> tuple[DeviceEntry, str, npt.NDArray[np.generic]]:
    millivolts = _TO_MV.get(channel.units.lower())
    if millivolts is None:
        signal, units, scale = "other", channel.units, 1.0 / channel.gain
    else:
        signal, units, scale = "ecg", "uV", 1000.0 * millivolts / channel.gain
    sample_type, stored = _stored(channel.adc - channel.baseline)
    entry = device_entry(
        device_id=import_device_id(source, f"{column}:{channel.name}"),
        label=label,
        profile_toml=inline_profile_toml(
            name=f"wfdb-{record_name}-{column}",
            signal=signal,
            description=f"WFDB record {record_name} signal {column} ({channel.name}, format "
            f"{channel.storage_format}), (adc - {channel.baseline}) * {scale!r} {units}",
            sample_type=sample_type,
            scale=scale,
            units=units,
            rate_hz=channel.rate_hz,
        ),
    )
    return entry, signal, stored


def import_wfdb(
    record: Path,
    out: Path,
    *,
    start_time_ns: int | None = None,
    annotator: str | None = "atr",
    patient_id: str | None = None,
) -> dict[str, object]:
    """Write ``out`` from the record at ``record`` (path without extension); returns a summary.

    The start is ``start_time_ns``, else the header's base date and time, else the Unix epoch.
    ``annotator`` names the annotation file's suffix; for a record without signals it must exist.
    """
    digital = read_digital(record)
    if start_time_ns is None:
        base = digital.base_time
        start_time_ns = 0 if base is None else (base - _EPOCH) // timedelta(microseconds=1) * 1000
    source = f"wfdb:{digital.record_name}"
    devices: list[DeviceEntry] = []
    records: list[ImportedRecord] = []
    names = [c.name for c in digital.channels]
    for column, channel in enumerate(digital.channels):
        label = channel.name if names.count(channel.name) == 1 else f"{channel.name} #{column}"
        entry, _, stored = _channel_device(source, digital.record_name, column, channel, label)
        devices.append(entry)
        records.extend(frame_records(entry, stored, start_ns=start_time_ns))
    annotations = _annotation_markers(
        record,
        annotator,
        fs=digital.fs,
        n_samples=digital.n_frames if digital.channels else None,
        start_ns=start_time_ns,
    )
    if not digital.channels and not annotations:
        suffix = f".{annotator}" if annotator else " annotation"
        raise RecordingError(
            f"{record}: no signals and no {suffix} file: nothing to import "
            "(name the annotation file's suffix with --annotator, e.g. ecg)"
        )
    records.extend(annotations)
    recording_header = RecordingHeader(
        format_version=INLINE_PROFILE_VERSION,
        patient_id=patient_id or import_patient_id(source),
        start_time_ns=start_time_ns,
        devices=devices,
        producer="vagus import wfdb",
        simulated=False,
        notes=f"imported from WFDB record {digital.record_name} at {digital.fs:g} Hz",
    )
    write_imported(out, recording_header, in_time_order(records))
    return {
        "recording": str(out),
        "signals": [d.label for d in devices],
        "formats": sorted({c.storage_format for c in digital.channels}),
        "samples_per_signal": [int(c.adc.size) for c in digital.channels],
        "rate_hz": digital.fs,
        "annotations": len(annotations),
    }


def _annotation_markers(
    record: Path, annotator: str | None, *, fs: float, n_samples: int | None, start_ns: int
) -> list[ImportedRecord]:
    if not annotator:
        return []
    path = record.with_suffix(f".{annotator}")
    if not path.exists():
        return []
    annotations = read_annotations_any(record, annotator)
    samples = annotations.sample.tolist()
    if samples and min(samples) < 0:
        raise RecordingError(f"{path}: an annotation lies before the record's first sample")
    if samples and n_samples is not None and max(samples) > n_samples:
        raise RecordingError(f"{path}: annotations outside the record's {n_samples} samples")
    rate = annotations.fs or fs
    return [
        Marker(
            start_ns + sample_offset_ns(sample, rate),
            ANNOTATION_PREFIX + symbol,
            f"sample {sample}"
            + (" beat" if symbol in BEAT_SYMBOLS else "")
            + (f" {note}" if note else ""),
        )
        for sample, symbol, note in zip(
            samples, annotations.symbol, annotations.aux_note, strict=True
        )
    ]


def parse_start(text: str) -> int:
    """``--start`` as an ISO 8601 time (UTC unless it says otherwise) in ns since the epoch."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise RecordingError(f"--start {text!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since_epoch = moment - datetime(1970, 1, 1, tzinfo=UTC)
    if not timedelta(0) <= since_epoch <= timedelta(days=365 * 200):
        raise RecordingError("--start must lie between 1970 and 2170")
    return since_epoch // timedelta(microseconds=1) * 1000
