"""`vagus import e4`: an Empatica E4 CSV export (a folder of EDA, BVP, ACC, TEMP, HR, IBI) as a
vagus recording.

E4 files: row 1 is the session start (Unix seconds, UTC, one column per channel), row 2 the
rate in Hz, then one sample per row. IBI.csv instead has rows ``offset_s, ibi_s`` after the
start row; a tag file (``tags.csv`` from E4 Connect, ``tags_S01.csv`` in Stress-Predict) has one
Unix time per button press or task marker. Values are kept exactly: decimal columns as f64
(``float(text)``, the correctly rounded double), ACC as the device's integer 1/64 g counts with a
scale of 1000/64 = 15.625 to milli-g, the unit the pipeline reads ACC in (exact in binary). Times
are exact too: the start is parsed as a decimal. Every file of the folder is either read or named
in the summary's ``skipped`` with the reason, so nothing is dropped unseen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from ingest.errors import RecordingError
from ingest.importers.inline import (
    ImportedRecord,
    device_entry,
    event_records,
    frame_records,
    import_device_id,
    import_patient_id,
    in_time_order,
    inline_profile_toml,
)
from ingest.importers.output import write_imported
from ingest.recording import INLINE_PROFILE_VERSION, DeviceEntry, Marker, RecordingHeader


@dataclass(frozen=True, slots=True)
class E4Signal:
    file: str
    signal: str
    units: str
    channels: int
    integer_scale: float | None  # ACC: integer counts times this scale; else f64 values


#: The E4 is a wrist band: each of its signals is the wrist's.
E4_SITE = "wrist"
#: E4 ACC counts are 1/64 g; the recording format (and dsp.streaming) read ACC in milli-g.
E4_ACC_MG_PER_COUNT = 1000 / 64

E4_SIGNALS = (
    E4Signal("EDA.csv", "eda", "uS", 1, None),
    E4Signal("BVP.csv", "bvp", "au", 1, None),
    E4Signal("ACC.csv", "acc", "mG", 3, E4_ACC_MG_PER_COUNT),
    E4Signal("TEMP.csv", "temp", "degC", 1, None),
    E4Signal("HR.csv", "hr", "bpm", 1, None),
)


#: Times must fit the recording's signed 64-bit nanoseconds (year 2262).
_LATEST_S = Decimal(2**63 - 1) / 10**9 - 10**6


def _ns(text: str, where: str) -> int:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise RecordingError(f"{where}: {text.strip()!r} is not a number") from exc
    if not value.is_finite() or not 0 <= value < _LATEST_S:
        raise RecordingError(f"{where}: {text.strip()!r} is not a time (Unix seconds)")
    return int(value * 1_000_000_000)


def _rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read: {exc}") from exc
    lines = text.rstrip("\n").split("\n") if text.strip() else []
    rows = [[cell.strip() for cell in line.rstrip("\r").split(",")] for line in lines]
    for number, row in enumerate(rows, start=1):
        if not any(row):
            raise RecordingError(f"{path}: line {number} is empty")
    return rows


def _values(path: Path, rows: list[list[str]], channels: int) -> np.ndarray:
    values = np.empty((len(rows), channels), dtype=np.float64)
    for index, row in enumerate(rows):
        if len(row) != channels:
            raise RecordingError(f"{path}: line {index + 3} has {len(row)} columns, not {channels}")
        try:
            values[index] = [float(cell) for cell in row]
        except ValueError as exc:
            raise RecordingError(f"{path}: line {index + 3}: {exc}") from exc
    if not np.isfinite(values).all():
        raise RecordingError(f"{path}: non-finite value")
    return values


def _sampled(folder: Path, spec: E4Signal) -> tuple[DeviceEntry, list[ImportedRecord], int]:
    path = folder / spec.file
    rows = _rows(path)
    if len(rows) < 2:
        raise RecordingError(f"{path}: needs a start-time row and a rate row")
    start_ns = _ns(rows[0][0], f"{path} line 1")
    try:
        rate_hz = float(rows[1][0])
    except ValueError as exc:
        raise RecordingError(f"{path}: line 2: the rate {rows[1][0]!r} is not a number") from exc
    if not 0 < rate_hz <= 100_000:
        raise RecordingError(f"{path}: line 2: rate {rate_hz} Hz is not plausible")
    values = _values(path, rows[2:], spec.channels)
    if spec.integer_scale is not None:
        if not np.array_equal(values, np.rint(values)) or np.abs(values).max(initial=0) >= 2**15:
            raise RecordingError(f"{path}: expected integer counts within the i16 range")
        raw: np.ndarray = values.astype(np.int64)
        sample_type, scale = "i16", spec.integer_scale
    else:
        raw, sample_type, scale = values, "f64", 1.0
    entry = device_entry(
        device_id=import_device_id("e4", spec.signal),
        label=f"E4 {spec.signal}",
        profile_toml=inline_profile_toml(
            name=f"e4-{spec.signal}",
            signal=spec.signal,
            description=f"Empatica E4 {spec.file} ({spec.units})",
            sample_type=sample_type,
            channels=spec.channels,
            scale=scale,
            units=spec.units,
            rate_hz=rate_hz,
            site=E4_SITE,
        ),
    )
    return entry, list(frame_records(entry, raw, start_ns=start_ns)), start_ns


def _ibi(folder: Path) -> tuple[DeviceEntry, list[ImportedRecord], int]:
    path = folder / "IBI.csv"
    rows = _rows(path)
    if not rows:
        raise RecordingError(f"{path}: empty")
    start_ns = _ns(rows[0][0], f"{path} line 1")
    times, values = [], []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            raise RecordingError(f"{path}: line {number} has {len(row)} columns, not 2")
        time_ns = start_ns + _ns(row[0], f"{path} line {number}")
        if time_ns >= 2**63:
            raise RecordingError(f"{path}: line {number}: the beat lies beyond the year 2262")
        times.append(time_ns)
        values.append(_values(path, [row[1:]], 1)[0, 0])
    entry = device_entry(
        device_id=import_device_id("e4", "ibi"),
        label="E4 ibi",
        profile_toml=inline_profile_toml(
            name="e4-ibi",
            signal="ibi",
            description="Empatica E4 IBI.csv: one inter-beat interval (s) per frame, stamped at "
            "its beat; rate_hz is nominal (the intervals are irregular)",
            sample_type="f64",
            units="s",
            rate_hz=1.0,
            site=E4_SITE,
        ),
    )
    return entry, list(event_records(entry, np.asarray(values), times)), start_ns


#: Tag files: ``tags.csv`` (E4 Connect) or ``tags_<subject>.csv`` (Stress-Predict).
_TAG_FILE = re.compile(r"^tags(_[A-Za-z0-9-]+)?\.csv$", re.IGNORECASE)
#: Files an export carries that hold no samples: named as skipped with this reason.
_NOT_DATA = {"info.txt": "the export's description of its files, no data"}


def _tags(path: Path) -> list[ImportedRecord]:
    markers: list[ImportedRecord] = []
    for number, row in enumerate(_rows(path), start=1):
        if len(row) != 1:
            raise RecordingError(f"{path}: line {number} has {len(row)} columns, not 1")
        markers.append(Marker(_ns(row[0], f"{path} line {number}"), "button:e4-tag", path.name))
    return markers


def _skip_reason(path: Path) -> str:
    if path.name in _NOT_DATA:
        return _NOT_DATA[path.name]
    if path.is_dir():
        return "a folder (exports are flat; import it on its own)"
    return "not a file of the E4 export format"


def import_e4(folder: Path, out: Path, *, patient_id: str | None = None) -> dict[str, object]:
    """Write ``out`` from the E4 export in ``folder``; returns a summary."""
    if not folder.is_dir():
        raise RecordingError(f"{folder} is not a folder")
    devices: list[DeviceEntry] = []
    records: list[ImportedRecord] = []
    starts = []
    read: list[str] = []
    for spec in E4_SIGNALS:
        if (folder / spec.file).exists():
            entry, signal_records, start = _sampled(folder, spec)
            devices.append(entry)
            records.extend(signal_records)
            starts.append(start)
            read.append(spec.file)
    if (folder / "IBI.csv").exists():
        entry, ibi_records, start = _ibi(folder)
        devices.append(entry)
        records.extend(ibi_records)
        starts.append(start)
        read.append("IBI.csv")
    if not devices:
        raise RecordingError(f"{folder}: no E4 files (EDA.csv, BVP.csv, ACC.csv, ...)")
    skipped: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name in read:
            continue
        if _TAG_FILE.match(path.name) and path.is_file():
            records.extend(_tags(path))
            read.append(path.name)
        else:
            skipped[path.name] = _skip_reason(path)
    header = RecordingHeader(
        format_version=INLINE_PROFILE_VERSION,
        patient_id=patient_id or import_patient_id("e4:" + folder.resolve().name),
        start_time_ns=min(starts),
        devices=devices,
        producer="vagus import e4",
        simulated=False,
        notes="imported from an Empatica E4 CSV export",
    )
    write_imported(out, header, in_time_order(records))
    return {
        "recording": str(out),
        "signals": [d.label for d in devices],
        "records": len(records),
        "read": read,
        "skipped": skipped,
    }
