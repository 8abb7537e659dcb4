"""A minimal WFDB (PhysioNet) reader: header, format 212 signals, MIT annotations.

Enough to validate the ECG code against cardiologist-annotated records such as MIT-BIH, without
the wfdb package (which drags in pandas and matplotlib). Anything malformed raises
RecordingError naming the file and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.errors import RecordingError

# MIT annotation codes 0-41 (wfdb ecgcodes.h); "" marks unused codes.
_SYMBOLS = (
    " ", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "~", "", "|", "",
    "s", "T", "*", "D", '"', "=", "p", "B", "^", "t", "+", "u", "?", "!", "[", "]", "e", "n",
    "@", "x", "f", "(", ")", "r",
)  # fmt: skip
BEAT_SYMBOLS = frozenset("NLRBaJASVrFejnE/fQ?")  # annotation symbols that mark a heartbeat
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63
_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}
_SIGNAL_SPEC = re.compile(r"^(?P<fmt>\d+)(?:x\d+)?(?::\d+)?(?:\+(?P<offset>\d+))?$")
_GAIN_SPEC = re.compile(r"^(?P<gain>[-+\d.eE]+)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?$")


@dataclass(frozen=True, slots=True)
class WfdbSignal:
    """One signal line of a header: where its samples are and how ADC units map to physical."""

    file_name: str
    fmt: int
    byte_offset: int
    gain: float  # ADC units per physical unit
    baseline: int
    units: str
    checksum: int | None
    description: str


@dataclass(frozen=True, slots=True)
class WfdbHeader:
    record_name: str
    fs: float
    n_samples: int
    signals: tuple[WfdbSignal, ...]


@dataclass(frozen=True, slots=True)
class WfdbRecord:
    """Physical samples in mV, shape (n_samples, n_leads), with lead names in column order."""

    fs: float
    lead_names: tuple[str, ...]
    signals_mv: npt.NDArray[np.float64]

    def lead(self, name: str) -> npt.NDArray[np.float64]:
        """The column of one lead by its header description (e.g. "MLII")."""
        try:
            column: npt.NDArray[np.float64] = self.signals_mv[:, self.lead_names.index(name)]
            return column
        except ValueError:
            raise KeyError(f"no lead {name!r}; leads are {self.lead_names}") from None


@dataclass(frozen=True, slots=True)
class WfdbAnnotations:
    """Annotation sample indices (int64, at the record's rate) and their symbols."""

    sample: npt.NDArray[np.int64]
    symbol: tuple[str, ...]

    def beats(self) -> npt.NDArray[np.int64]:
        """Samples of beat annotations only (rhythm changes, noise notes etc. dropped)."""
        mask = np.fromiter((s in BEAT_SYMBOLS for s in self.symbol), bool, len(self.symbol))
        beats: npt.NDArray[np.int64] = self.sample[mask]
        return beats


def _parse_signal(path: Path, line: str) -> WfdbSignal:
    fields = line.split(maxsplit=8)
    if len(fields) < 2 or not (spec := _SIGNAL_SPEC.match(fields[1])):
        raise RecordingError(f"{path}: malformed signal line {line!r}")
    gain, baseline, units = 200.0, None, "mV"
    if len(fields) > 2:
        if not (g := _GAIN_SPEC.match(fields[2])):
            raise RecordingError(f"{path}: malformed gain field {fields[2]!r}")
        gain = float(g["gain"]) or 200.0  # WFDB: a gain of 0 means the default, 200
        baseline = int(g["baseline"]) if g["baseline"] else None
        units = g["units"] or "mV"
    try:
        adc_zero = int(fields[4]) if len(fields) > 4 else 0
        checksum = int(fields[6]) if len(fields) > 6 else None
    except ValueError as exc:
        raise RecordingError(f"{path}: malformed signal line {line!r}") from exc
    return WfdbSignal(
        file_name=fields[0],
        fmt=int(spec["fmt"]),
        byte_offset=int(spec["offset"] or 0),
        gain=gain,
        baseline=adc_zero if baseline is None else baseline,
        units=units,
        checksum=checksum,
        description=fields[8] if len(fields) > 8 else f"signal{fields[0]}",
    )


def read_header(path: str | Path) -> WfdbHeader:
    """Parse a single-segment .hea file (comments and blank lines are skipped)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read header: {exc}") from exc
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise RecordingError(f"{path}: empty header")
    record = lines[0].split()
    if len(record) < 4 or "/" in record[0]:
        raise RecordingError(f"{path}: need 'name nsig fs nsamp' (single segment): {lines[0]!r}")
    try:
        n_signals = int(record[1])
        fs = float(record[2].split("/")[0].split("(")[0])
        n_samples = int(record[3])
    except ValueError as exc:
        raise RecordingError(f"{path}: malformed record line {lines[0]!r}") from exc
    if fs <= 0 or n_samples < 0 or len(lines) - 1 < n_signals:
        raise RecordingError(f"{path}: bad rate, length or signal count in {lines[0]!r}")
    signals = tuple(_parse_signal(path, ln) for ln in lines[1 : 1 + n_signals])
    return WfdbHeader(record[0], fs, n_samples, signals)


def _decode_212(raw: npt.NDArray[np.uint8], n_values: int) -> npt.NDArray[np.int64]:
    """Format 212: two 12-bit two's-complement samples packed in three bytes."""
    triples = np.zeros(((n_values + 1) // 2) * 3, dtype=np.int64)
    triples[: min(raw.size, triples.size)] = raw[: triples.size]
    b = triples.reshape(-1, 3)
    out = np.empty(b.shape[0] * 2, dtype=np.int64)
    out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    out[out > 2047] -= 4096
    return out[:n_values]


def read_adc(path: str | Path) -> tuple[WfdbHeader, npt.NDArray[np.int64]]:
    """The header and the raw ADC integers, shape (n_samples, n_signals), checksums verified.

    Importers keep these integers (not the float mV) so that exact values survive a recording.
    """
    hea = Path(path).with_suffix(".hea")
    header = read_header(hea)
    if not header.signals:
        raise RecordingError(f"{hea}: record has no signals")
    files = {(s.file_name, s.fmt, s.byte_offset) for s in header.signals}
    if len(files) != 1 or header.signals[0].fmt != 212:
        raise RecordingError(f"{hea}: only one shared format-212 signal file is supported")
    spec0 = header.signals[0]
    dat = hea.parent / spec0.file_name
    try:
        raw = np.fromfile(dat, dtype=np.uint8)[spec0.byte_offset :]
    except OSError as exc:
        raise RecordingError(f"{dat}: cannot read signal file: {exc}") from exc
    n_sig = len(header.signals)
    n_values = header.n_samples * n_sig
    if raw.size < (n_values * 3 + 1) // 2:
        raise RecordingError(f"{dat}: {raw.size} bytes, need {(n_values * 3 + 1) // 2}")
    adc = _decode_212(raw, n_values).reshape(header.n_samples, n_sig)
    for i, s in enumerate(header.signals):
        if s.checksum is not None and int(adc[:, i].sum()) % 65536 != s.checksum % 65536:
            raise RecordingError(f"{dat}: checksum mismatch for signal {s.description!r}")
    return header, adc


def millivolts_per_unit(signal: WfdbSignal, where: Path | str) -> float:
    """Factor from the signal's physical unit to mV (RecordingError if it is not a voltage)."""
    scale = _TO_MV.get(signal.units.lower())
    if scale is None:
        raise RecordingError(
            f"{where}: signal {signal.description!r} is in {signal.units}, not a voltage"
        )
    return scale


def read_record(path: str | Path) -> WfdbRecord:
    """Read a record (path with or without .hea) whose signals share one format-212 file."""
    header, adc = read_adc(path)
    hea = Path(path).with_suffix(".hea")
    columns = []
    for i, s in enumerate(header.signals):
        scale = millivolts_per_unit(s, hea)
        columns.append((adc[:, i] - s.baseline) / s.gain * scale)
    names = tuple(s.description for s in header.signals)
    return WfdbRecord(header.fs, names, np.column_stack(columns).astype(np.float64))


def read_annotations(path: str | Path) -> WfdbAnnotations:
    """Read an MIT-format annotation file (e.g. 100.atr): samples and symbols, in file order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read annotations: {exc}") from exc
    if len(data) % 2:
        raise RecordingError(f"{path}: odd length, not an MIT annotation file")
    words = np.frombuffer(data, dtype="<u2")
    samples: list[int] = []
    symbols: list[str] = []
    t, i = 0, 0
    while i < words.size:
        code, value = int(words[i]) >> 10, int(words[i]) & 0x3FF
        i += 1
        if code == 0 and value == 0:
            return WfdbAnnotations(np.asarray(samples, dtype=np.int64), tuple(symbols))
        if code == _SKIP:
            if i + 2 > words.size:
                raise RecordingError(f"{path}: truncated SKIP")
            skip = (int(words[i]) << 16) | int(words[i + 1])  # PDP-11 order: high word first
            t += skip - (1 << 32) if skip >= 1 << 31 else skip
            i += 2
        elif code == _AUX:
            i += (value + 1) // 2
        elif code in (_NUM, _SUB, _CHN):
            continue
        elif code < len(_SYMBOLS) and _SYMBOLS[code]:
            t += value
            samples.append(t)
            symbols.append(_SYMBOLS[code])
        else:
            raise RecordingError(f"{path}: unknown annotation code {code} at word {i - 1}")
    raise RecordingError(f"{path}: no end-of-file marker")
