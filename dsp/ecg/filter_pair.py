"""The detector's two zero-phase filters (5-15 Hz band-pass, 0.5 Hz high-pass) in one pass pair.

An IIR cascade is bound by the latency of its recursion, not by arithmetic: one filter's
forward-backward pass over a 20 s strap window took as long as two sections did. Running both
filters' recursions in the same loop lets the CPU overlap the two independent chains, so the
pair costs about what one did. Each output equals dsp.filters' sosfiltfilt_kernel on the same
input bit for bit (same operations in the same order); two_filtfilt_reference is that pair of
calls, and tests/dsp/test_ecg_filters.py holds them equal.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters import odd_extension_kernel, sosfiltfilt_kernel, zi_kernel

FloatArray = npt.NDArray[np.float64]


@numba.njit(cache=True)
def _pass_pair(
    sos_a: FloatArray, ya: FloatArray, sos_b: FloatArray, yb: FloatArray, backward: bool
) -> None:
    """A two-section cascade over ya and a one-section one over yb, in place, in one loop, from
    steady state; the states live in locals so the two recursions can overlap."""
    ma, mb = ya.shape[0], yb.shape[0]
    za = zi_kernel(sos_a) * (ya[ma - 1] if backward else ya[0])
    zb = zi_kernel(sos_b) * (yb[mb - 1] if backward else yb[0])
    a00, a01, a10, a11, b0, b1 = za[0, 0], za[0, 1], za[1, 0], za[1, 1], zb[0, 0], zb[0, 1]
    p0, p1, p2, p4, p5 = sos_a[0, 0], sos_a[0, 1], sos_a[0, 2], sos_a[0, 4], sos_a[0, 5]
    q0, q1, q2, q4, q5 = sos_a[1, 0], sos_a[1, 1], sos_a[1, 2], sos_a[1, 4], sos_a[1, 5]
    r0, r1, r2, r4, r5 = sos_b[0, 0], sos_b[0, 1], sos_b[0, 2], sos_b[0, 4], sos_b[0, 5]
    for k in range(max(ma, mb)):
        if k < ma:
            i = ma - 1 - k if backward else k
            v = ya[i]
            out = p0 * v + a00
            a00 = p1 * v - p4 * out + a01
            a01 = p2 * v - p5 * out
            v = out
            out = q0 * v + a10
            a10 = q1 * v - q4 * out + a11
            a11 = q2 * v - q5 * out
            ya[i] = out
        if k < mb:
            j = mb - 1 - k if backward else k
            v = yb[j]
            out = r0 * v + b0
            b0 = r1 * v - r4 * out + b1
            b1 = r2 * v - r5 * out
            yb[j] = out


@numba.njit(cache=True)
def two_filtfilt_kernel(
    sos_a: FloatArray, pad_a: int, sos_b: FloatArray, pad_b: int, x: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(sosfiltfilt_kernel(sos_a, x, pad_a), sosfiltfilt_kernel(sos_b, x, pad_b)) for a
    two-section sos_a and a one-section sos_b (the detector's designs); x.size >= 2."""
    n = x.shape[0]
    ya = odd_extension_kernel(x, pad_a)
    yb = odd_extension_kernel(x, pad_b)
    _pass_pair(sos_a, ya, sos_b, yb, False)
    _pass_pair(sos_a, ya, sos_b, yb, True)
    return ya[pad_a : pad_a + n].copy(), yb[pad_b : pad_b + n].copy()


def two_filtfilt_reference(
    sos_a: FloatArray, pad_a: int, sos_b: FloatArray, pad_b: int, x: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The pair as two separate dsp.filters kernel calls."""
    return sosfiltfilt_kernel(sos_a, x, pad_a), sosfiltfilt_kernel(sos_b, x, pad_b)
