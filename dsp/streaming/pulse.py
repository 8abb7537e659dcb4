"""A window of wrist pulse (BVP/PPG) turned into heart numbers, the pulse path's way.

The beats are the window's own (dsp.pulse: Elgendi's detector on the window's trace, then the
pulse gate), not carried between windows as R-peaks are: a pulse beat is blunter and its
detector needs only a few seconds of context, and the offline evaluation on Stress-Predict
(vagus.model.cross_dataset) computes them the same way, per 60 s window. Only time-domain
HRV comes out: the bundled models take no spectral heart feature, and a Welch spectrum of
pulse intervals that fail the gate this often would say little.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dsp.pulse import pulse_beats
from dsp.stress.features import hrv_time_features

Readable = dict[str, float | int | None]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def pulse_window(
    trace: npt.NDArray[np.float64], rate_hz: float
) -> tuple[Readable, dict[str, float], float]:
    """(readable numbers, the model's time-domain HRV, the share of rejected intervals) of one
    window's pulse trace. The model features are left out when the window fails the pulse gate
    (dsp.pulse: fewer than 20 beats or more than 30 % of intervals rejected): it has no usable
    heart data, and the score gate refuses it on the share."""
    beats = pulse_beats(np.ascontiguousarray(trace, dtype=np.float64), rate_hz)
    readable: Readable = {
        "beats": int(beats.times_s.size),
        "rr_artifact_fraction": beats.artefact_fraction,
    }
    if beats.times_s.size < 3 or not beats.keep.any():
        return readable, {}, beats.artefact_fraction
    heart = hrv_time_features(np.diff(beats.times_s) * 1000.0, beats.keep)
    mean_nn = heart["hrv_mean_rr"]
    readable |= {
        "heart_rate_bpm": _finite(60000.0 / mean_nn) if mean_nn > 0 else None,
        "mean_nn_ms": _finite(mean_nn),
        "rmssd_ms": _finite(heart["hrv_rmssd"]),
        "sdnn_ms": _finite(heart["hrv_sdnn"]),
    }
    return readable, heart if beats.usable else {}, beats.artefact_fraction
