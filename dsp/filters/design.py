"""Butterworth design as second-order sections without scipy (re-exported by dsp.filters).

The design follows scipy.signal.butter(output="sos") step for step (analog prototype, band
transform, bilinear transform, "nearest" pole-zero pairing) so the coefficients match it.
Designs are cached: the gateway re-filters every window with the same few filters.
"""

from __future__ import annotations

from functools import lru_cache

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
