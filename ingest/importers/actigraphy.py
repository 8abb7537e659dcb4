"""`vagus import actigraph` and `vagus import actiware`: epoch activity counts as a recording.

Each count column becomes a device of stream ``counts`` whose rate is one per epoch and whose
profile name states the count scale (``actigraph-axis1``, ``actiwatch-activity``), because the
sleep scorers were fitted on one scale only (dsp.sleep refuses the others). Clock times in these
exports carry no zone; they are taken as UTC and the notes say so. Epochs must be evenly spaced;
an Actiware epoch without a count (off-wrist, ``NaN``) is a gap in the stream, not a zero.
Columns that are not counts are named in the summary's ``skipped_columns`` with the reason.

ActiGraph (ActiLife CSV): an optional ten-line block (``Start Time``, ``Start Date``,
``Epoch Period (hh:mm:ss)``, ...) ended by a dashed line, then a column row (``Axis1,...``,
``Date,Time,Axis1,...`` or ``timestamp,axis1,...``) or, with the block, bare rows of
Axis1[,Axis2,Axis3[,Steps...]]. Actiware: ``Key:,value`` lines (``Epoch Length:``), then after
the ``Epoch-by-Epoch Data`` banner a ``Line,Date,Time,...,Activity,...`` row and the epochs.
Identity, birth date and serial numbers are never copied.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ingest.errors import RecordingError
from ingest.importers.channels import Channel, Run, write_channels

_COUNT_COLUMNS = {"actigraph": {"axis1", "axis2", "axis3"}, "actiwatch": {"activity"}}
_NOT_COUNTS = {
    "vm": "derived from the axes",
    "steps": "steps, not activity counts",
    "lux": "ambient light",
    "sleep or awake?": "ActiLife's own scoring, not counts",
    "vector magnitude": "derived from the axes",
}
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%y")
_TIME_FORMATS = ("%I:%M:%S %p", "%I:%M %p", "%H:%M:%S", "%H:%M")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read: {exc}") from exc


def _moment(date: str, time: str, where: str) -> datetime:
    for date_format in _DATE_FORMATS:
        for time_format in _TIME_FORMATS:
            try:
                return datetime.strptime(f"{date} {time}", f"{date_format} {time_format}").replace(
                    tzinfo=UTC
                )
            except ValueError:
                continue
    raise RecordingError(f"{where}: {date} {time} is not a date and time")


def _iso(stamp: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError as exc:
        raise RecordingError(f"{where}: {stamp!r} is not an ISO 8601 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _duration_s(text: str, where: str) -> float:
    parts = text.strip().split(":")
    try:
        seconds = float(sum(float(p) * 60**i for i, p in enumerate(reversed(parts))))
    except ValueError as exc:
        raise RecordingError(f"{where}: epoch {text!r} is not hh:mm:ss or seconds") from exc
    if not seconds > 0 or seconds == float("inf"):  # also NaN
        raise RecordingError(f"{where}: epoch {text!r} is not positive")
    return seconds


def _epoch_of(times: list[datetime], stated_s: set[float], path: Path) -> float:
    """The even spacing of ``times`` (seconds); it must be one of the stated readings, if any."""
    if len(times) < 2:
        if len(stated_s) != 1:
            raise RecordingError(f"{path}: one epoch and no unambiguous stated epoch length")
        return next(iter(stated_s))
    first_step = (times[1] - times[0]).total_seconds()
    for index, (a, b) in enumerate(itertools.pairwise(times)):
        if (b - a).total_seconds() != first_step:
            raise RecordingError(f"{path}: epochs are not evenly spaced (after epoch {index + 1})")
    if first_step <= 0 or (stated_s and first_step not in stated_s):
        stated = " or ".join(f"{v:g}" for v in sorted(stated_s))
        raise RecordingError(f"{path}: epochs {first_step:g} s apart, the header says {stated} s")
    return first_step


def _counts(values: list[str], where: str) -> np.ndarray:
    try:
        counts = np.asarray([float(v) for v in values], dtype=np.float64)
    except ValueError as exc:
        raise RecordingError(f"{where}: {exc}") from exc
    finite = counts[np.isfinite(counts)]
    if (finite < 0).any() or not np.array_equal(finite, np.rint(finite)):
        raise RecordingError(f"{where}: counts must be whole and non-negative")
    if (finite >= 2**31).any():
        raise RecordingError(f"{where}: a count of {finite.max():g} is not plausible")
    return counts


def _runs(start_ns: int, epoch_s: float, present: np.ndarray) -> tuple[Run, ...]:
    """Runs of epochs that have a count, each at its own epoch time (NaN epochs are gaps)."""
    runs, first_kept = [], 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], present.astype(np.int8), [0]))))
    for begin, end in zip(edges[0::2], edges[1::2], strict=True):
        runs.append(Run(start_ns + round(begin * epoch_s * 1e9), first_kept, int(end - begin)))
        first_kept += int(end - begin)
    return tuple(runs)


def _channels(
    columns: dict[str, list[str]],
    *,
    scale: str,
    device: str,
    epoch_s: float,
    start_ns: int,
    path: Path,
) -> tuple[list[Channel], dict[str, str]]:
    channels, skipped = [], {}
    for name, values in columns.items():
        key = name.strip().lower()
        if key not in _COUNT_COLUMNS[scale]:
            posture = "inclinometer time per posture, not counts"
            reason = posture if key.startswith("incline") else "not an activity count column"
            skipped[name] = _NOT_COUNTS.get(key, reason)
            continue
        counts = _counts(values, f"{path} column {name}")
        present = np.isfinite(counts)
        label = f"{device} {name.strip()}"
        channels.append(
            Channel(
                label=label,
                units="counts",
                rate_hz=1.0 / epoch_s,
                raw=counts[present].astype(np.int64),
                runs=_runs(start_ns, epoch_s, present),
                stream="counts",
                profile_name=f"{scale}-{key.replace(' ', '-')}",
            )
        )
    if not channels:
        raise RecordingError(f"{path}: no activity count column ({', '.join(columns)})")
    return channels, skipped


def _table(lines: list[str], path: Path, first_line: int) -> tuple[list[str], list[list[str]]]:
    rows = [r for r in csv.reader(io.StringIO("\n".join(lines)))]
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise RecordingError(f"{path}: no epochs")
    header, body = [c.strip() for c in rows[0]], rows[1:]
    while header and not header[-1]:
        header.pop()
    for number, row in enumerate(body, start=first_line + 2):  # first_line: the header's index
        cells = row[: len(header)]
        if len(cells) != len(header) or any(c.strip() for c in row[len(header) :]):
            raise RecordingError(f"{path}: line {number} has {len(row)} columns, not {len(header)}")
    return header, [[c.strip() for c in row[: len(header)]] for row in body]


def _actilife_block(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """ActiLife's header block as {key: value} and the index of the line after it."""
    if not lines or not lines[0].startswith("---"):
        return {}, 0
    block: dict[str, str] = {}
    for index, line in enumerate(lines[1:], start=1):
        if line.startswith("---"):
            return block, index + 1
        match = re.match(r"^(Start Time|Start Date|Epoch Period \(hh:mm:ss\))\s+(.+)$", line)
        if match:
            block[match[1]] = match[2].strip().strip(",")
    raise RecordingError(f"{path}: the ActiLife header block has no closing dashed line")


def read_actigraph(path: Path) -> tuple[list[Channel], dict[str, str], int, float]:
    """Channels, skipped columns, start (ns) and epoch (s) of an ActiLife CSV export."""
    lines = _read_text(path).splitlines()
    block, first = _actilife_block(lines, path)
    stated_s: set[float] = set()
    if block:
        for key in ("Start Time", "Start Date", "Epoch Period (hh:mm:ss)"):
            if key not in block:
                raise RecordingError(f"{path}: the ActiLife header has no {key!r} line")
        stated_s = {_duration_s(block["Epoch Period (hh:mm:ss)"], str(path))}
        body = lines[first:]
        if body and re.match(r"^\s*-?\d", body[0]):  # bare rows: name them as ActiLife does
            width = len(body[0].split(","))
            names = ["Axis1", "Axis2", "Axis3", "Steps"][:width]
            names += [f"column {i + 1}" for i in range(len(names), width)]
            body = [",".join(names), *body]
            first -= 1  # the column row is not in the file
    else:
        body = lines
    header, rows = _table(body, path, first)
    lowered = [h.lower() for h in header]
    if "timestamp" in lowered:
        column = lowered.index("timestamp")
        times = [_iso(r[column], f"{path} line {i + first + 2}") for i, r in enumerate(rows)]
        drop = {header[column]}
    elif "date" in lowered and "time" in lowered:
        d, t = lowered.index("date"), lowered.index("time")
        times = [_moment(r[d], r[t], f"{path} line {i + first + 2}") for i, r in enumerate(rows)]
        drop = {header[d], header[t]}
    elif block:
        start = _moment(block["Start Date"], block["Start Time"], str(path))
        epoch = next(iter(stated_s))
        times = [start + timedelta(seconds=epoch * i) for i in range(len(rows))]
        drop = set()
    else:
        raise RecordingError(f"{path}: no ActiLife header and no timestamp or Date/Time column")
    epoch_s = _epoch_of(times, stated_s, path)
    start_ns = int(times[0].timestamp()) * 10**9 if times else 0
    columns = {h: [r[i] for r in rows] for i, h in enumerate(header) if h not in drop}
    channels, skipped = _channels(
        columns,
        scale="actigraph",
        device="ActiGraph",
        epoch_s=epoch_s,
        start_ns=start_ns,
        path=path,
    )
    return channels, skipped, start_ns, epoch_s


_BANNER = re.compile(r"^\W*-+\s*Epoch-by-Epoch Data\s*-+\W*$")


def read_actiware(path: Path) -> tuple[list[Channel], dict[str, str], int, float]:
    """Channels, skipped columns, start (ns) and epoch (s) of an Actiware CSV export."""
    lines = _read_text(path).splitlines()
    stated_s: set[float] = set()
    banner = None
    for index, line in enumerate(lines):
        cells = next(csv.reader([line]), [])
        if cells and cells[0].strip() == "Epoch Length:" and len(cells) > 1 and cells[1].strip():
            value = cells[1].strip()
            number = _duration_s(value, f"{path} line {index + 1}")
            # hh:mm:ss is unambiguous; a bare number is read as seconds or as minutes
            stated_s = {number} if ":" in value else {number, number * 60}
        if _BANNER.match(line.strip()):
            banner = index
            break
    if banner is None:
        raise RecordingError(f"{path}: no 'Epoch-by-Epoch Data' section: not an Actiware export")
    start = next(
        (
            i
            for i in range(banner + 1, len(lines))
            if lines[i].strip().strip('"').startswith("Line")
        ),
        None,
    )
    if start is None:
        raise RecordingError(f"{path}: the epoch section has no 'Line,Date,Time,...' row")
    header, rows = _table(lines[start:], path, start)
    rows = [r for r in rows if any(r)]
    lowered = [h.lower() for h in header]
    if "date" not in lowered or "time" not in lowered or "activity" not in lowered:
        raise RecordingError(f"{path}: the epoch rows need Date, Time and Activity columns")
    d, t = lowered.index("date"), lowered.index("time")
    times = [_moment(r[d], r[t], f"{path} line {i + start + 2}") for i, r in enumerate(rows)]
    epoch_s = _epoch_of(times, stated_s, path)
    start_ns = int(times[0].timestamp()) * 10**9
    columns = {
        h: [r[i] if r[i] else "nan" for r in rows]
        for i, h in enumerate(header)
        if h.lower() not in {"line", "date", "time"}
    }
    channels, skipped = _channels(
        columns,
        scale="actiwatch",
        device="Actiwatch",
        epoch_s=epoch_s,
        start_ns=start_ns,
        path=path,
    )
    return channels, skipped, start_ns, epoch_s


def import_actigraphy(
    path: Path, out: Path, *, vendor: str, patient_id: str | None = None
) -> dict[str, object]:
    """Write ``out`` from an ActiGraph (``vendor="actigraph"``) or Actiware export."""
    reader = read_actigraph if vendor == "actigraph" else read_actiware
    channels, skipped, start_ns, epoch_s = reader(path)
    summary = write_channels(
        out,
        fmt=vendor,
        source=f"{vendor}:{path.name}",
        channels=channels,
        markers=[],
        start_ns=start_ns,
        patient_id=patient_id,
        notes=f"imported from a {vendor} CSV export, {epoch_s:g} s epochs; clock times without "
        "a zone taken as UTC",
    )
    summary["epoch_s"] = epoch_s
    summary["skipped_columns"] = skipped
    return summary
