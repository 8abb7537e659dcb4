"""A window of wrist pulse (BVP/PPG) turned into heart numbers, the pulse path's way.

The beats are the window's own (dsp.pulse: Elgendi's detector on the window's trace, then the
pulse gate), not carried between windows as R-peaks are: a pulse beat is blunter and its
detector needs only a few seconds of context, and the offline evaluation on Stress-Predict
(vagus.model.cross_dataset) computes them the same way, per 60 s window. Only time-domain
HRV comes out: the bundled models take no spectral heart feature, and a Welch spectrum of
pulse intervals that fail the gate this often would say little.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.pulse import pulse_beats
from dsp.streaming.readable import Readable, heart_readable
from dsp.stress.features import hrv_time_features


def pulse_window(
    trace: npt.NDArray[np.float64], rate_hz: float
) -> tuple[Readable, dict[str, float], float]:
    """(readable numbers, the model's time-domain HRV, the share of rejected intervals) of one
    window's pulse trace. The model features are left out when the window fails the pulse gate
    (dsp.pulse: fewer than 20 beats or more than 30 % of intervals rejected): it has no usable
    heart data, and the score gate refuses it on the share."""
    beats = pulse_beats(np.ascontiguousarray(trace, dtype=np.float64), rate_hz)
    count, rejected = int(beats.times_s.size), beats.artefact_fraction
    if count < 3 or not beats.keep.any():
        return {"beats": count, "rr_artifact_fraction": rejected}, {}, rejected
    heart = hrv_time_features(np.diff(beats.times_s) * 1000.0, beats.keep)
    readable = heart_readable(
        count, heart["hrv_mean_rr"], heart["hrv_rmssd"], heart["hrv_sdnn"], rejected
    )
    return readable, heart if beats.usable else {}, rejected
