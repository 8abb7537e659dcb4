"""Plain numpy twins of dsp.activity's kernels, kept with the tests that hold the two equal."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.activity.movement import (
    _AG_DEADBAND_G,
    _AG_DECIMATE,
    _AG_PEAK_G,
    _AG_PER_SECOND,
    _AG_RESOLUTION_G,
)

FloatArray = npt.NDArray[np.float64]


def counts_reference(x30: FloatArray, b: FloatArray, a: FloatArray) -> FloatArray:
    """Plain twin of the kernel: difference equation, then the post-processing stage by stage."""
    y = np.zeros(x30.size)
    for n in range(x30.size):
        acc = sum(b[k] * x30[n - k] for k in range(b.size) if n - k >= 0)
        acc -= sum(a[k] * y[n - k] for k in range(1, a.size) if n - k >= 0)
        y[n] = acc
    at_10hz = np.minimum(np.abs(y[::_AG_DECIMATE]), _AG_PEAK_G)
    quantised = np.where(at_10hz < _AG_DEADBAND_G, 0.0, np.floor(at_10hz / _AG_RESOLUTION_G))
    n_seconds = x30.size // (_AG_DECIMATE * _AG_PER_SECOND)
    per_second: FloatArray = (
        quantised[: n_seconds * _AG_PER_SECOND].reshape(n_seconds, _AG_PER_SECOND).sum(axis=1)
    )
    return per_second
