"""`vagus import wfdb`: a PhysioNet WFDB record as a vagus recording.

Each signal becomes one device with an inline sample-stream profile at the record's own rate.
Samples are stored as the record's ADC integers minus the signal's baseline (i16 frames) with
``scale = 1000 / gain`` to give µV, so the values replay bit for bit as ``(adc - baseline) *
(1000 / gain)``; for MIT-BIH (gain 200 per mV) that is exactly 5 µV per ADC unit. Annotations
(beat labels and others) become markers ``annotation:SYMBOL`` at their sample's time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
from ingest.importers.wfdb import (
    BEAT_SYMBOLS,
    millivolts_per_unit,
    read_adc,
    read_annotations,
)
from ingest.recording import INLINE_PROFILE_VERSION, DeviceEntry, Marker, RecordingHeader

ANNOTATION_PREFIX = "annotation:"


def import_wfdb(
    record: Path,
    out: Path,
    *,
    start_time_ns: int = 0,
    annotator: str = "atr",
    patient_id: str | None = None,
) -> dict[str, object]:
    """Write ``out`` from the record at ``record`` (path without extension); returns a summary."""
    header, adc = read_adc(record)
    hea = record.with_suffix(".hea")
    source = f"wfdb:{header.record_name}"
    devices: list[DeviceEntry] = []
    records: list[ImportedRecord] = []
    for column, signal in enumerate(header.signals):
        microvolts_per_adc = 1000.0 * millivolts_per_unit(signal, hea) / signal.gain
        relative = adc[:, column] - signal.baseline
        sample_type = "i16"
        if relative.size and (relative.min() < -(2**15) or relative.max() >= 2**15):
            sample_type = "i32"
        name = f"wfdb-{header.record_name}-{column}"
        entry = device_entry(
            device_id=import_device_id(source, f"{column}:{signal.description}"),
            label=signal.description,
            profile_toml=inline_profile_toml(
                name=name,
                signal="ecg",
                description=f"WFDB record {header.record_name} signal {column} "
                f"({signal.description}), (adc - {signal.baseline}) * 1000/{signal.gain:g}",
                sample_type=sample_type,
                scale=microvolts_per_adc,
                units="uV",
                rate_hz=header.fs,
            ),
        )
        devices.append(entry)
        records.extend(frame_records(entry, relative, start_ns=start_time_ns))
    annotations = _annotation_markers(
        record, annotator, fs=header.fs, n_samples=header.n_samples, start_ns=start_time_ns
    )
    records.extend(annotations)
    recording_header = RecordingHeader(
        format_version=INLINE_PROFILE_VERSION,
        patient_id=patient_id or import_patient_id(source),
        start_time_ns=start_time_ns,
        devices=devices,
        producer="vagus import wfdb",
        simulated=False,
        notes=f"imported from WFDB record {header.record_name} at {header.fs:g} Hz",
    )
    write_imported(out, recording_header, in_time_order(records))
    return {
        "recording": str(out),
        "signals": [d.label for d in devices],
        "samples_per_signal": int(adc.shape[0]),
        "rate_hz": header.fs,
        "annotations": len(annotations),
    }


def _annotation_markers(
    record: Path, annotator: str, *, fs: float, n_samples: int, start_ns: int
) -> list[ImportedRecord]:
    path = record.with_suffix(f".{annotator}")
    if not path.exists():
        return []
    annotations = read_annotations(path)
    samples = annotations.sample.tolist()
    if samples and not 0 <= min(samples) <= max(samples) <= n_samples:
        raise RecordingError(f"{path}: annotations outside the record's {n_samples} samples")
    return [
        Marker(
            start_ns + sample_offset_ns(sample, fs),
            ANNOTATION_PREFIX + symbol,
            f"sample {sample}" + (" beat" if symbol in BEAT_SYMBOLS else ""),
        )
        for sample, symbol in zip(samples, annotations.symbol, strict=True)
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
