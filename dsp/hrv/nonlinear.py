"""Nonlinear HRV: Poincaré SD1/SD2, DFA alpha-1 and sample entropy of an NN series (ms).

SD1 and SD2 follow the PhysioNet Cardiovascular Signal Toolbox (PoincareMetrics.m, after
Brennan et al. 2001): SD1 = SDSD / sqrt(2), SD2 = sqrt(2 SDNN^2 - SDSD^2 / 2), both ddof=1 over
the series as given (successive differences across a removed beat included, as PCST does).
SD1 equals neurokit2's; its SD2 takes the variance over the pairs only and differs by well under
1 % on a 5-min window. Sample entropy is the O(N^2) count, which is what numba is for here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DFA_ALPHA1_SCALES = tuple(range(4, 17))  # beats per box: Peng et al. 1995's short-term range


@dataclass(frozen=True, slots=True)
class Poincare:
    sd1_ms: float
    sd2_ms: float


def poincare(nn_ms: npt.ArrayLike) -> Poincare:
    """SD1 and SD2 (ms) in PCST's convention; NaN with fewer than 3 intervals."""
    nn = np.asarray(nn_ms, dtype=np.float64)
    if nn.ndim != 1:
        raise ValueError("nn_ms must be one-dimensional")
    if nn.size < 3:
        return Poincare(float("nan"), float("nan"))
    sdsd = float(np.diff(nn).std(ddof=1))
    sdnn = float(nn.std(ddof=1))
    return Poincare(sdsd / np.sqrt(2.0), float(np.sqrt(2.0 * sdnn**2 - 0.5 * sdsd**2)))


def _box_fluctuation(profile: FloatArray, size: int, overlap: bool) -> float:
    """RMS of the residual after a least-squares line in each box of `size` samples."""
    step = size // 2 if overlap else size
    last = profile.size - size if overlap else profile.size - size + 1  # neurokit2's ranges
    starts = np.arange(0, max(last, 0), step)
    if starts.size == 0:
        return float("nan")
    boxes = np.stack([profile[s : s + size] for s in starts])
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0  # centred: slope = xy / xx
    slope = boxes @ x / (x @ x)
    resid = boxes - boxes.mean(axis=1, keepdims=True) - slope[:, None] * x
    var = (resid**2).mean(axis=1)
    var = var[var > 1e-8]  # flat boxes carry no fluctuation (neurokit2 drops them too)
    return float(np.sqrt(var.mean())) if var.size else float("nan")


def dfa_alpha(
    nn_ms: npt.ArrayLike, scales: tuple[int, ...] = DFA_ALPHA1_SCALES, *, overlap: bool = False
) -> float:
    """DFA scaling exponent: slope of log F(n) on log n over the given box sizes (beats).

    The profile is the cumulative sum of the mean-removed series, detrended linearly per box.
    Defaults give alpha-1 (4-16 beats, non-overlapping boxes); overlap=True uses half-overlapping
    boxes as neurokit2's fractal_dfa does. NaN when the series is shorter than 2 x the largest box.
    """
    nn = np.asarray(nn_ms, dtype=np.float64)
    if nn.ndim != 1 or len(scales) < 2:
        raise ValueError("nn_ms must be 1-D and there must be at least two scales")
    if nn.size < 2 * max(scales):
        return float("nan")
    profile = np.cumsum(nn - nn.mean())
    flucts = np.array([_box_fluctuation(profile, s, overlap) for s in scales])
    if not np.all(np.isfinite(flucts)) or np.any(flucts <= 0):
        return float("nan")
    return float(np.polyfit(np.log2(np.asarray(scales, float)), np.log2(flucts), 1)[0])


@numba.njit(cache=True)
def _sampen_counts(x: FloatArray, m: int, r: float) -> tuple[int, int]:
    """Pairs (i < j) of the first N-m templates matching within r (Chebyshev) at m and m+1."""
    n = x.shape[0] - m
    b = 0
    a = 0
    for i in range(n):
        for j in range(i + 1, n):
            k = 0
            while k < m and abs(x[i + k] - x[j + k]) <= r:
                k += 1
            if k == m:
                b += 1
                if abs(x[i + m] - x[j + m]) <= r:
                    a += 1
    return b, a


def sample_entropy(nn_ms: npt.ArrayLike, m: int = 2, r_fraction: float = 0.2) -> float:
    """SampEn = -ln(A/B) (Richman & Moorman 2000), tolerance r = r_fraction x SD (ddof=1).

    Both counts use the same N-m templates, self-matches excluded, and a match is |d| <= r, as
    neurokit2's entropy_sample does (its default r is 0.2 SD; PCST uses 0.15 SD). inf when no
    (m+1)-match is found, NaN for a series too short to have any m-match.
    """
    x = np.ascontiguousarray(nn_ms, dtype=np.float64)
    if x.ndim != 1 or m < 1:
        raise ValueError("nn_ms must be 1-D and m >= 1")
    if x.size <= m + 1:
        return float("nan")
    b, a = _sampen_counts(x, m, r_fraction * float(x.std(ddof=1)))
    if b == 0:
        return float("nan")
    return float(-np.log(a / b)) if a > 0 else float("inf")
