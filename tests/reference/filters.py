"""Plain numpy twins of dsp.filters's kernels, kept with the tests that hold the two equal."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from dsp.filters.sos import _checked_sos, _filtfilt_pad, sosfilt_zi

FloatArray = npt.NDArray[np.float64]


def sosfilt_reference(sos: FloatArray, x: FloatArray, zi: FloatArray) -> FloatArray:
    """Plain-Python twin of the numba kernel, kept for the equality test."""
    y = np.empty_like(x)
    for n, sample in enumerate(x):
        v = float(sample)
        for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
            out = b0 * v + zi[s, 0]
            zi[s, 0] = b1 * v - a1 * out + zi[s, 1]
            zi[s, 1] = b2 * v - a2 * out
            v = out
        y[n] = v
    return y


def sosfiltfilt_reference(sos: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
    """numpy twin of the fused kernel: explicit padding, sosfilt_zi and reversed copies."""
    s = _checked_sos(sos)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    pad = _filtfilt_pad(s, xs.size)
    ext = np.concatenate(
        (2 * xs[0] - xs[pad:0:-1], xs, 2 * xs[-1] - xs[-2 : -pad - 2 : -1] if pad else xs[:0])
    )
    zi = sosfilt_zi(s)
    fwd = sosfilt_reference(s, ext, zi * ext[0])
    back = sosfilt_reference(s, fwd[::-1].copy(), zi * fwd[-1])
    return np.ascontiguousarray(back[::-1][pad : ext.size - pad])
