"""Butterworth filters as second-order sections, designed and applied without scipy.

The design (dsp.filters.design, re-exported here) follows scipy.signal.butter(output="sos") step
for step so the coefficients match it; filtering is numba. The Pi image needs only numpy and
numba.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

from dsp.filters.design import butter_bandpass_sos, butter_highpass_sos, butter_lowpass_sos

FloatArray = npt.NDArray[np.float64]
__all__ = [
    "butter_bandpass_sos",
    "butter_highpass_sos",
    "butter_lowpass_sos",
    "odd_extension_kernel",
    "prepared_sos",
    "sosfilt",
    "sosfilt_kernel",
    "sosfilt_stateful",
    "sosfilt_zi",
    "sosfiltfilt",
    "sosfiltfilt_kernel",
    "zi_kernel",
]


@numba.njit(cache=True)
def sosfilt_kernel(sos: FloatArray, x: FloatArray, zi: FloatArray) -> FloatArray:
    """Direct form II transposed cascade; updates zi (n_sections, 2) in place.

    Public for other kernels and for stateful callers that keep zi between blocks (the gateway's
    causal EDA filters); sos must already be checked and float64 (sosfilt does that)."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        v = x[n]
        for s in range(sos.shape[0]):
            out = sos[s, 0] * v + zi[s, 0]
            zi[s, 0] = sos[s, 1] * v - sos[s, 4] * out + zi[s, 1]
            zi[s, 1] = sos[s, 2] * v - sos[s, 5] * out
            v = out
        y[n] = v
    return y


def _checked_sos(sos: npt.ArrayLike) -> FloatArray:
    arr = np.array(sos, dtype=np.float64, ndmin=2)
    if arr.ndim != 2 or arr.shape[1] != 6:
        raise ValueError(f"sos must have shape (n_sections, 6), got {arr.shape}")
    if np.any(arr[:, 3] == 0):
        raise ValueError("sos a0 coefficients must be non-zero")
    return np.ascontiguousarray(arr / arr[:, 3:4].repeat(6, axis=1))


def sosfilt(sos: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
    """Causal filtering from rest (zero initial state), like scipy.signal.sosfilt."""
    s = _checked_sos(sos)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError("x must be one-dimensional")
    result: FloatArray = sosfilt_kernel(s, xs, np.zeros((s.shape[0], 2)))
    return result


def sosfilt_stateful(sos: FloatArray, x: FloatArray, zi: FloatArray) -> FloatArray:
    """Causal filtering that continues from ``zi`` (n_sections, 2) and leaves the final state
    there: a stream filtered block by block equals the whole stream filtered at once."""
    if zi.shape != (sos.shape[0], 2) or zi.dtype != np.float64:
        raise ValueError("zi must be a float64 array of shape (n_sections, 2)")
    result: FloatArray = sosfilt_kernel(sos, np.ascontiguousarray(x, dtype=np.float64), zi)
    return result


def sosfilt_zi(sos: npt.ArrayLike) -> FloatArray:
    """Steady-state state for a unit step, as scipy.signal.sosfilt_zi (avoids edge transients)."""
    s = _checked_sos(sos)
    zi = np.zeros((s.shape[0], 2))
    scale = 1.0
    for i, (b0, b1, b2, _, a1, a2) in enumerate(s):
        # Solve (I - A^T) z = B for the DF-II-T state of one biquad at DC.
        lhs = np.array([[1.0 + a1, -1.0], [a2, 1.0]])
        rhs = np.array([b1 - a1 * b0, b2 - a2 * b0])
        zi[i] = scale * np.linalg.solve(lhs, rhs)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


@numba.njit(cache=True)
def zi_kernel(sos: FloatArray) -> FloatArray:
    """sosfilt_zi in closed form: each biquad's 2x2 DC system solved by hand.

    Public so kernels that run their own zero-phase passes (dsp.ecg's paired filters) start
    from the same state as sosfiltfilt_kernel."""
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for i in range(sos.shape[0]):
        b0, b1, b2, a1, a2 = sos[i, 0], sos[i, 1], sos[i, 2], sos[i, 4], sos[i, 5]
        r0, r1 = b1 - a1 * b0, b2 - a2 * b0
        z0 = (r0 + r1) / (1.0 + a1 + a2)
        zi[i, 0] = scale * z0
        zi[i, 1] = scale * (r1 - a2 * z0)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


@numba.njit(cache=True)
def _filter_in_place(sos: FloatArray, y: FloatArray, zi: FloatArray, backward: bool) -> None:
    """The DF-II-T cascade over y in place, started from zi * (first sample in that direction)."""
    m = y.shape[0]
    first = y[m - 1] if backward else y[0]
    state = zi * first
    for k in range(m):
        n = m - 1 - k if backward else k
        v = y[n]
        for s in range(sos.shape[0]):
            out = sos[s, 0] * v + state[s, 0]
            state[s, 0] = sos[s, 1] * v - sos[s, 4] * out + state[s, 1]
            state[s, 1] = sos[s, 2] * v - sos[s, 5] * out
            v = out
        y[n] = v


@numba.njit(cache=True)
def odd_extension_kernel(x: FloatArray, pad: int) -> FloatArray:
    """x with `pad` samples of odd extension at both ends (scipy's padtype="odd")."""
    n = x.shape[0]
    y = np.empty(n + 2 * pad)
    for i in range(pad):
        y[i] = 2.0 * x[0] - x[pad - i]
        y[pad + n + i] = 2.0 * x[n - 1] - x[n - 2 - i]
    y[pad : pad + n] = x
    return y


@numba.njit(cache=True)
def sosfiltfilt_kernel(sos: FloatArray, x: FloatArray, pad: int) -> FloatArray:
    """Odd extension, forward and backward passes in one buffer, no reversed copies.

    sosfiltfilt's kernel, public so other kernels (dsp.eda's slope detector, dsp.stress's EDA
    features) filter inside one numba call; takes sections and pad from prepared_sos."""
    n = x.shape[0]
    y = odd_extension_kernel(x, pad)
    zi = zi_kernel(sos)
    _filter_in_place(sos, y, zi, False)
    _filter_in_place(sos, y, zi, True)
    return y[pad : pad + n].copy()


def _filtfilt_pad(s: FloatArray, n: int) -> int:
    trailing_zeros = min(int((s[:, 2] == 0).sum()), int((s[:, 5] == 0).sum()))
    return int(min(3 * (2 * s.shape[0] + 1 - trailing_zeros), n - 1))


def sosfiltfilt(sos: npt.ArrayLike, x: npt.ArrayLike) -> FloatArray:
    """Zero-phase forward-backward filtering, like scipy.signal.sosfiltfilt with padtype="odd".

    The pad length is scipy's default (3 * (2 * n_sections + 1), fewer for sections whose
    b2 and a2 are both zero); unlike scipy, shorter signals are padded with len(x) - 1 samples
    instead of raising, so short windows still filter.
    """
    xs = np.ascontiguousarray(x, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError("x must be one-dimensional")
    if isinstance(sos, np.ndarray) and sos.dtype == np.float64 and sos.ndim == 2:
        s, pad = prepared_sos(
            sos.tobytes(), sos.shape[0]
        )  # the gateway's few designs, every window
    else:
        s = _checked_sos(sos)
        pad = _filtfilt_pad(s, 2**62)
    if xs.size < 2:
        return xs.copy()
    result: FloatArray = sosfiltfilt_kernel(s, xs, min(pad, xs.size - 1))
    return result


@lru_cache(maxsize=64)
def prepared_sos(coefficients: bytes, sections: int) -> tuple[FloatArray, int]:
    """Checked, normalised sections and their full pad length, once per distinct filter.

    What sosfiltfilt_kernel takes (the pad is then min(pad, len(x) - 1)); public so kernels
    outside this module prepare a design exactly as sosfiltfilt does, and cached by bytes."""
    s = _checked_sos(np.frombuffer(coefficients).reshape(sections, -1))
    s.setflags(write=False)
    return s, _filtfilt_pad(s, 2**62)
