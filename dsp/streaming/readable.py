"""The readable numbers every stage reports: how a value that is not finite is shown (None, so
it never reaches a person or an event as NaN), and the heart numbers each beat source gives."""

from __future__ import annotations

import math

Readable = dict[str, float | int | None]


def finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def heart_readable(
    beats: int, mean_nn_ms: float, rmssd_ms: float, sdnn_ms: float, artefact_fraction: float
) -> Readable:
    """Heart rate, mean NN, RMSSD and SDNN of a window's intervals, with its beat count and the
    share of its intervals judged artefacts; the same fields from ECG and from wrist pulse."""
    return {
        "beats": beats,
        "heart_rate_bpm": finite(60000.0 / mean_nn_ms) if mean_nn_ms > 0 else None,
        "mean_nn_ms": finite(mean_nn_ms),
        "rmssd_ms": finite(rmssd_ms),
        "sdnn_ms": finite(sdnn_ms),
        "rr_artifact_fraction": artefact_fraction,
    }
