"""Butterworth filters as second-order sections, designed and applied without scipy.

The design follows scipy.signal.butter(output="sos") step for step (analog prototype, band
transform, bilinear transform, "nearest" pole-zero pairing) so the coefficients match it; the
Pi image then needs only numpy and numba.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _buttap(order: int) -> npt.NDArray[np.complex128]:
    """Analog Butterworth prototype poles (unit cut-off, no zeros, gain 1)."""
    if order < 1:
        raise ValueError(f"filter order must be >= 1, got {order}")
    m = np.arange(-order + 1, order, 2)
    return np.asarray(-np.exp(1j * np.pi * m / (2 * order)), dtype=np.complex128)


def _normalised(freq_hz: float, fs: float) -> float:
    """Cut-off as a fraction of Nyquist, rejecting values a digital filter cannot have."""
    if fs <= 0:
        raise ValueError(f"sampling rate must be positive, got {fs}")
    wn = 2.0 * freq_hz / fs
    if not 0.0 < wn < 1.0:
        raise ValueError(f"cut-off {freq_hz} Hz must lie strictly between 0 and fs/2 = {fs / 2}")
    return wn


def _warp(wn: float) -> float:
    """Pre-warp a normalised frequency for the bilinear transform (scipy's fs=2 convention)."""
    return float(4.0 * np.tan(np.pi * wn / 2.0))


def _cplxreal(v: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    """Conjugate pairs as one value (positive imaginary part) followed by the real values."""
    tol = 100 * np.finfo(np.float64).eps
    v = v[np.lexsort((np.abs(v.imag), v.real))]
    real = np.abs(v.imag) <= tol * np.abs(v)
    zc = v[~real]
    zp, zn = zc[zc.imag > 0], zc[zc.imag < 0]
    if len(zp) != len(zn):
        raise ValueError("complex value without a conjugate")
    return np.concatenate(((zp + zn.conj()) / 2, v[real].real.astype(np.complex128)))


def _section(zeros: list[complex], poles: list[complex]) -> FloatArray:
    """One biquad [b0 b1 b2 1 a1 a2] from up to two zeros and two poles (padded at 0)."""
    b = np.real(np.poly(zeros)) if zeros else np.ones(1)
    a = np.real(np.poly(poles))
    sos = np.zeros(6)
    sos[3 - len(b) : 3] = b
    sos[6 - len(a) : 6] = a
    return sos


def _nearest(pool: npt.NDArray[np.complex128], to: complex, real_only: bool) -> int:
    order = np.argsort(np.abs(pool - to))
    if real_only:
        order = order[np.isreal(pool[order])]
    return int(order[0])


def _zpk2sos(z: npt.NDArray[np.complex128], p: npt.NDArray[np.complex128], k: float) -> FloatArray:
    """scipy's zpk2sos(pairing="nearest") for real zeros, which is all Butterworth has."""
    if len(p) % 2 == 1:
        p, z = np.append(p, 0.0), np.append(z, 0.0)
    n_sections = len(p) // 2
    z, p = _cplxreal(z), _cplxreal(p)
    if not np.all(np.isreal(z)):
        raise ValueError("only real zeros are supported")
    sos = np.zeros((n_sections, 6))
    for si in range(n_sections - 1, -1, -1):
        i1 = int(np.argmin(np.abs(1 - np.abs(p))))  # the pole nearest the unit circle first
        p1 = p[i1]
        p = np.delete(p, i1)
        if np.isreal(p1) and np.isreal(p).sum() == 0:
            j = _nearest(z, p1, real_only=True)
            sos[si] = _section([z[j], 0], [p1, 0])
            z = np.delete(z, j)
            continue
        if np.isreal(p1):
            reals = np.flatnonzero(np.isreal(p))
            i2 = int(reals[np.argmin(np.abs(1 - np.abs(p[reals])))])
            p2 = p[i2]
            p = np.delete(p, i2)
        else:
            p2 = p1.conjugate()
        chosen: list[complex] = []
        for _ in range(2):
            if len(z):
                j = _nearest(z, p1, real_only=bool(chosen))
                chosen.append(complex(z[j]))
                z = np.delete(z, j)
        sos[si] = _section(chosen, [p1, p2])
    sos[0, :3] *= k
    return sos


def _bilinear_sos(
    z: npt.NDArray[np.complex128], p: npt.NDArray[np.complex128], k: float
) -> FloatArray:
    fs2 = 4.0  # 2 * fs with scipy's normalised fs = 2
    degree = len(p) - len(z)
    zd = np.concatenate(((fs2 + z) / (fs2 - z), -np.ones(degree)))
    pd = (fs2 + p) / (fs2 - p)
    kd = k * float(np.real(np.prod(fs2 - z) / np.prod(fs2 - p)))
    return _zpk2sos(zd.astype(np.complex128), pd, kd)


@lru_cache(maxsize=64)
def _design(kind: str, low_hz: float, high_hz: float, fs: float, order: int) -> FloatArray:
    """Cached design: windows re-filter with the same few filters, and a design costs ~1 ms."""
    if kind == "low":
        wo = _warp(_normalised(low_hz, fs))
        sos = _bilinear_sos(np.zeros(0, np.complex128), _buttap(order) * wo, wo**order)
    elif kind == "high":
        wo = _warp(_normalised(low_hz, fs))
        sos = _bilinear_sos(np.zeros(order, np.complex128), wo / _buttap(order), 1.0)
    else:
        if not low_hz < high_hz:
            raise ValueError(f"low_hz {low_hz} must be below high_hz {high_hz}")
        w1, w2 = _warp(_normalised(low_hz, fs)), _warp(_normalised(high_hz, fs))
        bw, wo = w2 - w1, np.sqrt(w1 * w2)
        p_lp = _buttap(order) * bw / 2
        root = np.sqrt(p_lp**2 - wo**2)
        p = np.concatenate((p_lp + root, p_lp - root))
        sos = _bilinear_sos(np.zeros(order, np.complex128), p, float(bw**order))
    sos.flags.writeable = False
    return sos


def butter_lowpass_sos(cutoff_hz: float, fs: float, order: int = 2) -> FloatArray:
    """Low-pass Butterworth SOS, equal to scipy.signal.butter(order, cutoff_hz, "low", ...)."""
    return _design("low", float(cutoff_hz), 0.0, float(fs), int(order)).copy()


def butter_highpass_sos(cutoff_hz: float, fs: float, order: int = 2) -> FloatArray:
    """High-pass Butterworth SOS, equal to scipy.signal.butter(order, cutoff_hz, "high", ...)."""
    return _design("high", float(cutoff_hz), 0.0, float(fs), int(order)).copy()


def butter_bandpass_sos(low_hz: float, high_hz: float, fs: float, order: int = 2) -> FloatArray:
    """Band-pass Butterworth SOS (2*order poles), equal to scipy.signal.butter(..., "band")."""
    return _design("band", float(low_hz), float(high_hz), float(fs), int(order)).copy()


@numba.njit(cache=True)
def _sosfilt_kernel(sos: FloatArray, x: FloatArray, zi: FloatArray) -> FloatArray:
    """Direct form II transposed cascade; updates zi (n_sections, 2) in place."""
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
    result: FloatArray = _sosfilt_kernel(s, xs, np.zeros((s.shape[0], 2)))
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
def _zi_kernel(sos: FloatArray) -> FloatArray:
    """sosfilt_zi in closed form: each biquad's 2x2 DC system solved by hand."""
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
def _sosfiltfilt_kernel(sos: FloatArray, x: FloatArray, pad: int) -> FloatArray:
    """Odd extension, forward and backward passes in one buffer, no reversed copies."""
    n = x.shape[0]
    y = np.empty(n + 2 * pad)
    for i in range(pad):
        y[i] = 2.0 * x[0] - x[pad - i]
        y[pad + n + i] = 2.0 * x[n - 1] - x[n - 2 - i]
    y[pad : pad + n] = x
    zi = _zi_kernel(sos)
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
    s = _checked_sos(sos)
    xs = np.ascontiguousarray(x, dtype=np.float64)
    if xs.ndim != 1:
        raise ValueError("x must be one-dimensional")
    if xs.size < 2:
        return xs.copy()
    result: FloatArray = _sosfiltfilt_kernel(s, xs, _filtfilt_pad(s, xs.size))
    return result


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
