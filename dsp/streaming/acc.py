"""A window's accelerometer numbers in one numba call: readable activity and the 8 model features.

dsp.activity.activity_summary (ENMO per 1 s epoch) and dsp.stress.features.acc_features (the
training's ACC statistics in E4 units) each ran a dozen numpy calls on the same ~250 samples
every window. acc_window_kernel computes both from one pass over the samples with the same
definitions; acc_window_reference keeps the two library calls, and
tests/dsp/test_streaming_acc.py holds them equal to rounding (the mean ENMO is summed in order
here, pairwise in numpy).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

from dsp.activity import activity_summary
from dsp.streaming.buffer import rows_between
from dsp.streaming.readable import finite
from dsp.stress.features import ACC_FEATURES, E4_ACC_UNITS_PER_MG, acc_features
from dsp.stress.features_kernels import acc_kernel

FloatArray = npt.NDArray[np.float64]
MOTION_THRESHOLD_G = 0.1  # activity_summary's default
_EPOCH_S = 1.0  # dsp.activity's epoch
Readable = dict[str, float | None]


@numba.njit(cache=True)
def acc_window_kernel(acc_mg: FloatArray, fs: float, threshold_g: float) -> FloatArray:
    """[mean ENMO g, motion fraction, the 8 ACC features] of (n, 3) samples in mg (n >= 1)."""
    n = acc_mg.shape[0]
    out = np.empty(2 + 8)
    per_epoch = max(1, round(_EPOCH_S * fs))
    total = 0.0
    epoch_sum = 0.0
    in_epoch = 0
    n_epochs = 0
    moving = 0
    for i in range(n):
        gx, gy, gz = acc_mg[i, 0] / 1000.0, acc_mg[i, 1] / 1000.0, acc_mg[i, 2] / 1000.0
        enmo = math.sqrt(gx * gx + gy * gy + gz * gz) - 1.0
        enmo = max(enmo, 0.0)
        total += enmo
        epoch_sum += enmo
        in_epoch += 1
        if in_epoch == per_epoch or i == n - 1:
            n_epochs += 1
            moving += epoch_sum / in_epoch > threshold_g
            epoch_sum = 0.0
            in_epoch = 0
    out[0] = total / n
    out[1] = moving / n_epochs
    out[2:] = acc_kernel(acc_mg * E4_ACC_UNITS_PER_MG)
    return out


def acc_window(acc_mg: npt.ArrayLike, fs: float) -> tuple[Readable, dict[str, float]]:
    """Readable activity (mean ENMO, motion fraction) and the 8 model ACC features."""
    acc = np.ascontiguousarray(acc_mg, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3 or acc.shape[0] == 0 or fs <= 0:
        return acc_window_reference(acc, fs)  # its checks raise the clear error
    values = acc_window_kernel(acc, float(fs), MOTION_THRESHOLD_G).tolist()
    readable: Readable = {
        "activity_enmo_g": finite(values[0]),
        "motion_fraction": finite(values[1]),
    }
    return readable, dict(zip(ACC_FEATURES, values[2:], strict=True))


def acc_window_rows(
    times: npt.NDArray[np.int64],
    values: FloatArray,
    live: tuple[int, int],
    fs: float,
    *,
    start: int,
    end: int,
    min_present: float,
) -> tuple[int, tuple[Readable, dict[str, float]] | None]:
    """(samples in [start, end), acc_window of them, or None when too few) from a buffer's held
    rows (dsp.streaming.buffer.StreamBuffer.live): one bounds and one kernel call, no copy."""
    lo, hi = rows_between(times, live[0], live[1], start, end)
    if hi - lo <= min_present:
        return hi - lo, None
    return hi - lo, acc_window(values[lo:hi], fs)


def acc_window_reference(acc_mg: npt.ArrayLike, fs: float) -> tuple[Readable, dict[str, float]]:
    """numpy twin of acc_window: activity_summary and acc_features."""
    samples = np.asarray(acc_mg, dtype=np.float64)
    activity = activity_summary(samples / 1000.0, fs)
    readable: Readable = {
        "activity_enmo_g": finite(activity.mean_enmo_g),
        "motion_fraction": finite(activity.motion_fraction),
    }
    return readable, acc_features(samples)
