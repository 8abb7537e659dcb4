"""Motion-artifact flags for EDA from the same wearable's accelerometer.

Wrist and finger electrodes shift under movement and pressure, which makes steps and spikes in
skin conductance that look like SCRs. We cannot tell them apart from the EDA alone, so EDA
samples recorded while the limb moved are flagged and downstream code can refuse to score them.

Movement is the dynamic acceleration: the ACC magnitude's deviation from its own 1 s moving
mean (gravity and slow posture changes removed). An ACC sample moves when that deviation
exceeds `threshold_g` (0.2 g: well above wrist tremor and typing, exceeded by walking arm
swing and gestures); an EDA sample is flagged when a moving ACC sample lies within `margin_s`
(2 s) of it, since contact artifacts outlast the movement. These defaults are a heuristic:
no labelled artifact data were available to tune them (say so when reporting on them).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MOTION_THRESHOLD_G = 0.2
MOTION_MARGIN_S = 2.0
_MEAN_WINDOW_S = 1.0


def dynamic_acceleration_g(acc_g: npt.ArrayLike, fs: float) -> FloatArray:
    """|ACC magnitude - its centred 1 s moving mean| per sample, in g (acc_g: n x 3, in g)."""
    if not fs > 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    acc = np.asarray(acc_g, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc_g must have shape (n, 3), got {acc.shape}")
    if not np.all(np.isfinite(acc)):
        raise ValueError("acc_g contains NaN or infinite samples")
    magnitude: FloatArray = np.sqrt(np.sum(acc * acc, axis=1))
    if magnitude.size == 0:
        return magnitude
    half = max(1, round(_MEAN_WINDOW_S * fs)) // 2
    padded = np.pad(magnitude, half, mode="edge")
    csum = np.concatenate(([0.0], np.cumsum(padded)))
    width = 2 * half + 1
    mean = (csum[width:] - csum[:-width]) / width
    out: FloatArray = np.abs(magnitude - mean)
    return out


@numba.njit(cache=True)
def _near_any_kernel(event_t: FloatArray, query_t: FloatArray, margin: float) -> BoolArray:
    """For sorted times: is any event within margin of each query (two pointers, O(n + m))."""
    out = np.zeros(query_t.shape[0], dtype=np.bool_)
    j = 0
    for i in range(query_t.shape[0]):
        while j < event_t.shape[0] and event_t[j] < query_t[i] - margin:
            j += 1
        out[i] = j < event_t.shape[0] and event_t[j] <= query_t[i] + margin
    return out


def motion_artifact_mask(
    acc_g: npt.ArrayLike,
    acc_fs: float,
    *,
    eda_fs: float,
    n_eda: int,
    threshold_g: float = MOTION_THRESHOLD_G,
    margin_s: float = MOTION_MARGIN_S,
) -> BoolArray:
    """One flag per EDA sample: True where the limb moved within margin_s of it.

    acc_g (n x 3, in g, at acc_fs Hz) and the n_eda EDA samples (at eda_fs Hz) must start at
    the same instant. EDA samples after the end of the ACC record are flagged: movement there is
    unknown, and an unknown sample must not be scored as clean.
    """
    if not eda_fs > 0:
        raise ValueError(f"EDA sampling rate must be positive, got {eda_fs}")
    if n_eda < 0 or threshold_g <= 0 or margin_s < 0:
        raise ValueError("n_eda and margin_s must be >= 0 and threshold_g > 0")
    dynamic = dynamic_acceleration_g(acc_g, acc_fs)
    moving_t = np.ascontiguousarray(np.flatnonzero(dynamic > threshold_g) / acc_fs)
    eda_t = np.arange(n_eda) / eda_fs
    flags = _near_any_kernel(moving_t, eda_t, margin_s)
    flags |= eda_t > (dynamic.size - 1) / acc_fs
    out: BoolArray = flags
    return out
