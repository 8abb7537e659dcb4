"""The stress model's per-window input arithmetic in a few kernel calls.

The gateway scores every window: 38 features -> sidecar transforms -> the patient's z-scores.
As numpy steps on 38 numbers each costs more in call overhead than in arithmetic (about 80 µs
a window together); as kernels, a few. `StressModel.transform_reference`,
`RunningBaseline.z_scores_reference` and `RunningBaseline.usable_reference` are the numpy
twins, and tests/dsp/test_stress_model_kernels.py holds them equal.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


@numba.njit(cache=True)
def transform_kernel(raw: FloatArray, log_mask: BoolArray) -> FloatArray:
    """log where the sidecar says so; anything not finite afterwards (log of <= 0) -> NaN."""
    out = np.empty(raw.shape[0])
    for i in range(raw.shape[0]):
        value = raw[i]
        if log_mask[i]:
            value = np.log(value) if value > 0.0 else (-np.inf if value == 0.0 else np.nan)
        out[i] = value if math.isfinite(value) else np.nan
    return out


@numba.njit(cache=True)
def usable_kernel(values: FloatArray, neutral: BoolArray) -> bool:
    """Every value finite, or neutral where not."""
    for i in range(values.shape[0]):  # noqa: SIM110 - a loop numba compiles, not a generator
        if not (neutral[i] or math.isfinite(values[i])):
            return False
    return True


@numba.njit(cache=True)
def z_scores_kernel(  # noqa: PLR0917 - numba takes no keyword-only arguments
    values: FloatArray,
    count: IntArray,
    mean: FloatArray,
    m2: FloatArray,
    neutral: BoolArray,
    floor: FloatArray,
    min_sd: float,
    clip: float,
) -> FloatArray:
    """Clipped z against the Welford statistics (SD ddof 1; 1 where <= min_sd or undefined;
    never under the feature's floor); a neutral feature undefined here or in calibration
    gives 0."""
    z = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        sd = 1.0
        if count[i] > 1:
            spread = math.sqrt(m2[i] / (count[i] - 1)) if m2[i] >= 0.0 else np.nan
            if spread > min_sd:
                sd = spread
        sd = max(sd, floor[i])
        value = (values[i] - mean[i]) / sd
        if math.isnan(value):  # NaN stays NaN, as np.clip leaves it
            z[i] = value
        else:
            z[i] = min(max(value, -clip), clip)
        if neutral[i] and (not math.isfinite(values[i]) or count[i] < 2):
            z[i] = 0.0
    return z
