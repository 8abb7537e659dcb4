"""`vagus replay --dry-run`: decode a recording without a broker and describe every stream.

Its gaps are the engine's (dsp.streaming.Engine with counting stages only): the same rule on
the same sample times, and the recording's link-loss markers marked as replay marks them, so a
dry run counts the gaps a replay reports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsp.streaming import LINK, CountStage, Engine
from dsp.streaming import Gap as StreamGap
from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError
from ingest.recording import DeviceRecord, Marker, NotificationRecord, RecordingReader
from ingest.transport.gaps import GAP_MARKER_LABEL, Gap


@dataclass
class _StreamTally:
    times: list[np.ndarray] = field(default_factory=list)
    rate_hz: float | None = None
    gaps: list[StreamGap] = field(default_factory=list)


class _DeviceGaps:
    """One counting engine per device (stream names repeat across devices)."""

    def __init__(self) -> None:
        self.engines: dict[str, Engine] = {}
        self.link_only: Counter[str] = Counter()  # links lost before a device sent data

    def add(self, device_id: str, stream: str, times: np.ndarray, rate_hz: float | None) -> None:
        engine = self.engines.get(device_id)
        if engine is None:
            engine = self.engines[device_id] = Engine(
                window_s=60.0, hop_s=60.0, lateness_s=0.0, stages={}, other=CountStage
            )
        engine.add(stream, times, np.zeros(len(times)), rate_hz)

    def mark(self, gap: Gap) -> None:
        """A gap marker, as record_driver passes it to the pipeline."""
        stream_gap = gap.as_stream_gap()
        engine = self.engines.get(gap.device_id)
        streams = [] if engine is None else engine.streams
        if stream_gap.stream != LINK:
            streams = [stream_gap.stream]
        if engine is None or not streams:
            self.link_only[gap.device_id] += 1
            return
        for stream in streams:
            if stream_gap.reason == "disconnected":
                engine.mark_link_loss(stream, stream_gap.start_ns, stream_gap.end_ns)
            else:
                engine.mark_gap(stream, stream_gap.start_ns, stream_gap.end_ns)

    def found(self) -> dict[tuple[str, str], list[StreamGap]]:
        out: dict[tuple[str, str], list[StreamGap]] = {}
        for device_id, engine in self.engines.items():
            gaps = [g for window in engine.finish() for g in window.gaps] + engine.take_gaps()
            for gap in gaps:
                out.setdefault((device_id, gap.stream), []).append(gap)
        return out


def dry_run(path: Path) -> dict[str, Any]:
    """Per device and stream: samples, measured rate, gaps; plus decode errors and damage.

    Without a readable header the patient is unknown (None) and a device's notifications decode
    only if a device record later in the file declares it; the others count as decode errors.
    """
    reader = RecordingReader(path)
    decoders = DecoderSet.of_recording(reader.header)
    tallies: dict[tuple[str, str], _StreamTally] = defaultdict(_StreamTally)
    errors: Counter[str] = Counter()
    first_error: dict[str, str] = {}
    markers = []
    notifications = 0
    gaps = _DeviceGaps()
    bad_gap_markers = 0
    for record in reader:
        if isinstance(record, Marker):
            markers.append({"time_ns": record.gateway_time_ns, "label": record.label})
            if record.label == GAP_MARKER_LABEL:
                try:
                    gaps.mark(Gap.from_marker(record))
                except ValueError:
                    bad_gap_markers += 1
            continue
        if isinstance(record, DeviceRecord):
            decoders.declare(record.device)
            continue
        assert isinstance(record, NotificationRecord)
        notifications += 1
        key = f"{record.device_id}/{record.characteristic}"
        try:
            blocks = decoders.decode(record)
        except DecodeError as exc:
            errors[key] += 1
            first_error.setdefault(key, str(exc))
            continue
        for block in blocks:
            tally = tallies[(block.device_id, block.stream)]
            tally.times.append(block.times_ns)
            tally.rate_hz = block.rate_hz
            gaps.add(block.device_id, block.stream, block.times_ns, block.rate_hz)
    for stream_key, found in gaps.found().items():
        if stream_key in tallies:
            tallies[stream_key].gaps = found
    streams = [_describe(device, stream, tally) for (device, stream), tally in tallies.items()]
    return {
        "recording": str(path),
        "patient_id": reader.header.patient_id if reader.header_readable else None,
        "simulated": reader.header.simulated if reader.header_readable else None,
        "notifications": notifications,
        "markers": markers,
        "bad_gap_markers": bad_gap_markers,
        "links_lost_before_data": dict(gaps.link_only),
        "streams": sorted(streams, key=lambda s: (s["device_id"], s["stream"])),
        "decode_errors": {k: {"count": v, "first": first_error[k]} for k, v in errors.items()},
        "file": reader.report.as_dict(),
    }


def _describe(device_id: str, stream: str, tally: _StreamTally) -> dict[str, Any]:
    times = np.sort(np.concatenate(tally.times)) if tally.times else np.empty(0, np.int64)
    span_s = float(times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0
    measured = (len(times) - 1) / span_s if span_s > 0 else None
    lengths = [(gap.end_ns - gap.start_ns) / 1e9 for gap in tally.gaps]
    return {
        "device_id": device_id,
        "stream": stream,
        "samples": len(times),
        "nominal_rate_hz": tally.rate_hz,
        "measured_rate_hz": None if measured is None else round(measured, 3),
        "duration_s": round(span_s, 3),
        "gaps": len(lengths),
        "disconnections": sum(gap.reason == "disconnected" for gap in tally.gaps),
        "longest_gap_s": round(max(lengths), 3) if lengths else 0.0,
    }
