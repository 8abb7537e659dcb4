"""Beat-to-beat intervals a device computed itself, turned into a window's heart numbers.

A Heart Rate Service strap sends RR intervals (the strap's own R-peaks, in 1/1024 s), an E4
exports IBI.csv (its on-board pulse beats, seconds, stamped on the 64 Hz BVP clock), a Polar
watch or band streams PPI (pulse-to-pulse intervals, ms). Each sample is one interval, stamped
at the beat that ends it. Such devices drop the beats they are unsure of, so a gap in the
series is missing data, not a long interval.

The intervals are the device's values, never re-derived from the stamps (a strap's beat times
are reconstructed from arrivals, dsp's input is its RR values): an interval continues the series
when the time since the previous stamp matches its value (within CONTIGUOUS_SHARE of it; a lost
beat makes the step about twice the interval). Each run of continuing intervals is rebuilt as
beat times by their running sum and goes through the ECG path's own HRV code
(dsp.streaming.rr.heart_features: Lipponen-Tarvainen correction per run, never across a break,
time-domain and, when wanted, spectral HRV). The score gate then judges the larger of the share
of intervals corrected or rejected and the share of the window no interval covers: a window
half of whose beats the device dropped is half unknown, however clean the rest.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.streaming.readable import Readable
from dsp.streaming.rr import heart_features

NS = 1_000_000_000
#: An interval continues the series when |step between stamps - interval| <= this share of it.
CONTIGUOUS_SHARE = 0.25
#: Intervals outside these bounds (ms) are not beats of a living heart rhythm (20-300 bpm).
MIN_INTERVAL_MS = 200.0
MAX_INTERVAL_MS = 3000.0


def beat_series(
    stamps_ns: npt.NDArray[np.int64], intervals_ms: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Beat times (ns) rebuilt from the intervals, and per neighbouring pair of beats whether the
    interval between them is one the device reported (False across a break). Intervals that are
    not finite or outside MIN/MAX_INTERVAL_MS are left out and break the series."""
    valid = np.isfinite(intervals_ms) & (intervals_ms >= MIN_INTERVAL_MS)
    valid &= intervals_ms <= MAX_INTERVAL_MS
    stamps = stamps_ns[valid]
    values_ns = np.round(intervals_ms[valid] * 1e6).astype(np.int64)
    if stamps.size == 0:
        return stamps.astype(np.int64), np.zeros(0, dtype=np.bool_)
    # a step between stamps that matches its interval continues the series; else beats were
    # lost (or the stamps jumped) and a run starts again at that stamp
    real = np.abs(np.diff(stamps) - values_ns[1:]) <= CONTIGUOUS_SHARE * values_ns[1:]
    starts = np.flatnonzero(np.concatenate(([True], ~real)))
    run = np.cumsum(np.concatenate(([True], ~real))) - 1  # each beat's run
    summed = np.cumsum(np.where(np.concatenate(([False], real)), values_ns, 0))
    offset = summed - summed[starts][run]  # the run's intervals so far
    anchors = stamps[starts].astype(np.int64)
    ends = np.concatenate((starts[1:], [stamps.size])) - 1
    for r in range(1, anchors.size):  # a run never starts before the previous run's last beat
        anchors[r] = max(anchors[r], anchors[r - 1] + offset[ends[r - 1]] + 1)
    beats = np.asarray(anchors[run] + offset, dtype=np.int64)
    return beats, real


def covered_share(
    beats_ns: npt.NDArray[np.int64], real: npt.NDArray[np.bool_], start: int, end: int
) -> float:
    """Share of [start, end) that reported intervals cover."""
    if beats_ns.size < 2:
        return 0.0
    lo = np.maximum(beats_ns[:-1], start)
    hi = np.minimum(beats_ns[1:], end)
    covered = np.sum(np.where(real & (hi > lo), hi - lo, 0))
    return float(covered) / float(end - start)


def interval_window(
    stamps_ns: npt.NDArray[np.int64],
    intervals_ms: npt.NDArray[np.float64],
    *,
    resolution_hz: float,
    start: int,
    end: int,
    with_spectrum: bool,
) -> tuple[Readable, dict[str, float], float | None]:
    """(readable numbers, the model's HRV features, the share the score gate judges by) of the
    window [start, end) from the intervals of its look-back (stamped at their beats, sorted);
    ``resolution_hz`` is the clock the device times beats on (a beat is known to one tick)."""
    beats, real = beat_series(stamps_ns, intervals_ms)
    readable, model, gate = heart_features(
        beats, real, fs=resolution_hz, start=start, end=end, with_spectrum=with_spectrum
    )
    if gate is None:
        return readable, model, None
    return readable, model, max(gate, 1.0 - covered_share(beats, real, start, end))
