"""`vagus replay --dry-run`: decode a recording without a broker and describe every stream."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dsp.streaming import jump_limit_ns
from ingest.decoder_set import DecoderSet
from ingest.errors import DecodeError
from ingest.recording import DeviceRecord, Marker, NotificationRecord, RecordingReader


@dataclass
class _StreamTally:
    times: list[np.ndarray] = field(default_factory=list)
    rate_hz: float | None = None


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
    for record in reader:
        if isinstance(record, Marker):
            markers.append({"time_ns": record.gateway_time_ns, "label": record.label})
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
    streams = [_describe(device, stream, tally) for (device, stream), tally in tallies.items()]
    return {
        "recording": str(path),
        "patient_id": reader.header.patient_id if reader.header_readable else None,
        "simulated": reader.header.simulated if reader.header_readable else None,
        "notifications": notifications,
        "markers": markers,
        "streams": sorted(streams, key=lambda s: (s["device_id"], s["stream"])),
        "decode_errors": {k: {"count": v, "first": first_error[k]} for k, v in errors.items()},
        "file": reader.report.as_dict(),
    }


def _describe(device_id: str, stream: str, tally: _StreamTally) -> dict[str, Any]:
    times = np.sort(np.concatenate(tally.times)) if tally.times else np.empty(0, np.int64)
    span_s = float(times[-1] - times[0]) / 1e9 if len(times) > 1 else 0.0
    measured = (len(times) - 1) / span_s if span_s > 0 else None
    steps = np.diff(times) / 1e9
    # the engine's rule (dsp.streaming.gaps): none for a stream without a nominal rate
    gaps = steps[steps > jump_limit_ns(tally.rate_hz) / 1e9] if tally.rate_hz else steps[:0]
    return {
        "device_id": device_id,
        "stream": stream,
        "samples": len(times),
        "nominal_rate_hz": tally.rate_hz,
        "measured_rate_hz": None if measured is None else round(measured, 3),
        "duration_s": round(span_s, 3),
        "gaps": len(gaps),
        "longest_gap_s": round(float(gaps.max()), 3) if len(gaps) else 0.0,
    }
