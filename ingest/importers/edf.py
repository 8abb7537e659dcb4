"""`vagus import edf`: EDF and EDF+ (continuous or discontinuous) with annotations.

EDF (Kemp et al. 1992) and EDF+ (Kemp and Olivan 2003): a 256-byte ASCII header, 256 bytes per
signal, then data records holding each signal's int16 samples in turn. Physical values are
``(digital - dmin) * (pmax - pmin) / (dmax - dmin) + pmin``; the integers are stored untouched
with that map as scale and offset. An ``EDF Annotations`` signal holds time-stamped annotation
lists (TALs): the first TAL of each record keeps time (its onset is the record's start, which is
how EDF+D marks gaps), the rest become markers ``edf:TEXT``. Patient and recording fields name
people, so none of them is copied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.errors import RecordingError
from ingest.importers.channels import Channel, Run, write_channels
from ingest.recording import Marker

_SIGNAL_FIELDS = (16, 80, 8, 8, 8, 8, 8, 80, 8, 32)  # label ... samples per record, reserved
_ANNOTATIONS = "EDF Annotations"
_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.DOTALL)


def _ascii(blob: bytes, where: str) -> str:
    try:
        return blob.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise RecordingError(f"{where}: not ASCII, not an EDF header") from exc


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise RecordingError(f"{where}: {text!r} is not a number") from exc
    if not math.isfinite(value):
        raise RecordingError(f"{where}: {text!r} is not a finite number")
    return value


def _start_ns(date: str, time: str, where: str) -> int:
    try:
        day, month, year = (int(p) for p in date.split("."))
        hour, minute, second = (int(p) for p in time.split("."))
        year += 1900 if year >= 85 else 2000  # EDF's clipping date: 1985-2084
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise RecordingError(f"{where}: start {date} {time} is not dd.mm.yy hh.mm.ss") from exc
    return int(moment.timestamp()) * 10**9


@dataclass(frozen=True, slots=True)
class EdfHeader:
    reserved: str
    n_records: int
    duration_s: float
    labels: list[str]
    units: list[str]
    pmin: npt.NDArray[np.float64]
    pmax: npt.NDArray[np.float64]
    dmin: npt.NDArray[np.float64]
    dmax: npt.NDArray[np.float64]
    per_record: npt.NDArray[np.int64]
    header_bytes: int


def read_edf_header(data: bytes, path: Path) -> EdfHeader:
    """The fixed and per-signal header fields, checked against the file's size."""
    if len(data) < 256 or data[:8] != b"0       ":
        raise RecordingError(f"{path}: not an EDF file (no '0' version field)")
    _ascii(data[:256], str(path))
    header_bytes = int(_number(_ascii(data[184:192], str(path)), f"{path} header size"))
    reserved = _ascii(data[192:236], str(path))
    n_records = int(_number(_ascii(data[236:244], str(path)), f"{path} record count"))
    duration_s = _number(_ascii(data[244:252], str(path)), f"{path} record duration")
    n_signals = int(_number(_ascii(data[252:256], str(path)), f"{path} signal count"))
    if n_signals < 1 or header_bytes != 256 * (n_signals + 1) or len(data) < header_bytes:
        raise RecordingError(f"{path}: header size {header_bytes} does not fit {n_signals} signals")
    fields: list[list[str]] = []
    position = 256
    for width in _SIGNAL_FIELDS:
        fields.append(
            [
                _ascii(data[position + i * width : position + (i + 1) * width], str(path))
                for i in range(n_signals)
            ]
        )
        position += width * n_signals
    numbers = [[_number(v, f"{path} signal field") for v in fields[k]] for k in (3, 4, 5, 6, 8)]
    pmin, pmax, dmin, dmax, per_record_f = (np.asarray(n, dtype=np.float64) for n in numbers)
    per_record = per_record_f.astype(np.int64)
    if duration_s <= 0 or (per_record <= 0).any() or (dmax <= dmin).any() or (pmax == pmin).any():
        raise RecordingError(f"{path}: record duration, samples or ranges are not valid")
    record_bytes = int(per_record.sum()) * 2
    body = len(data) - header_bytes
    if n_records < 0:
        n_records = body // record_bytes
    if n_records == 0:
        raise RecordingError(f"{path}: no data records")
    if body < n_records * record_bytes:
        raise RecordingError(
            f"{path}: {body} data bytes, the header needs {n_records * record_bytes} (truncated?)"
        )
    if body > n_records * record_bytes:
        raise RecordingError(
            f"{path}: {body - n_records * record_bytes} bytes after the last record"
        )
    return EdfHeader(
        reserved,
        n_records,
        duration_s,
        fields[0],
        fields[2],
        pmin,
        pmax,
        dmin,
        dmax,
        per_record,
        header_bytes,
    )


def import_edf(path: Path, out: Path, *, patient_id: str | None = None) -> dict[str, object]:
    """Write ``out`` from the EDF/EDF+ file at ``path``; returns a summary."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    h = read_edf_header(data, path)
    reserved, n_records, duration_s, labels = h.reserved, h.n_records, h.duration_s, h.labels
    pmin, pmax, dmin, dmax, per_record = h.pmin, h.pmax, h.dmin, h.dmax, h.per_record
    header_bytes, record_bytes, n_signals = h.header_bytes, int(per_record.sum()) * 2, len(labels)
    units = h.units
    start_ns = _start_ns(
        _ascii(data[168:176], str(path)), _ascii(data[176:184], str(path)), str(path)
    )
    samples = np.frombuffer(
        data, dtype="<i2", count=n_records * record_bytes // 2, offset=header_bytes
    ).reshape(n_records, -1)
    bounds = np.concatenate([[0], np.cumsum(per_record)])
    annotation_columns = [i for i, label in enumerate(labels) if label == _ANNOTATIONS]
    plus = reserved.startswith("EDF+")
    if annotation_columns and not plus:
        raise RecordingError(f"{path}: an 'EDF Annotations' signal in a file not marked EDF+")
    onsets_s = [r * duration_s for r in range(n_records)]
    markers: list[Marker] = []
    for column in annotation_columns:
        for record in range(n_records):
            tals = samples[record, bounds[column] : bounds[column + 1]].tobytes()
            onset, found = _read_tals(tals, start_ns, f"{path} record {record}")
            if column == annotation_columns[0]:
                if onset is None:
                    raise RecordingError(f"{path} record {record}: no time-keeping annotation")
                onsets_s[record] = onset
            markers.extend(found)
    if reserved.startswith("EDF+C") and any(
        abs(o - r * duration_s) > 1e-6 for r, o in enumerate(onsets_s)
    ):
        raise RecordingError(f"{path}: marked continuous (EDF+C) but its records have gaps")
    channels = []
    for column in range(n_signals):
        if column in annotation_columns:
            continue
        scale = (pmax[column] - pmin[column]) / (dmax[column] - dmin[column])
        raw = samples[:, bounds[column] : bounds[column + 1]].astype(np.int64)
        count = int(per_record[column])
        runs = tuple(
            Run(start_ns + round(onsets_s[r] * 1e9), r * count, count) for r in range(n_records)
        )
        channels.append(
            Channel(
                label=labels[column],
                units=units[column],
                rate_hz=count / duration_s,
                raw=raw.ravel(),
                scale=float(scale),
                offset=float(pmin[column] - dmin[column] * scale),
                runs=_merged(runs, count / duration_s),
            )
        )
    if not channels:
        raise RecordingError(f"{path}: no signals besides annotations")
    summary = write_channels(
        out,
        fmt="edf",
        source=f"edf:{path.name}",
        channels=channels,
        markers=markers,
        start_ns=start_ns,
        patient_id=patient_id,
        notes=f"imported from {'EDF+' if plus else 'EDF'} ({reserved[:5] or 'EDF'}), "
        f"{n_records} records of {duration_s:g} s",
    )
    return summary


def _read_tals(tals: bytes, start_ns: int, where: str) -> tuple[float | None, list[Marker]]:
    """The record's time-keeping onset (s) and its other annotations as markers."""
    keeping: float | None = None
    markers: list[Marker] = []
    for match in _TAL.finditer(tals.rstrip(b"\x00") + b"\x00"):
        onset = float(match[1])
        texts = [t for t in match[3].split(b"\x14") if t]
        if keeping is None and not texts:
            keeping = onset
            continue
        for text in texts:
            label = text.decode("utf-8", errors="replace")
            detail = f"duration {match[2].decode()} s" if match[2] else ""
            markers.append(Marker(start_ns + round(onset * 1e9), f"edf:{label}", detail))
    if tals.strip(b"\x00") and keeping is None and not markers:
        raise RecordingError(f"{where}: annotation bytes that are not time-stamped lists")
    return keeping, markers


def _merged(runs: tuple[Run, ...], rate_hz: float) -> tuple[Run, ...]:
    """Consecutive records without a gap as one run, so frames are not cut at each record."""
    merged: list[Run] = []
    for run in runs:
        if merged:
            last = merged[-1]
            expected = last.start_ns + round(last.count / rate_hz * 1e9)
            if run.start_ns == expected and run.first == last.first + last.count:
                merged[-1] = Run(last.start_ns, last.first, last.count + run.count)
                continue
        merged.append(run)
    return tuple(merged)
