"""Any single-segment WFDB record through the `wfdb` package (the `formats` extra).

ingest.importers.wfdb reads format 212 alone, fast and without pandas, for the validation code;
importing a user's record needs every storage format (8, 16, 24, 32, 80, 160, 212, 310, 311 and
the FLAC formats 508/516/524; 61 fails inside the package and is refused by name), several
samples per frame, and records that are only an annotation file beside a header with no
signals (e.g. NSR2DB's ``nsr001.ecg``). The package reads the digital (ADC) integers; this
module adds what it lacks for an import that loses nothing: a byte count check before decoding
(a truncated file otherwise fails with a numpy broadcast error), the header checksums, and one
RecordingError type naming the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ingest.errors import RecordingError

#: Bits per stored sample of the formats with a fixed size (FLAC formats are variable).
_BITS = {8: 8, 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 160: 16, 212: 12, 310: 32 / 3, 311: 32 / 3}
#: What the wfdb package raises on input it cannot parse (it has no single error type).
_PACKAGE_ERRORS = (ValueError, IndexError, KeyError, TypeError, AttributeError, EOFError)


@dataclass(frozen=True, slots=True)
class DigitalChannel:
    """One signal as stored: ADC integers at ``rate_hz`` (record rate x samples per frame)."""

    name: str
    storage_format: str
    gain: float  # ADC units per physical unit
    baseline: int
    units: str
    rate_hz: float
    adc: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class DigitalRecord:
    """A record's channels (none for an annotation-only record) and its header facts."""

    record_name: str
    fs: float
    n_frames: int
    channels: tuple[DigitalChannel, ...]
    base_time: datetime | None  # the header's base date and time, as UTC, when it has both


def _wfdb() -> Any:
    try:
        import wfdb  # noqa: PLC0415 - optional and heavy (pandas); only an import needs it
    except ImportError as exc:
        raise RecordingError(
            "reading WFDB records needs the wfdb package: pip install 'vagus[formats]'"
        ) from exc
    return wfdb


def _check_sizes(folder: Path, header: Any) -> None:
    """Each signal file holds at least the bytes its header promises (fixed-size formats)."""
    if header.sig_len is None:
        return  # the header leaves the length to the file's size
    needed: dict[str, tuple[int, float]] = {}
    for index, file_name in enumerate(header.file_name):
        fmt = int(header.fmt[index])
        if fmt not in _BITS:
            continue
        offset = int((header.byte_offset or [None] * header.n_sig)[index] or 0)
        bits = needed.get(file_name, (offset, 0.0))[1]
        needed[file_name] = (offset, bits + _BITS[fmt] * int(header.samps_per_frame[index]))
    for file_name, (offset, bits_per_frame) in needed.items():
        path = folder / file_name
        if not path.is_file():
            raise RecordingError(f"{path}: signal file is missing")
        want = offset + math.ceil(bits_per_frame * int(header.sig_len) / 8)
        have = path.stat().st_size
        if have < want:
            raise RecordingError(f"{path}: {have} bytes, the header needs {want} (truncated?)")


def _check_text(hea: Path) -> None:
    """A header is printable text; the package reads a NUL or binary noise into odd fields."""
    try:
        text = hea.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{hea}: not a text header: {exc}") from exc
    if any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        raise RecordingError(f"{hea}: control characters in the header (a damaged file?)")


def _base_time(header: Any) -> datetime | None:
    if header.base_date is None or header.base_time is None:
        return None
    return datetime.combine(header.base_date, header.base_time, tzinfo=UTC)


def read_digital(record: Path) -> DigitalRecord:
    """The record at ``record`` (path without extension) as ADC integers, checksums verified."""
    hea = record.with_suffix(".hea")
    if not hea.is_file():
        raise RecordingError(f"{hea}: no such header file")
    _check_text(hea)
    wfdb = _wfdb()
    try:
        header = wfdb.rdheader(str(record))
    except (*_PACKAGE_ERRORS, OSError) as exc:
        raise RecordingError(f"{hea}: not a readable WFDB header: {exc}") from exc
    if isinstance(header, wfdb.MultiRecord):
        raise RecordingError(f"{hea}: multi-segment records are not supported; import a segment")
    if not header.fs or header.fs <= 0:
        raise RecordingError(f"{hea}: sampling frequency {header.fs} is not positive")
    base_time = _base_time(header)
    if not header.n_sig:
        return DigitalRecord(header.record_name, float(header.fs), 0, (), base_time)
    if "61" in [str(f) for f in header.fmt]:
        # wfdb 4.3.1 reads big-endian samples, then fails converting their dtype ('>i2')
        raise RecordingError(f"{hea}: format 61 (big-endian 16-bit) is not readable yet")
    _check_sizes(hea.parent, header)
    try:
        data = wfdb.rdrecord(str(record), physical=False, smooth_frames=False, return_res=64)
    except (*_PACKAGE_ERRORS, OSError) as exc:
        raise RecordingError(f"{record}: the wfdb package could not read it: {exc}") from exc
    channels = []
    for index, adc in enumerate(data.e_d_signal):
        per_frame = int(data.samps_per_frame[index])
        values = np.asarray(adc, dtype=np.int64)
        name = (data.sig_name or [None] * data.n_sig)[index] or f"signal {index}"
        if values.size != data.sig_len * per_frame:
            raise RecordingError(
                f"{record}: signal {name!r} has {values.size} samples, "
                f"the header says {data.sig_len * per_frame}"
            )
        checksum = (data.checksum or [None] * data.n_sig)[index]
        if checksum is not None and int(values.sum()) % 65536 != int(checksum) % 65536:
            raise RecordingError(f"{record}: checksum mismatch for signal {name!r}")
        gain = float(data.adc_gain[index]) or 200.0  # WFDB: a gain of 0 means the default
        channels.append(
            DigitalChannel(
                name=name,
                storage_format=str(data.fmt[index]),
                gain=gain,
                baseline=int(data.baseline[index]),
                units=data.units[index] or "mV",
                rate_hz=float(data.fs) * per_frame,
                adc=values,
            )
        )
    return DigitalRecord(
        data.record_name, float(data.fs), int(data.sig_len), tuple(channels), base_time
    )


@dataclass(frozen=True, slots=True)
class PackageAnnotations:
    """Annotations at the annotation file's own rate: sample, symbol, aux note per label."""

    sample: npt.NDArray[np.int64]
    symbol: tuple[str, ...]
    aux_note: tuple[str, ...]
    fs: float | None


def read_annotations_any(record: Path, extension: str) -> PackageAnnotations:
    """``record.<extension>`` in any WFDB annotation format the package reads."""
    path = record.with_suffix(f".{extension}")
    wfdb = _wfdb()
    try:
        annotation = wfdb.rdann(str(record), extension)
    except (*_PACKAGE_ERRORS, OSError) as exc:
        raise RecordingError(f"{path}: not a readable WFDB annotation file: {exc}") from exc
    symbols = tuple(str(s) for s in annotation.symbol)
    notes = tuple(str(n or "") for n in (annotation.aux_note or [""] * len(symbols)))
    fs = float(annotation.fs) if annotation.fs else None
    return PackageAnnotations(np.asarray(annotation.sample, dtype=np.int64), symbols, notes, fs)
