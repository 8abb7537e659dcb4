"""A resonance-breathing assessment from a recording, ready to become the patient's policy.

Why: dsp.hrv.resonance estimates the pace at which a patient's heart rate swings most, from RR
intervals recorded while they breathe at several paces. This module turns a vagus recording of
that protocol into those segments, with the same decoders live data uses, so a clinician can
review the estimate and publish it as ``resonance_breaths_per_min`` through the audited policy
path (``vagus resonance assess ... --apply``).

Beats: the device's own inter-beat intervals when the recording has them (Heart Rate
Measurement RR, an imported E4 IBI file), otherwise R-peaks detected in the ECG stream.
Segments: markers labelled ``pace=<breaths/min>`` at each segment's start (and ``pace=end``
after the last), or a schedule given on the command line (paces in order, each lasting
``segment_s``, from ``start_s`` into the recording).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dsp.ecg import detect_r_peaks
from dsp.hrv import PacedSegment, ResonanceEstimate, estimate_resonance
from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError, RecordingError
from ingest.recording import DeviceRecord, Marker, NotificationRecord, RecordingReader

IntArray = npt.NDArray[np.int64]
#: Streams of inter-beat intervals stamped at their beat: Heart Rate Measurement RR, E4 IBI,
#: an optical sensor's pulse-to-pulse intervals (a band's PMD PPI, an armband's HRS intervals).
_INTERVAL_STREAMS = ("rr", "ibi", "ppi")
_PACE_MARKER = re.compile(r"^pace=(end|\d+(?:\.\d+)?)$")


@dataclass(frozen=True, slots=True)
class Schedule:
    """Paces in protocol order, each ``segment_s`` long, the first starting ``start_s`` in."""

    paces: tuple[float, ...]
    segment_s: float
    start_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.paces:
            raise ValueError("a schedule needs at least one pace")
        if self.segment_s <= 0 or self.start_s < 0:
            raise ValueError("segment_s must be positive and start_s not negative")


@dataclass(frozen=True, slots=True)
class Assessment:
    estimate: ResonanceEstimate
    beat_source: str  # "device intervals (rr)" or "ECG R-peaks at <rate> Hz"
    beats: int
    decode_errors: int


@dataclass
class _Decoded:
    streams: dict[str, list[tuple[IntArray, npt.NDArray[np.float64], float | None]]]
    markers: list[Marker]
    start_ns: int
    decode_errors: int


def _decode(path: Path) -> _Decoded:
    reader = RecordingReader(path)
    decoders = DecoderSet.of_recording(reader.header)
    streams: dict[str, list[tuple[IntArray, npt.NDArray[np.float64], float | None]]]
    streams = defaultdict(list)
    markers: list[Marker] = []
    errors = 0
    for record in reader:
        if isinstance(record, Marker):
            markers.append(record)
        elif isinstance(record, DeviceRecord):
            decoders.declare(record.device)
        elif isinstance(record, NotificationRecord):
            try:
                blocks = decoders.decode(record)
            except DecodeError:
                errors += 1  # counted and reported; the beats around it still count
                continue
            for block in blocks:
                streams[block.stream].append((block.times_ns, block.values, block.rate_hz))
    return _Decoded(streams, markers, reader.header.start_time_ns, errors)


def beat_times(decoded: _Decoded) -> tuple[IntArray, str]:
    """Beat times (ns, increasing) and where they came from."""
    for name in _INTERVAL_STREAMS:
        if decoded.streams.get(name):
            times = np.concatenate([t for t, _, _ in decoded.streams[name]])
            return np.unique(times), f"device intervals ({name})"
    ecg = decoded.streams.get("ecg")
    if not ecg:
        raise RecordingError("the recording has neither beat intervals nor an ECG stream")
    times = np.concatenate([t for t, _, _ in ecg])
    values = np.concatenate([v for _, v, _ in ecg])
    rate = ecg[0][2] or (len(times) - 1) / ((times[-1] - times[0]) / 1e9)
    order = np.argsort(times, kind="stable")
    peaks = detect_r_peaks(values[order], float(rate))
    return np.unique(times[order][peaks]), f"ECG R-peaks at {rate:g} Hz"


def _windows_from_markers(markers: Sequence[Marker]) -> list[tuple[float, int, int]]:
    marks = [(m.gateway_time_ns, _PACE_MARKER.match(m.label)) for m in markers]
    paced = [(t, match.group(1)) for t, match in marks if match is not None]
    windows = []
    for (start, label), (end, _) in pairwise(paced):
        if label != "end":
            windows.append((float(label), start, end))
    if paced and paced[-1][1] != "end":
        raise RecordingError("the last pace marker must be followed by a pace=end marker")
    return windows


def _windows_from_schedule(schedule: Schedule, start_ns: int) -> list[tuple[float, int, int]]:
    first = start_ns + int(schedule.start_s * 1e9)
    step = int(schedule.segment_s * 1e9)
    return [(p, first + i * step, first + (i + 1) * step) for i, p in enumerate(schedule.paces)]


def assess(path: Path, schedule: Schedule | None = None) -> Assessment:
    """Estimate the resonance pace of the protocol recorded at ``path``.

    Without ``schedule`` the segments come from the recording's ``pace=`` markers.
    """
    decoded = _decode(path)
    beats, source = beat_times(decoded)
    if schedule is None:
        windows = _windows_from_markers(decoded.markers)
        if not windows:
            raise RecordingError("no pace=<breaths/min> markers: give the paces and segment length")
    else:
        windows = _windows_from_schedule(schedule, decoded.start_ns)
    segments = []
    for pace, start, end in windows:
        inside = beats[(beats >= start) & (beats < end)]
        segments.append(PacedSegment(pace, np.diff(inside).astype(np.float64) / 1e6))
    return Assessment(estimate_resonance(segments), source, len(beats), decoded.decode_errors)
